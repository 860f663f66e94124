"""The :class:`Diagram` object: DOT source, rendering, saving and Jupyter display."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drawnet import ir
from drawnet.errors import (
    OptionError,
    OptionTypeError,
    OutputError,
    RenderError,
    check_choice,
    safe_repr,
)
from drawnet.progress import Progress, reporting

SAVE_FORMATS = ("svg", "png", "pdf", "dot", "html", "json")

if TYPE_CHECKING:
    from drawnet.interactive import Explorer


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


def _resolved(path: Path) -> Path:
    """Where writing to ``path`` lands: the final target of a symlink (even a dangling
    one), else ``path`` itself."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _special(path: Path) -> bool:
    """Whether ``path`` is written through, never replaced: a FIFO or a character device.

    Raises :class:`~drawnet.errors.OutputError` for what cannot take a file's bytes (a
    socket, a block device) and for a symlink loop.
    """
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False  # nothing there yet: the folder checks say what is wrong
    except OSError as e:
        why = "a symlink loop" if e.errno == errno.ELOOP else (e.strerror or str(e))
        raise OutputError(f"cannot save to {str(path)!r}: {why}") from e
    if stat.S_ISSOCK(mode):
        raise OutputError(f"cannot save to {str(path)!r}: it is a socket; give a file name")
    if stat.S_ISBLK(mode):
        raise OutputError(
            f"cannot save to {str(path)!r}: it is a block device (a disk); give a file name")
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def check_path(path: object) -> Path:
    """``path`` as a :class:`~pathlib.Path`; :class:`OptionTypeError` if it is not a name.

    Example:
        >>> check_path("out.svg").name
        'out.svg'
        >>> check_path(None)
        Traceback (most recent call last):
        ...
        drawnet.errors.OptionTypeError: path must be a file name (str or os.PathLike), got NoneType
    """
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else None
    if isinstance(text, str) and text:
        return Path(text)
    shown = f" {safe_repr(path)}" if isinstance(path, str | bytes) else ""
    raise OptionTypeError(
        f"path must be a file name (str or os.PathLike), got {type(path).__name__}{shown}")


def check_target(path: Path) -> Path:
    """The folder a file at ``path`` would go in; :class:`OutputError` if it cannot.

    Cheap enough to call before any work whose result is to be saved there. A symlink is
    followed (its target is checked); a FIFO or a character device (``/dev/null``) is
    fine (written through); a socket or a block device is refused.

    Example:
        >>> check_target(Path("no/such/x.svg"))
        Traceback (most recent call last):
        ...
        drawnet.errors.OutputError: cannot save to 'no/such/x.svg': folder 'no/such' does not exist
    """
    real = _resolved(path)
    if _special(real):
        return real.parent
    parent = real.parent if str(real.parent) else Path(".")
    if real.is_dir():
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

    What is not a plain file is never replaced by one. A symlink stays: the file it
    points to is replaced atomically (a dangling link gets its target created, if that
    folder exists). A FIFO or a character device (``/dev/null``, a terminal) is written
    through like a shell redirection (not atomic; a FIFO waits for its reader). A socket
    or a block device is refused.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     write_atomic(Path(d) / "a.dot", b"digraph {}")
        ...     sorted(p.name for p in Path(d).iterdir())
        ['a.dot']
    """
    parent = check_target(path)
    real = _resolved(path)
    if _special(real):
        try:
            with open(real, "wb") as fh:
                fh.write(data)
        except OSError as e:
            raise OutputError(f"cannot save to {str(path)!r}: {e.strerror or e}") from e
        return
    shown, path = path, real
    mode = _file_mode(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise OutputError(f"cannot save to {str(shown)!r}: {e.strerror or e}") from e
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
            raise OutputError(f"cannot save to {str(shown)!r}: {e.strerror or e}") from e
        raise


_KEPT = re.compile(r"(?:written to|kept in) (?P<path>.+?\.gv)(?=$|[;,)\s])")


def _kept_file(message: str) -> str | None:
    """The ``.gv`` file a render error says the DOT text was kept in, if any."""
    m = _KEPT.search(message.strip().splitlines()[0] if message.strip() else "")
    return m.group("path") if m else None


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

    def __init__(
        self,
        graph: ir.Graph,
        source: str,
        *,
        engine: str = "auto",
        progress: bool | Progress | None = None,
        svg: bytes | None = None,
        op_graph: ir.Graph | None = None,
        full_graph: Callable[[], ir.Graph] | None = None,
        style: Mapping[str, Any] | None = None,
    ) -> None:
        self.graph = graph
        self.source = source
        self.engine = engine
        self.progress = progress
        # the SVG of ``source`` when fitting already rendered it (to measure it)
        self._svg = svg
        # For the interactive view: the op-level graph, a maker of the full-depth layer
        # graph (same folding, nothing collapsed) and the options the picture was drawn with.
        self.op_graph = op_graph
        self._full_graph = full_graph
        self.style: dict[str, Any] = dict(style or {})

    def full_graph(self) -> ir.Graph:
        """The layer graph at full depth that the interactive view expands and collapses."""
        return self._full_graph() if self._full_graph is not None else self.graph

    def explore(self, *, height: int = 640) -> Explorer:
        """The interactive view: shows inline in Jupyter, ``.save("x.html")`` writes a page.

        Example:
            >>> import drawnet, torch
            >>> drawnet.draw_model(torch.nn.Linear(4, 2), [1, 4]).explore().html[:15]
            '<!DOCTYPE html>'
        """
        from drawnet.interactive import Explorer

        return Explorer(self, height=height)

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
        """Render to bytes: ``svg``, ``png`` (at ``dpi``) or ``pdf``; ``dot`` is the source,
        ``html`` the interactive page and ``json`` its document (``docs/json-format.md``).

        A layout that takes longer than ``timeout`` seconds (None: no limit) is stopped.
        Any failure raises :class:`~drawnet.errors.RenderError` naming the temporary
        ``.gv`` file the DOT text was kept in, to look at or render by hand.
        """
        return self._render(format, dpi=dpi, timeout=timeout, keep_dot=True)

    def _render(
        self, format: str, *, dpi: int, timeout: float | None, keep_dot: bool
    ) -> bytes:
        from drawnet import render

        check_choice(format, (*render.FORMATS, "dot", "html", "json"), "format")
        render.check_dpi(dpi)
        timeout = render.check_timeout(timeout)
        if format == "dot":
            return self.source.encode("utf-8")
        if format in ("html", "json"):
            from drawnet import interactive

            text = (interactive.page_html(self) if format == "html"
                    else interactive.document_json(self))
            return text.encode("utf-8")
        if format == "svg" and self._svg is not None:
            return self._svg
        try:
            with reporting(self.progress) as shown:
                shown.stage(f"rendering {format.upper()}")
                return render.render(self.source, format, engine=self.engine, dpi=dpi,
                                     timeout=timeout)
        except RenderError as e:
            kept = _kept_file(str(e))
            if not keep_dot and kept:
                # Nobody is told about it: remove it, and the promise from the message.
                Path(kept).unlink(missing_ok=True)
                start = _KEPT.search(str(e))
                text = str(e)[:start.start()].rstrip(" ;,") if start else str(e)
                raise RenderError(text.removesuffix("; the DOT text was")
                                  .removesuffix(": the DOT text was")) from e
            if not keep_dot or kept:
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

        ``.html`` writes the interactive page (one self-contained file) and ``.json`` its
        document (``docs/json-format.md``). The target is checked before rendering (a
        missing folder raises :class:`~drawnet.errors.OutputError` at once) and written
        atomically: on any failure an existing file is left as it was and no partial file
        remains.
        ``timeout`` is as for :meth:`pipe`. Returns the path written.
        """
        from drawnet import render

        target = check_path(path)
        fmt = format if format is not None else target.suffix.lower().lstrip(".")
        if isinstance(fmt, str) and not fmt:
            raise OptionError(
                f"cannot tell the format of {str(target)!r}: give it a suffix "
                "(.svg, .png, .pdf, .dot, .html, .json) or pass format="
            )
        check_choice(fmt, SAVE_FORMATS, "format")
        render.check_dpi(dpi)
        render.check_timeout(timeout)
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
