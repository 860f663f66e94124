"""The :class:`Diagram` object: DOT source, rendering, saving and Jupyter display."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from drawnet import ir
from drawnet.errors import OptionError, OutputError, RenderError, choices
from drawnet.progress import Progress, reporting

SAVE_FORMATS = ("svg", "png", "pdf", "dot")


def _file_mode(path: Path) -> int:
    """The mode an ordinary new file would get (0666 less the umask), or the old file's."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        pass
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def check_target(path: Path) -> Path:
    """The folder a file at ``path`` would go in; :class:`OutputError` if it cannot.

    Cheap enough to call before any work whose result is to be saved there.

    Example:
        >>> check_target(Path("no/such/x.svg"))
        Traceback (most recent call last):
        ...
        drawnet.errors.OutputError: cannot save to 'no/such/x.svg': folder 'no/such' does not exist
    """
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"cannot save to {str(path)!r}: it is a folder; give a file name")
    if not parent.exists():
        raise OutputError(
            f"cannot save to {str(path)!r}: folder {str(parent)!r} does not exist"
        )
    if not parent.is_dir():
        raise OutputError(f"cannot save to {str(path)!r}: {str(parent)!r} is not a folder")
    return parent


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A failure never leaves a half-written file behind: the old file, if any, is kept
    whole and the temporary file is removed. The new file gets the old file's permissions,
    or the usual ones for a new file (``0o666`` less the umask), not ``mkstemp``'s
    ``0o600``. Problems with the target (a missing folder, a file where the folder
    should be, no permission) raise :class:`~drawnet.errors.OutputError`, an ``OSError``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     write_atomic(Path(d) / "a.dot", b"digraph {}")
        ...     sorted(p.name for p in Path(d).iterdir())
        ['a.dot']
    """
    parent = check_target(path)
    mode = _file_mode(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise OutputError(f"cannot save to {str(path)!r}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise OutputError(f"cannot save to {str(path)!r}: {e.strerror or e}") from e
        raise


_KEPT = re.compile(r"(written to|kept in) \S+\.gv")


def _keep_dot(source: str) -> str:
    """Write DOT text to a new temporary ``.gv`` file and return its path."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", prefix="drawnet-", suffix=".gv", delete=False
    ) as fh:
        fh.write(source)
    return fh.name


class Diagram:
    """A drawn model: ``source`` (DOT), ``graph`` (the IR), ``pipe``/``save`` to files.

    In Jupyter, a ``Diagram`` as the last expression of a cell shows as SVG.

    Example:
        >>> import drawnet, torch
        >>> d = drawnet.draw_model(torch.nn.Linear(4, 2), [1, 4])
        >>> d.pipe("svg")[:5], d.graph.nodes[1].id
        (b'<?xml', 'Linear')
    """

    def __init__(self, graph: ir.Graph, source: str, *, engine: str = "auto",
                 progress: bool | Progress | None = None) -> None:
        self.graph = graph
        self.source = source
        self.engine = engine
        self.progress = progress

    @property
    def notes(self) -> list[str]:
        """What drawnet decided for you: an automatic depth, the branch that ran, ...

        Example:
            >>> import drawnet, torch
            >>> drawnet.draw_model(torch.nn.Linear(4, 2), [1, 4]).notes
            []
        """
        return [v for k, v in self.graph.meta if k == "note"]

    @property
    def tracer(self) -> str:
        """The tracer that produced the graph ('meta', 'export', 'eager' or 'jit')."""
        return self.graph.get_meta("tracer")

    def pipe(
        self, format: str = "svg", *, dpi: int = 144, timeout: float | None = 60.0
    ) -> bytes:
        """Render to bytes: ``svg``, ``png`` (at ``dpi``) or ``pdf``; ``dot`` is the source.

        A layout that takes longer than ``timeout`` seconds (None: no limit) is stopped.
        Any failure raises :class:`~drawnet.errors.RenderError` naming the temporary
        ``.gv`` file the DOT text was kept in, to look at or render by hand.
        """
        return self._render(format, dpi=dpi, timeout=timeout, keep_dot=True)

    def _render(
        self, format: str, *, dpi: int, timeout: float | None, keep_dot: bool
    ) -> bytes:
        from drawnet import render

        if format == "dot":
            return self.source.encode("utf-8")
        if format not in render.FORMATS:
            raise choices(format, (*render.FORMATS, "dot"), "format")
        try:
            with reporting(self.progress) as shown:
                shown.stage(f"rendering {format.upper()}")
                return render.render(self.source, format, engine=self.engine, dpi=dpi,
                                     timeout=timeout)
        except RenderError as e:
            if not keep_dot or _KEPT.search(str(e)):
                raise
            text = str(e).strip()
            first = text.splitlines()[0] if text else type(e).__name__
            try:
                kept = _keep_dot(self.source)
            except OSError:
                raise e from None
            raise RenderError(f"{first}; the DOT text was kept in {kept}") from e

    def save(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        dpi: int = 144,
        timeout: float | None = 60.0,
    ) -> Path:
        """Write the diagram, choosing the format from the suffix (.svg .png .pdf .dot).

        The target is checked before rendering (a missing folder raises
        :class:`~drawnet.errors.OutputError` at once) and written atomically: on any
        failure an existing file is left as it was and no partial file remains.
        ``timeout`` is as for :meth:`pipe`. Returns the path written.
        """
        target = Path(path)
        fmt = format or target.suffix.lower().lstrip(".")
        if not fmt:
            raise OptionError(
                f"cannot tell the format of {str(target)!r}: give it a suffix "
                "(.svg, .png, .pdf, .dot) or pass format="
            )
        if fmt not in SAVE_FORMATS:
            raise choices(fmt, SAVE_FORMATS, "format")
        check_target(target)
        write_atomic(target, self.pipe(fmt, dpi=dpi, timeout=timeout))
        return target

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter display: the SVG, plus the short ``repr`` as text.

        The SVG is Graphviz output in which every name is escaped text, so nothing in it
        runs; no HTML is ever returned. If rendering fails, only plain text is returned:
        the error and the DOT source.
        """
        try:
            svg = self._render("svg", dpi=144, timeout=60.0, keep_dot=False)
        except RenderError as e:
            return {"text/plain": f"{e}\n\n{self.source}"}
        return {"image/svg+xml": svg.decode("utf-8"), "text/plain": repr(self)}

    def __repr__(self) -> str:
        boxes = sum(1 for n in self.graph.nodes if n.kind in ("module", "block"))
        model = self.graph.get_meta("model") or "model"
        notes = "".join(f"; {n}" for n in self.notes)
        return (f"<drawnet.Diagram of {model}: {boxes} layer boxes, "
                f"tracer={self.tracer!r}{notes}>")
