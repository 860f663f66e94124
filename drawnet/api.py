"""The public functions: :func:`draw_model` and :func:`trace_model`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from drawnet import ir, passes
from drawnet.emit import Theme, to_dot
from drawnet.errors import OptionError, RenderError
from drawnet.notebook import Diagram
from drawnet.progress import Progress, reporting

DEFAULT_MAX_BOXES = 45


def _check_depth(depth: int | str | None) -> None:
    if depth == "auto" or depth is None:
        return
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise OptionError(f"depth must be a positive whole number, 'auto' or None, got {depth!r}")


def trace_model(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    tracer: str = "auto",
    mode: str = "eval",
) -> ir.Graph:
    """Trace ``model`` and return the op-level IR graph (before any pass).

    ``model`` may also be a :class:`~drawnet.traced.TracedModel` (from
    :func:`drawnet.traced`): its graph is returned without tracing again.

    Example:
        >>> import torch, drawnet
        >>> g = drawnet.trace_model(torch.nn.Sequential(torch.nn.Linear(4, 2)), [1, 4])
        >>> [n.op for n in g.nodes]
        ['input', 'linear', 'output']
    """
    from drawnet.trace import check_model, trace
    from drawnet.trace.inputs import parse_inputs
    from drawnet.traced import TracedModel, reuse

    if isinstance(model, TracedModel):
        given = any(v is not None for v in (input_size, input_data, kwargs, dtypes))
        return reuse(model, inputs_given=given, tracer=tracer, mode=mode)

    check_model(model)
    inputs = parse_inputs(model, input_size, input_data, kwargs, dtypes)
    return trace(model, inputs, tracer=tracer, mode=mode)


def layer_graph(
    graph: ir.Graph,
    *,
    depth: int | str | None = None,
    fold: bool = True,
    collapse_repeats: bool = False,
    hide: Iterable[str] | None = ("reshapes",),
    hide_reshapes: bool | None = None,
    max_boxes: int = DEFAULT_MAX_BOXES,
) -> ir.Graph:
    """Run the passes on an op-level graph: ops merged into layer boxes, noise hidden,
    chains folded, repeated blocks collapsed.

    ``hide`` names what to leave out (see :mod:`drawnet.passes.hide`; None: everything
    that does nothing at inference); ``hide_reshapes`` is the older switch for the
    ``reshapes`` kind alone. ``depth='auto'`` opens every module, then spends the box
    budget on information (:mod:`drawnet.passes.close`): a module whose structure is
    drawn open elsewhere becomes one box, and more are closed, deepest first, until at
    most ``max_boxes`` nodes remain. An int draws every module deeper than it as one box.

    Example:
        >>> import torch, drawnet
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
        >>> g = layer_graph(drawnet.trace_model(net, [1, 3, 8, 8]))
        >>> [n.id for n in g.nodes], g.nodes[1].attr("fused")
        (['input.input', '0', 'output'], 'BatchNorm2d')
    """
    from drawnet.passes.close import open_by_information
    from drawnet.passes.fold import fold_chains
    from drawnet.passes.group import group_ops
    from drawnet.passes.hide import check_hide, hide_noise
    from drawnet.passes.layers import build_layers
    from drawnet.passes.repeats import collapse_repeats as collapse

    _check_depth(depth)
    if isinstance(max_boxes, bool) or not isinstance(max_boxes, int) or max_boxes < 1:
        raise OptionError(f"max_boxes must be a positive whole number, got {max_boxes!r}")
    kinds = set(check_hide(hide))
    if hide_reshapes is not None:
        kinds = kinds | {"reshapes"} if hide_reshapes else kinds - {"reshapes"}
    noise = frozenset(kinds)
    d = depth if isinstance(depth, int) else None
    pipeline: list[tuple[str, passes.Pass]] = [
        ("build_layers", lambda g: build_layers(g, depth=d, hide_reshapes="reshapes" in kinds)),
    ]
    if noise:
        pipeline.append(("hide_noise", lambda g: hide_noise(g, noise)))
    if fold:
        pipeline.append(("group_ops", group_ops))
        pipeline.append(("fold_chains", fold_chains))
    if collapse_repeats:
        pipeline.append(("collapse_repeats", collapse))
    if depth == "auto":
        pipeline.append(("open_by_information",
                         lambda g: open_by_information(g, max_boxes=max_boxes)))
    out = passes.run(graph, pipeline)
    return out.replace(meta=(*out.meta, ("depth", str(depth or "all"))))


def draw_model(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    orientation: str | None = None,
    tracer: str = "auto",
    depth: int | str | None = "auto",
    fold: bool = True,
    collapse_repeats: bool = True,
    hide: Iterable[str] | None = None,
    clusters: bool = True,
    theme: str | Theme = "default",
    title: str | None = None,
    wrap: bool = True,
    legend: bool | None = None,
    show_params: bool = False,
    show_macs: bool = False,
    color_by: str = "family",
    max_boxes: int = DEFAULT_MAX_BOXES,
    mode: str = "eval",
    hide_reshapes: bool | None = None,
    engine: str = "auto",
    progress: bool | Progress | None = None,
    fit: str = "notebook",
) -> Diagram:
    """Draw ``model`` as a diagram of layer boxes.

    ``input_size`` is one shape or a list of shapes (one per positional input);
    ``input_data`` a tensor, tuple of tensors, or dict of keyword tensors; ``kwargs``
    extra keyword arguments for ``forward``; ``dtypes`` one dtype or one per shape
    (``"long"`` for token ids). ``tracer`` is 'auto', 'meta' (no compute), 'export'
    (``torch.export`` on fake tensors), 'eager' (a real run) or 'jit'; 'auto' tries them
    in that order.

    Picture (the defaults aim at the figure a paper would draw):

    - ``fit``: where it is shown. 'notebook' (a 1000 px column, text at 7 px or more
      once shrunk to it), 'page' (6.5 × 9 in, text at 6 pt or more, saved at that size)
      or 'column' (3.3 in wide, text at 5 pt or more); see :mod:`drawnet.emit.fit`.
    - ``orientation``: 'LR' or 'TB'; None takes 'LR' in a notebook and, on a page or in
      a column, whichever fits while showing the most.
    - ``collapse_repeats``: draw N identical consecutive blocks once, open, marked ×N
      (default on; False draws every copy).
    - ``depth``: 'auto' opens every module and spends the box budget (``max_boxes``) on
      information: one block of each kind open, the others as one box each that says
      what it holds, then the deepest closed first until the picture fits; an int draws
      modules deeper than it as one box; None opens everything.
    - ``hide``: what to leave out, from 'cache', 'dropout', 'identity', 'plumbing' and
      'reshapes' (None: all of them, which do nothing at inference; ``()`` draws
      everything). ``hide_reshapes`` is the older switch for 'reshapes' alone.
    - ``fold`` merges Conv→BN→ReLU-like chains (and add & LayerNorm, Linear·RoPE...);
      ``clusters`` frames module scopes; ``wrap`` breaks a long flow into rows (LR) or
      columns (TB) to fit; ``theme`` is 'default', 'print' or a
      :class:`~drawnet.emit.Theme`; ``legend`` keys the colours; ``show_params`` and
      ``show_macs`` print those on boxes; ``color_by`` is 'family', 'macs', 'params' or
      'flops'.

    What drawnet chose for you (depth, what was left out, orientation, scale) is in
    :attr:`Diagram.notes`. ``mode`` runs the model in 'eval' (the default), 'train' or
    the 'same' mode it is in (restored afterwards either way). ``progress`` shows the
    stage and elapsed time on stderr for draws that take over 2 s, including the
    diagram's later rendering: None (default) when stderr is a terminal, True always,
    False never (see :mod:`drawnet.progress`).

    Example:
        >>> import torch, drawnet
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
        >>> d = drawnet.draw_model(net, [1, 3, 32, 32], orientation="TB")
        >>> "1×8×30×30" in d.source
        True
    """
    from drawnet.emit.dot import ORIENTATIONS
    from drawnet.emit.theme import get_theme
    from drawnet.errors import choices

    if orientation is not None and orientation not in ORIENTATIONS:
        raise choices(orientation, ORIENTATIONS, "orientation")
    from drawnet.emit.fit import get_fit

    place = get_fit(fit)
    get_theme(theme)
    _check_depth(depth)
    from drawnet.passes.hide import check_hide

    check_hide(hide)
    from drawnet import render

    if engine not in render.ENGINES:
        raise choices(engine, render.ENGINES, "engine")
    from drawnet.emit.dot import COLOR_BY

    if color_by not in COLOR_BY:
        raise choices(color_by, COLOR_BY, "color_by")
    with reporting(progress) as shown:
        shown.stage("tracing the model")
        op_graph = trace_model(model, input_size, input_data=input_data, kwargs=kwargs,
                               dtypes=dtypes, tracer=tracer, mode=mode)
        shown.stage("building layers")
        graph = layer_graph(op_graph, depth=depth, fold=fold,
                            collapse_repeats=collapse_repeats, hide=hide,
                            hide_reshapes=hide_reshapes, max_boxes=max_boxes)
        shown.stage("laying out")
        looks: dict[str, Any] = {"theme": theme, "wrap": wrap, "show_params": show_params,
                                 "show_macs": show_macs}
        graph, chosen = fit_layout(graph, place, orientation, may_close=depth == "auto",
                                   engine=engine, **looks)
        source = to_dot(graph, orientation=chosen, clusters=clusters, title=title,
                        legend=legend, color_by=color_by, fit=place, **looks)
    return Diagram(graph, source, engine=engine, progress=progress)


MAX_FIT_CLOSES = 12
"""How many more modules fitting may draw as one box each, per orientation."""


def fit_layout(
    graph: ir.Graph,
    fit: Any,
    orientation: str | None,
    *,
    may_close: bool = True,
    engine: str = "auto",
    **looks: Any,
) -> tuple[ir.Graph, str]:
    """Choose the orientation and how many modules to close so ``graph`` fits ``fit``.

    ``orientation`` None lets drawnet choose ('LR' in a notebook; on a page or in a column
    the one that fits while showing the most). While the picture does not fit, the next
    module is drawn as one box (:func:`drawnet.passes.close.next_to_close`), if
    ``may_close``. A notebook picture is sized by estimate; a page or column picture is
    laid out by Graphviz to be measured. ``graph.meta`` gets a note of what was chosen.

    Example:
        >>> import torch, drawnet
        >>> from drawnet.emit.fit import get_fit
        >>> g = layer_graph(drawnet.trace_model(torch.nn.Linear(4, 2), [1, 4]))
        >>> fit_layout(g, get_fit("column"), None)[1]
        'TB'
    """
    from drawnet.emit.dot import estimate, fitted_theme
    from drawnet.passes.close import close_calls, next_to_close

    place = fit
    small = fitted_theme(looks.get("theme", "default"), place).small_fontsize
    if orientation is not None:
        orientations = [orientation]
    else:
        orientations = ["LR"] if not place.true_size else ["TB", "LR"]

    def measure(g: ir.Graph, o: str) -> tuple[float, float]:
        if not place.true_size:
            return estimate(g, orientation=o, fit=place, **looks)
        return _laid_out_size(to_dot(g, orientation=o, fit=place, legend=False, **looks),
                              engine)

    tried: list[tuple[bool, int, float, str, ir.Graph]] = []
    for o in orientations:
        g, closed = graph, 0
        while True:
            w, h = measure(g, o)
            ok = place.fits(w, h, small)
            tried.append((ok, -closed, place.scale(w, h), o, g))
            if ok or not may_close or closed >= MAX_FIT_CLOSES:
                break
            nxt = next_to_close(g)
            if nxt is None:
                break
            g, closed = close_calls(g, [nxt]), closed + 1
    ok, neg_closed, scale, chosen, best = max(tried, key=lambda t: (t[0], t[1], t[2]))
    parts = []
    if orientation is None and place.true_size:
        parts.append("drawn left to right" if chosen == "LR" else "drawn top to bottom")
    if neg_closed:
        n = -neg_closed
        parts.append(f"{n} more module{'s' if n > 1 else ''} drawn as one box each")
    if place.true_size and scale < 0.995:
        parts.append(f"scaled to {scale:.0%} (smallest text {small * scale:.1f} pt)")
    if not ok:
        parts.append(f"it does not fit: the smallest text is {small * scale:.1f} pt, below "
                     f"{place.min_text:g} pt (try depth=, a smaller max_boxes, or another fit)")
    if parts:
        best = best.replace(meta=(*best.meta, ("fit", place.name),
                                  ("note", f"fit={place.name!r}: " + "; ".join(parts))))
    return best, chosen


def _laid_out_size(source: str, engine: str) -> tuple[float, float]:
    """The natural size (points) Graphviz lays DOT text out at (its SVG's viewBox)."""
    import re

    from drawnet import render

    svg = render.render(source, "svg", engine=engine, embed_fonts=False)
    match = re.search(rb'viewBox="([-\d.]+) ([-\d.]+) ([\d.]+) ([\d.]+)"', svg)
    if match is None:
        raise RenderError("could not read the size of the laid out picture")
    return float(match.group(3)), float(match.group(4))


# --- per-layer statistics: summary() and model_stats() ----------------------------------

from collections.abc import Sequence  # noqa: E402

from drawnet.summary import DEFAULT_COLUMNS, Summary  # noqa: E402


def summary(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    depth: int | None = 3,
    columns: str | Sequence[str] = DEFAULT_COLUMNS,
    tracer: str = "auto",
    mode: str = "eval",
    progress: bool | Progress | None = None,
) -> Summary:
    """Per-layer statistics of ``model``: ``print()`` it for a torchinfo-style table.

    Inputs are given as for :func:`draw_model`. ``depth`` is the deepest row shown
    (torchinfo's default 3; None for all); deeper modules are folded into their
    ancestor's row. ``columns`` picks from ``input_shape``, ``output_shape``, ``kernel``,
    ``params``, ``params_percent``, ``macs``, ``flops``, ``memory``, ``trainable``.
    MACs are counted per op from shapes (see ``docs/counting.md``). ``progress`` is as
    for :func:`draw_model`.

    Example:
        >>> import torch, drawnet
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
        >>> s = drawnet.summary(net, [1, 3, 32, 32])
        >>> s.total_params, s.total_macs, s.layers[1].output_shape
        (224, 194400, (1, 8, 30, 30))
        >>> str(s).splitlines()[4].split()
        ['├─Conv2d:', '1-1', '[1,', '8,', '30,', '30]', '224', '194,400']
    """
    from drawnet.summary import build_summary, check_columns, check_depth

    cols = check_columns(columns)
    check_depth(depth)
    with reporting(progress) as shown:
        shown.stage("tracing the model")
        graph = trace_model(model, input_size, input_data=input_data, kwargs=kwargs,
                            dtypes=dtypes, tracer=tracer, mode=mode)
        shown.stage("counting")
        return build_summary(graph, depth=depth, columns=cols)


def model_stats(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    tracer: str = "auto",
    mode: str = "eval",
    progress: bool | Progress | None = None,
) -> Any:
    """tensorwatch's ``model_stats``: a ``pandas.DataFrame`` with one row per layer.

    Columns: ``module_name``, ``class_name``, ``input_shape``, ``output_shape``,
    ``params``, ``macs``, ``flops``, ``memory_read`` and ``memory_written`` (bytes).
    Rows are the calls of leaf modules, plus any container call with work or parameters
    of its own (a residual ``add``), so each column sums to the model's total. Prints
    nothing; a layer without a counting rule (``Dropout``) simply costs 0. pandas is
    installed with drawnet.

    Example:
        >>> import torch, drawnet
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(),
        ...                           torch.nn.Linear(8, 2))
        >>> df = drawnet.model_stats(net, [1, 4])
        >>> df[["module_name", "class_name", "params", "macs"]].values.tolist()
        [['0', 'Linear', 40, 32], ['1', 'Dropout', 0, 0], ['2', 'Linear', 18, 16]]
    """
    from drawnet.summary import build_summary, require_pandas, stats_frame

    require_pandas("model_stats()")
    with reporting(progress) as shown:
        shown.stage("tracing the model")
        graph = trace_model(model, input_size, input_data=input_data, kwargs=kwargs,
                            dtypes=dtypes, tracer=tracer, mode=mode)
        shown.stage("counting")
        return stats_frame(build_summary(graph, depth=None))
