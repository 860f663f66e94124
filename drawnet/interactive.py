"""The interactive explorer of a drawn model: JSON document, HTML page, notebook view.

:class:`Explorer` wraps a :class:`~drawnet.notebook.Diagram`. In Jupyter (JupyterLab,
Notebook 7, VS Code, Colab) it shows inline as the interactive view; where an output's
scripts cannot run (a notebook viewed on a static site, an untrusted notebook) the static
SVG inside it shows instead. The output holds the Graphviz engine (about 0.8 MB) and the
model's JSON document (about 1 kB per box at full depth), so a notebook grows by roughly
1 MB per explorer shown; a plain :class:`~drawnet.notebook.Diagram` stays a static SVG.

Example:
    >>> import torch, drawnet
    >>> ex = drawnet.draw_model(torch.nn.Linear(4, 2), [1, 4]).explore()
    >>> ex.html.startswith("<!DOCTYPE html>")
    True
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drawnet import ir
from drawnet.errors import OptionError, RenderError

if TYPE_CHECKING:
    from drawnet.notebook import Diagram

DEFAULT_HEIGHT = 640


def document_json(diagram: Diagram, *, indent: int | None = None) -> str:
    """The ``drawnet.graph`` JSON document of a diagram (see ``docs/json-format.md``)."""
    from drawnet.emit.json import to_json

    ops = diagram.op_graph if diagram.op_graph is not None else diagram.graph
    full = diagram.full_graph()
    return to_json(diagram.graph, full, ops, indent=indent, source=diagram.source, **diagram.style)


def page_html(diagram: Diagram) -> str:
    """The self-contained HTML page of a diagram's interactive view."""
    from drawnet.emit.html import to_html

    return to_html(document_json(diagram), title=diagram.graph.get_meta("model"))


class Explorer:
    """The interactive view of a :class:`~drawnet.notebook.Diagram`, for notebooks and files.

    ``height`` is the view's height in a notebook, in CSS pixels (it can be dragged taller).
    """

    def __init__(self, diagram: Diagram, *, height: int = DEFAULT_HEIGHT) -> None:
        if isinstance(height, bool) or not isinstance(height, int) or height < 100:
            raise OptionError(f"height must be a whole number of pixels >= 100, got {height!r}")
        self.diagram = diagram
        self.height = height

    @property
    def graph(self) -> ir.Graph:
        """The layer graph of the default picture."""
        return self.diagram.graph

    @property
    def html(self) -> str:
        """The standalone HTML page (what :meth:`save` writes)."""
        return page_html(self.diagram)

    def to_json(self, *, indent: int | None = None) -> str:
        """The JSON document the view reads."""
        return document_json(self.diagram, indent=indent)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the standalone HTML page (any suffix; ``.html`` is usual)."""
        from drawnet.notebook import check_target, write_atomic

        target = Path(path)
        check_target(target)
        write_atomic(target, self.html.encode("utf-8"))
        return target

    def _repr_html_(self) -> str:
        from drawnet.emit.html import notebook_html

        try:
            svg = self.diagram._render("svg", dpi=144, timeout=60.0, keep_dot=False).decode(
                "utf-8")
        except RenderError:
            svg = ""
        body = notebook_html(document_json(self.diagram), svg, token=uuid.uuid4().hex[:8])
        return body.replace('class="drawnet-explorer dn-embedded"',
                            f'class="drawnet-explorer dn-embedded" style="height:{self.height}px"',
                            1)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter display: the interactive view as HTML, and the short repr as text."""
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}

    def __repr__(self) -> str:
        return "<drawnet.Explorer of " + repr(self.diagram)[len("<drawnet.Diagram of "):]
