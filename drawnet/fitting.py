"""Fitting a picture where it is shown: the orientation, row lengths and modules closed.

:func:`fit_layout` tries, in order, each row length and then one more module drawn as
one box, until the picture fits (:mod:`drawnet.emit.fit`). A try's size is estimated
from its labels; one too close to call is laid out by Graphviz and measured
(:class:`drawnet.render.Layouts`, one process for the tries). While Graphviz lays a try
out, the next try on the way (the one that follows if this one does not fit) is
estimated and written as DOT, so that Python and Graphviz work at the same time; the
tries made and the picture chosen are the same as one at a time.

Example:
    >>> import torch, drawnet
    >>> from drawnet.api import layer_graph
    >>> from drawnet.emit import to_dot
    >>> from drawnet.emit.fit import get_fit
    >>> g = layer_graph(drawnet.trace_model(torch.nn.Linear(4, 2), [1, 4]))
    >>> emit = lambda graph, o, f: to_dot(graph, orientation=o, fit=f)
    >>> fitted, source, svg = fit_layout(g, get_fit("notebook"), None, emit)
    >>> 'rankdir="LR"' in source, svg is None  # it clearly fits: laid out when wanted
    (True, True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from drawnet import ir

if TYPE_CHECKING:
    from drawnet.render import Layouts

MAX_FIT_CLOSES = 12
"""How many more modules fitting may draw as one box each, per orientation."""
ROW_SQUEEZE = (1.0, 0.8, 0.65)
"""Row lengths tried, as shares of the room, before a module is closed to fit."""
ESTIMATE_ERROR = 1.25
"""How far a size estimated from labels may be off the laid-out size (measured: 0.8 to
1.25 times on the gallery's models); within that of the limit, fitting lays out to see."""

Emit = Callable[[ir.Graph, str, Any], str]
# (fits, -modules closed, text scale (a little more for an unbroken flow), orientation,
#  graph, SVG if it may be kept, fit with its row length)
Try = tuple[bool, int, float, str, ir.Graph, bytes | None, Any]


def fit_layout(
    graph: ir.Graph,
    fit: Any,
    orientation: str | None,
    emit: Emit,
    *,
    may_close: bool = True,
    engine: str = "auto",
    layouts: Layouts | None = None,
    **looks: Any,
) -> tuple[ir.Graph, str, bytes | None]:
    """Choose the orientation and how many modules to close so ``graph`` fits ``fit``;
    return the graph, its DOT text (``emit(graph, orientation, fit)``) and, when it was
    laid out as it is kept, its SVG (None: render the DOT text when it is wanted).

    ``orientation`` None lets drawnet choose ('LR' in a notebook; on a page or in a column
    the one that fits while showing the most). While the picture does not fit, the next
    module is drawn as one box (:func:`drawnet.passes.close.next_to_close`), if
    ``may_close``. Sizes are estimated from the labels; a page or column picture, and a
    notebook picture whose estimate is too close to call, is laid out by Graphviz and
    measured; when it runs over, shorter rows are tried before closing a module.
    ``graph.meta`` gets a note of what was chosen. The layouts run through ``layouts``
    (:class:`drawnet.render.Layouts`, made here if None), which keeps one Graphviz
    process for the tries.

    Example:
        >>> import torch, drawnet
        >>> from drawnet.api import layer_graph
        >>> from drawnet.emit import to_dot
        >>> from drawnet.emit.fit import get_fit
        >>> g = layer_graph(drawnet.trace_model(torch.nn.Linear(4, 2), [1, 4]))
        >>> emit = lambda graph, o, f: to_dot(graph, orientation=o, fit=f)
        >>> source = fit_layout(g, get_fit("column"), None, emit)[1]
        >>> 'rankdir="TB"' in source
        True
    """
    from drawnet import render

    with contextlib.ExitStack() as stack:
        runs = layouts if layouts is not None else stack.enter_context(
            render.Layouts(engine=engine))
        search = _Search(fit, emit, runs, looks)
        if orientation is not None:
            orientations = [orientation]
        else:
            orientations = ["LR"] if not fit.true_size else ["TB", "LR"]
        for o in orientations:
            search.run(graph, o, may_close)
        return search.chosen(orientation)


class _Search:
    """One fitting search: the tries made so far and what is remembered between them
    (each graph's DOT text and estimate, each layout, each next module to close), so
    that a try prepared ahead is not made again."""

    def __init__(self, place: Any, emit: Emit, runs: Layouts, looks: dict[str, Any]) -> None:
        from drawnet.emit.dot import fitted_theme

        self.place = place
        self.small = fitted_theme(looks.get("theme", "default"), place).small_fontsize
        self.emit_fn = emit
        self.runs = runs
        self.looks = looks
        self.tried: list[Try] = []
        # keys hold id(graph): every graph is kept with its entry, so its id stays its own
        self.emitted: dict[tuple[int, str, Any], tuple[ir.Graph, str]] = {}
        self.estimated: dict[tuple[int, str, Any], tuple[ir.Graph, tuple[float, float]]] = {}
        self.advanced: dict[int, tuple[ir.Graph, int, ir.Graph | None]] = {}
        self.laid_out: dict[str, tuple[float, float, bytes | None]] = {}  # by DOT text

    # -- what is remembered ---------------------------------------------------------------
    def emit(self, g: ir.Graph, o: str, f: Any) -> str:
        key = (id(g), o, f)
        if key not in self.emitted:
            self.emitted[key] = (g, self.emit_fn(g, o, f))
        return self.emitted[key][1]

    def estimate(self, g: ir.Graph, o: str, f: Any) -> tuple[float, float]:
        from drawnet.emit.dot import estimate

        key = (id(g), o, f)
        if key not in self.estimated:
            self.estimated[key] = (g, estimate(g, orientation=o, fit=f, **self.looks))
        return self.estimated[key][1]

    def advance(self, g: ir.Graph) -> tuple[int, ir.Graph | None]:
        """How many modules the next closing step closes, and the graph after it (None
        when nothing is left to close)."""
        from drawnet.passes.close import close_calls, next_to_close

        if id(g) not in self.advanced:
            nxt = next_to_close(g)
            self.advanced[id(g)] = (g, len(nxt), close_calls(g, nxt) if nxt else None)
        _, n, after = self.advanced[id(g)]
        return n, after

    # -- the search -----------------------------------------------------------------------
    def rows(self) -> tuple[float, ...]:
        # on paper every row length is laid out and the largest text wins, an unbroken
        # flow (no "from ..." node) when it is within 5 % of the best
        return (0.0, *ROW_SQUEEZE) if self.place.true_size else ROW_SQUEEZE

    def run(self, graph: ir.Graph, o: str, may_close: bool) -> None:
        """Try row lengths, then one more module closed at a time, until ``graph`` fits
        in orientation ``o``."""
        place, rows = self.place, self.rows()
        g, closed = graph, 0
        while True:
            fitted = False
            for i, r in enumerate(rows):
                f = dataclasses.replace(place, rows=r)

                def ahead(g: ir.Graph = g, i: int = i, closed: int = closed) -> None:
                    self.prepare_next(g, o, i, closed, may_close)

                w, h, svg, laid = self.measure(g, o, f, ahead)
                ok = place.fits(w, h, self.small)
                bonus = 0.05 if r == 0.0 else 0.0
                self.tried.append((ok, -closed, place.scale(w, h) + bonus, o, g, svg, f))
                fitted = fitted or ok
                if not place.true_size and (ok or not laid):
                    break  # fits, or clearly not (by estimate): shorter rows will not do
            if fitted or not may_close or closed >= MAX_FIT_CLOSES:
                return
            n, after = self.advance(g)
            if after is None:
                return
            g, closed = after, closed + n

    def decided(self, g: ir.Graph, o: str, f: Any) -> tuple[float, float] | None:
        """The estimated size when it decides the try (clearly fits or clearly not);
        None when the try must be laid out to tell."""
        if f.true_size:
            return None
        w, h = self.estimate(g, o, f)
        clearly = f.fits(w * ESTIMATE_ERROR, h * ESTIMATE_ERROR, self.small)
        clearly_not = not f.fits(w / ESTIMATE_ERROR, h / ESTIMATE_ERROR, self.small)
        return (w, h) if clearly or clearly_not else None

    def measure(self, g: ir.Graph, o: str, f: Any, ahead: Callable[[], None]
                ) -> tuple[float, float, bytes | None, bool]:
        """(width, height, the SVG if it may be kept, whether laid out)"""
        from drawnet import render

        size = self.decided(g, o, f)
        if size is not None:
            return size[0], size[1], None, False
        source = self.emit(g, o, f)
        if f.true_size:  # measure the drawing before Graphviz scales it to the page
            source = re.sub(r', size="[\d.,]+"', "", source, count=1)
        if source not in self.laid_out:  # a shorter row often changes nothing
            wait = self.runs.submit(source)
            ahead()  # while Graphviz works
            drawn, exact = wait()
            self.laid_out[source] = (*render.size_of(drawn),
                                     drawn if exact and not f.true_size else None)
        w, h, kept = self.laid_out[source]
        return w, h, kept, True

    def prepare_next(self, g: ir.Graph, o: str, i: int, closed: int, may_close: bool) -> None:
        """Estimate, and write as DOT if it will be laid out, the try that follows try
        ``i`` of graph ``g`` if that one does not fit."""
        rows = self.rows()
        if i + 1 < len(rows):
            nxt, r = g, rows[i + 1]
        else:
            if not may_close or closed >= MAX_FIT_CLOSES:
                return
            after = self.advance(g)[1]
            if after is None:
                return
            nxt, r = after, rows[0]
        f = dataclasses.replace(self.place, rows=r)
        if self.decided(nxt, o, f) is None:
            self.emit(nxt, o, f)

    # -- the answer ---------------------------------------------------------------------
    def chosen(self, orientation: str | None) -> tuple[ir.Graph, str, bytes | None]:
        """The try that fits while showing the most, with a note of what fitting did; its
        DOT text and, when it was laid out as it is kept, its SVG."""
        place, small, tried = self.place, self.small, self.tried
        ok, neg_closed, _, chosen, best, svg, used = max(tried,
                                                         key=lambda t: (t[0], t[1], t[2]))
        scale = next(t[2] for t in tried if t[4] is best and t[6] is used) - (
            0.05 if used.rows == 0.0 else 0.0)
        parts = []
        if orientation is None and place.true_size:
            parts.append("drawn left to right" if chosen == "LR" else "drawn top to bottom")
        if neg_closed:
            n = -neg_closed
            parts.append(f"{n} more module{'s' if n > 1 else ''} drawn as one box each")
        if place.true_size and scale < 0.995:
            parts.append(f"scaled to {scale:.0%} (smallest text {small * scale:.1f} pt)")
        if not ok:
            parts.append(f"it does not fit: the smallest text is {small * scale:.1f} pt, "
                         f"below {place.min_text:g} pt (try depth=, a smaller max_boxes, or "
                         "another fit)")
        if parts:
            best = best.replace(meta=(*best.meta, ("fit", place.name),
                                      ("note", f"fit={place.name!r}: " + "; ".join(parts))))
        source = self.emit(best, chosen, used)
        return best, source, None if svg is None else self.runs.finish(svg)
