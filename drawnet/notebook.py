"""The :class:`Diagram` object: DOT source, rendering, saving and Jupyter display."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from drawnet import ir
from drawnet.errors import OptionError, RenderError, choices

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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A failure never leaves a half-written file behind.
    """
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OptionError(f"cannot save to {str(path)!r}: folder {str(parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp makes the file 0600; give it the mode a plain open() would have.
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Diagram:
    """A drawn model: ``source`` (DOT), ``graph`` (the IR), ``pipe``/``save`` to files.

    In Jupyter, a ``Diagram`` as the last expression of a cell shows as SVG.

    Example:
        >>> import drawnet, torch
        >>> d = drawnet.draw_model(torch.nn.Linear(4, 2), [1, 4])
        >>> d.pipe("svg")[:5], d.graph.nodes[1].id
        (b'<?xml', 'Linear')
    """

    def __init__(self, graph: ir.Graph, source: str, *, engine: str = "auto") -> None:
        self.graph = graph
        self.source = source
        self.engine = engine

    @property
    def tracer(self) -> str:
        """The tracer that produced the graph ('meta', 'eager' or 'jit')."""
        return self.graph.get_meta("tracer")

    def pipe(self, format: str = "svg", *, dpi: int = 144) -> bytes:
        """Render to bytes: ``svg``, ``png`` (at ``dpi``) or ``pdf``; ``dot`` is the source."""
        from drawnet import render

        if format == "dot":
            return self.source.encode("utf-8")
        if format not in render.FORMATS:
            raise choices(format, (*render.FORMATS, "dot"), "format")
        return render.render(self.source, format, engine=self.engine, dpi=dpi)

    def save(
        self, path: str | os.PathLike[str], format: str | None = None, *, dpi: int = 144
    ) -> Path:
        """Write the diagram, choosing the format from the suffix (.svg .png .pdf .dot).

        The file is written atomically; the path written is returned.
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
        write_atomic(target, self.pipe(fmt, dpi=dpi))
        return target

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter display: the SVG (falls back to the DOT text if rendering fails)."""
        try:
            return {"image/svg+xml": self.pipe("svg").decode("utf-8")}
        except RenderError as e:
            return {"text/plain": f"{e}\n\n{self.source}"}

    def __repr__(self) -> str:
        boxes = sum(1 for n in self.graph.nodes if n.kind in ("module", "block"))
        model = self.graph.get_meta("model") or "model"
        return f"<drawnet.Diagram of {model}: {boxes} layer boxes, tracer={self.tracer!r}>"
