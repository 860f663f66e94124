"""Keep torch's own warnings and log messages off the user's screen.

Cheap to import (the command line imports it before torch): ``logging`` is loaded only
when the block runs.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_torch(enabled: bool = True) -> Iterator[None]:
    """Keep torch's warnings and log messages off the screen while the block runs.

    Python warnings are ignored and the ``torch`` loggers raised above ``CRITICAL``;
    both are restored afterwards. ``enabled=False`` (``--debug``) changes nothing.

    Example:
        >>> import warnings
        >>> with quiet_torch():
        ...     warnings.warn("hidden")
    """
    if not enabled:
        yield
        return
    import logging

    loggers = [logging.getLogger("torch"), logging.getLogger("torch.export"),
               logging.getLogger("torch._export")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
