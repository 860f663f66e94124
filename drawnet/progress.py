"""Progress on stderr for draws that take more than about two seconds.

A :class:`Progress` names the stage a draw is in (loading the model, tracing, building
layers, laying out, rendering) and the time since it started. It says nothing until
``after`` seconds (2 by default) have passed, so a quick draw prints nothing at all.

- On a terminal it keeps one line up to date (``drawnet: tracing the model… 3.4 s``)
  and clears it when the work ends, so what is printed next starts on a clean line.
- Elsewhere (a log file, a CI console) it writes one line per stage once the threshold
  has passed, and a last ``done in`` line, never ``\\r`` tricks.

A small ticker thread updates the line while a stage runs; it starts and stops with the
``with`` block (and is joined there), so nothing outlives the call. Nothing is global:
each call makes its own :class:`Progress`, or is handed one (see :func:`reporting`).

Who asks for it: ``progress=None`` (the default of :func:`drawnet.draw_model` and
:func:`drawnet.summary`) shows it only when stderr is a terminal; ``True`` always (on
any stream, in the line form when it is not a terminal); ``False`` never. The command
line does the same (``--progress`` / ``--no-progress``). Progress never goes to stdout.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(out, after=0.0, live=False) as p:
    ...     p.stage("tracing the model")
    >>> out.getvalue().splitlines()  # doctest: +ELLIPSIS
    ['drawnet: tracing the model… (... s)', 'drawnet: done in ... s']
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import IO

AFTER = 2.0
"""Seconds of silence before the first progress line."""


class Progress:
    """Report the stage of a long draw on ``stream`` (stderr), after ``after`` seconds.

    ``live`` chooses the one-updating-line form (default: when ``stream`` is a terminal);
    ``enabled=False`` makes every method a no-op. Use it as a context manager; inside,
    :meth:`stage` names what runs now.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> with Progress(out) as p:   # a quick draw: nothing is written
        ...     p.stage("tracing the model")
        >>> out.getvalue()
        ''
    """

    def __init__(self, stream: IO[str] | None = None, *, after: float = AFTER,
                 live: bool | None = None, enabled: bool = True,
                 interval: float = 0.25) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.after = after
        self.enabled = enabled
        self.live = _isatty(self.stream) if live is None else live
        self.interval = interval
        self._stage = ""
        self._shown = ""  # the stage (line form) or line (live form) last written
        self._width = 0   # length of the live line on screen
        self._start = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the ``with`` block was entered."""
        return time.perf_counter() - self._start if self._start else 0.0

    def __enter__(self) -> Progress:
        self._start = time.perf_counter()
        if self.enabled:
            self._stop.clear()
            self._thread = threading.Thread(target=self._tick, name="drawnet-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        with self._lock:
            if not self.enabled:
                return
            if self.live and self._width:
                self._write("\r" + " " * self._width + "\r")
                self._width = 0
            elif self._shown and kind is None:
                self._write(f"drawnet: done in {self.elapsed:.1f} s\n")
            self._shown = ""

    def stage(self, name: str) -> None:
        """Say that ``name`` (``"tracing the model"``) runs now."""
        if not self.enabled:
            return
        with self._lock:
            self._stage = name
            self._show()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self._show()

    def _show(self) -> None:
        """Write the current stage if the threshold has passed (lock held)."""
        if not self._stage or self.elapsed < self.after:
            return
        if self.live:
            line = f"drawnet: {self._stage}… {self.elapsed:.0f} s"
            if line != self._shown:
                pad = " " * max(0, self._width - len(line))
                self._write(f"\r{line}{pad}")
                self._width = len(line)
                self._shown = line
        elif self._shown != self._stage:
            self._write(f"drawnet: {self._stage}… ({self.elapsed:.1f} s)\n")
            self._shown = self._stage

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed stderr stops nothing
            self.stream.write(text)
            self.stream.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@contextlib.contextmanager
def reporting(progress: bool | Progress | None) -> Iterator[Progress]:
    """The :class:`Progress` a call reports to, from its ``progress`` argument.

    ``None``: shown when stderr is a terminal; ``True``: always shown; ``False``: never;
    a :class:`Progress`: that one, already running (its owner enters and leaves it).

    Example:
        >>> with reporting(False) as p:
        ...     p.enabled
        False
    """
    if isinstance(progress, Progress):
        yield progress
        return
    if progress is not None and not isinstance(progress, bool):
        from drawnet.errors import OptionTypeError, safe_repr

        raise OptionTypeError(f"progress must be True, False, None or a drawnet Progress, "
                              f"not {safe_repr(progress)}")
    stream = sys.stderr
    enabled = _isatty(stream) if progress is None else progress
    with Progress(stream, enabled=enabled) as p:
        yield p
