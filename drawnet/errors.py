"""Exceptions raised by drawnet.

Every error is a :class:`DrawnetError` and also the builtin that fits, so callers can
catch either ``drawnet.OptionError`` or plain ``ValueError``.

Example:
    >>> from drawnet.errors import OptionError
    >>> try:
    ...     raise OptionError("unknown orientation: 'XY' (must be one of 'LR', 'TB')")
    ... except ValueError as e:
    ...     print(e)
    unknown orientation: 'XY' (must be one of 'LR', 'TB')
"""

from __future__ import annotations

from collections.abc import Iterable


class DrawnetError(Exception):
    """Base class of every error drawnet raises on purpose."""


class OptionError(DrawnetError, ValueError):
    """An option or argument has a value drawnet cannot use."""


class InputError(DrawnetError, ValueError):
    """The inputs given for the model (shapes, dtypes, tensors) are not usable."""


class ModelTypeError(DrawnetError, TypeError):
    """The object passed as a model is not an ``nn.Module`` instance."""


class TraceError(DrawnetError, RuntimeError):
    """Running or tracing the model failed; the cause is chained."""


class RenderError(DrawnetError, RuntimeError):
    """Graphviz could not lay out or render the DOT text."""


class GraphError(DrawnetError, ValueError):
    """An IR graph breaks one of its invariants (see :func:`drawnet.ir.validate`)."""


def choices(value: object, valid: Iterable[str], what: str) -> OptionError:
    """Build the standard "unknown X" error listing the valid choices.

    Example:
        >>> str(choices("XY", ("LR", "TB"), "orientation"))
        "unknown orientation: 'XY' (must be one of 'LR', 'TB')"
    """
    listed = ", ".join(repr(v) for v in valid)
    return OptionError(f"unknown {what}: {value!r} (must be one of {listed})")


class MissingDependencyError(DrawnetError, ImportError):
    """An optional package a feature needs is not installed (the message names the extra)."""
