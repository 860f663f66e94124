"""The public functions: :func:`draw_model` and :func:`trace_model`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from drawnet import ir, passes
from drawnet.emit import Theme, to_dot
from drawnet.errors import ModelTypeError, OptionError, TraceError, safe_repr
from drawnet.fitting import fit_layout
from drawnet.notebook import Diagram
from drawnet.progress import Progress, reporting

DEFAULT_MAX_BOXES = 45
DEEP_MODEL = 48
"""Module nesting above which ``depth='auto'`` cuts at one depth (see ``_cut_deep``)."""
LAYOUT_LIMIT = 3000
"""Boxes above which ``depth='auto'`` gives up rather than start a layout of minutes
(Graphviz: about 2.5 s for 2,000 boxes in a chain, 40 s or more for 5,000)."""


def _check_depth(depth: int | str | None) -> None:
    if (isinstance(depth, str) and depth == "auto") or depth is None:
        return
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise OptionError(
            f"depth must be a positive whole number, 'auto' or None, got {safe_repr(depth)}")


def trace_model(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    seq_len: int | None = None,
    tracer: str = "auto",
    mode: str = "eval",
) -> ir.Graph:
    """Trace ``model`` and return the op-level IR graph (before any pass).

    ``model`` is an ``nn.Module``, a name (``"hf:<repo id or folder>"``, built on the meta
    device from its config as the architecture the config names; ``"timm:<name>"``), or
    a ``torch.export`` program (an ``ExportedProgram``,
    e.g. from :func:`drawnet.load_program`), which is drawn with its stored example inputs
    when no inputs are given. The same holds for :func:`draw_model`, :func:`summary` and
    :func:`model_stats`. It may also be a :class:`~drawnet.traced.TracedModel` (from
    :func:`drawnet.traced`): its graph is returned without tracing again.

    Example:
        >>> import torch, drawnet
        >>> g = drawnet.trace_model(torch.nn.Sequential(torch.nn.Linear(4, 2)), [1, 4])
        >>> [n.op for n in g.nodes]
        ['input', 'linear', 'output']
    """
    from drawnet.checks import check_dtypes, check_kwargs
    from drawnet.errors import TraceError, check_choice
    from drawnet.loaders import is_program, program_inputs
    from drawnet.trace import MODES, TRACERS, check_model, trace
    from drawnet.trace.inputs import parse_inputs
    from drawnet.trace.stack import room_for
    from drawnet.traced import TracedModel, reuse

    check_choice(tracer, TRACERS, "tracer")
    check_choice(mode, MODES, "mode")
    check_kwargs(kwargs)
    if isinstance(model, TracedModel):
        given = any(v is not None for v in (input_size, input_data, kwargs, dtypes))
        return reuse(model, inputs_given=given, tracer=tracer, mode=mode)
    if isinstance(model, str):  # a model by name: built on meta from its config
        model = _named_model(model)
    if is_program(model):  # a torch.export program, e.g. from drawnet.load_program
        model, input_data, kwargs, mode = program_inputs(
            model, input_size, input_data, kwargs, mode)
    check_model(model)
    if seq_len is not None and (input_size is not None or input_data is not None):
        raise OptionError("seq_len sets the length of inferred inputs: with input_size or "
                          "input_data, give the length in the shape instead")
    if dtypes is not None and input_size is None and input_data is None:
        raise OptionError("dtypes applies to input_size; pass input_size with it")
    with room_for(model) as levels:  # a model nested deeper than Python's stack allows
        try:
            if input_size is None and input_data is None:
                from drawnet.trace.infer import infer_inputs, trace_inferred

                inferred = infer_inputs(model, seq_len=seq_len)
                graph = trace_inferred(model, inferred, kwargs=kwargs, tracer=tracer,
                                       mode=mode)
            else:
                inputs = parse_inputs(model, input_size, input_data, kwargs, dtypes)
                graph = trace(model, inputs, tracer=tracer, mode=mode)
        except TraceError as e:
            attach_partial_diagram(e)
            raise
        except RecursionError as e:
            raise TraceError(
                f"the model nests modules {levels} levels deep, more than Python's stack "
                "allows here: draw an inner part of it"
            ) from e
    check_dtypes(graph)
    return graph


def _named_model(spec: str) -> Any:
    """The model an ``hf:`` or ``timm:`` name stands for (see :mod:`drawnet.trace.hub`)."""
    from drawnet.trace.hub import PREFIXES, is_named, load_named

    if not is_named(spec):
        raise ModelTypeError(
            f"model {safe_repr(spec)} is a string, and drawnet takes a name only as "
            f"{' or '.join(repr(p + '...') for p in PREFIXES)} (e.g. 'hf:bert-base-uncased', "
            "'timm:resnet50'): pass an nn.Module, or name the model that way")
    return load_named(spec)


def attach_partial_diagram(error: TraceError, *, engine: str = "auto",
                           **style: Any) -> None:
    """Set ``error.diagram``: how far the failed trace got, the failing layer marked red
    and the error written under it (see :mod:`drawnet.trace.partial`); ``style`` are
    :func:`drawnet.emit.to_dot` options. Nothing happens when the error has no partial
    graph, and a picture that cannot be made is left out rather than raised.

    Example:
        >>> import torch, drawnet
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(16))
        >>> try:
        ...     drawnet.draw_model(net, [1, 4], tracer="meta")
        ... except drawnet.TraceError as e:
        ...     err = e
        >>> err.diagram.graph.get_meta("failed"), "#d62728" in err.diagram.source
        ('1', True)
    """
    graph = error.partial
    if not isinstance(graph, ir.Graph):
        return
    try:
        drawn = layer_graph(graph, fold=False)
        failed = graph.get_meta("failed")
        box = next((n.id for n in drawn.nodes if n.id == failed or failed in n.folded),
                   failed)
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        drawn = drawn.replace(meta=(
            *(kv for kv in drawn.meta if kv[0] not in ("failed", "error")),
            ("failed", box), ("error", text or type(error).__name__)))
        error.diagram = Diagram(drawn, to_dot(drawn, **style), engine=engine)
    except Exception:
        error.diagram = None


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
        raise OptionError(
            f"max_boxes must be a positive whole number, got {safe_repr(max_boxes)}")
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
    deepest = max((m.depth for m in graph.modules), default=0)
    if depth == "auto" and deepest > DEEP_MODEL:
        return _cut_deep(graph, pipeline, deepest, max_boxes, build_layers, kinds)
    if depth == "auto":
        pipeline.append(("open_by_information",
                         lambda g: open_by_information(g, max_boxes=max_boxes)))
    out = passes.run(graph, pipeline)
    if depth == "auto" and len(out.nodes) > LAYOUT_LIMIT:
        collapse_hint = ("" if collapse_repeats else
                         "pass collapse_repeats=True (identical layers drawn once, ×N), ")
        raise OptionError(
            f"the diagram needs {len(out.nodes):,} boxes with depth='auto', more than the "
            f"{LAYOUT_LIMIT:,} Graphviz lays out in reasonable time: {collapse_hint}draw a "
            "part of the model (model[:100], model.encoder), or pass depth=None to try "
            "anyway (timeout= bounds the layout)"
        )
    return out.replace(meta=(*out.meta, ("depth", str(depth or "all"))))


def _cut_deep(
    graph: ir.Graph,
    pipeline: list[tuple[str, passes.Pass]],
    deepest: int,
    max_boxes: int,
    build: Any,
    kinds: set[str],
) -> ir.Graph:
    """``depth='auto'`` for a model nested deeper than :data:`DEEP_MODEL` levels: the
    deepest single depth whose picture fits ``max_boxes``, found by bisection.

    Choosing module by module (:mod:`drawnet.passes.close`) compares every nested block
    with the others, which on a chain of hundreds of nested modules takes minutes.
    """
    def at(d: int) -> ir.Graph:
        steps = [("build_layers",
                  lambda g: build(g, depth=d, hide_reshapes="reshapes" in kinds)),
                 *pipeline[1:]]
        return passes.run(graph, steps)

    low, high = 1, deepest + 1  # at(low) is drawn however large; look for more depth
    best = at(low)
    while low < high:
        mid = (low + high + 1) // 2
        out = at(mid)
        if len(out.nodes) <= max_boxes:
            low, best = mid, out
        else:
            high = mid - 1
    note = (f"the model nests modules {deepest} levels deep: drawn to depth {low}, the "
            f"deepest that fits max_boxes={max_boxes} (pass depth=None to open all)")
    return best.replace(meta=(*best.meta, ("depth", str(low)), ("note", note)))


def draw_model(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    seq_len: int | None = None,
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
    in that order. With neither ``input_size`` nor ``input_data``, a transformers or timm
    model's inputs are inferred from its config (:mod:`drawnet.trace.infer`; ``seq_len``
    sets the number of tokens) and named in ``graph.meta['inputs']``; any other model
    gets an error saying what to pass.

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
    from drawnet.checks import check_draw_options
    from drawnet.emit.dot import ORIENTATIONS
    from drawnet.emit.theme import get_theme
    from drawnet.errors import check_choice

    check_draw_options(fold=fold, collapse_repeats=collapse_repeats, clusters=clusters,
                       wrap=wrap, show_params=show_params, show_macs=show_macs,
                       hide_reshapes=hide_reshapes, legend=legend, title=title)
    if orientation is not None:
        check_choice(orientation, ORIENTATIONS, "orientation")
    from drawnet.emit.fit import get_fit

    place = get_fit(fit)
    get_theme(theme)
    _check_depth(depth)
    from drawnet.passes.hide import check_hide

    check_hide(hide)
    from drawnet import render

    check_choice(engine, render.ENGINES, "engine")
    from drawnet.emit.dot import COLOR_BY

    check_choice(color_by, COLOR_BY, "color_by")
    with reporting(progress) as shown:
        shown.stage("tracing the model")
        try:
            op_graph = trace_model(model, input_size, input_data=input_data, kwargs=kwargs,
                                   dtypes=dtypes, seq_len=seq_len, tracer=tracer,
                                   mode=mode)
        except TraceError as e:  # the partial diagram, drawn as asked
            attach_partial_diagram(e, engine=engine, orientation=orientation or "LR",
                                   theme=theme, clusters=clusters, title=title, wrap=wrap,
                                   legend=legend, show_params=show_params,
                                   show_macs=show_macs, color_by=color_by)
            raise
        shown.stage("building layers")
        # Graphviz starts up while the passes run
        with render.Layouts(engine=engine) as layouts:
            graph = layer_graph(op_graph, depth=depth, fold=fold,
                                collapse_repeats=collapse_repeats, hide=hide,
                                hide_reshapes=hide_reshapes, max_boxes=max_boxes)
            shown.stage("laying out")
            looks: dict[str, Any] = {"theme": theme, "wrap": wrap,
                                     "show_params": show_params, "show_macs": show_macs}

            def emit(g: ir.Graph, o: str, f: Any) -> str:
                return to_dot(g, orientation=o, clusters=clusters, title=title,
                              legend=legend, color_by=color_by, fit=f, **looks)

            graph, source, svg = fit_layout(graph, place, orientation, emit,
                                            may_close=depth == "auto", engine=engine,
                                            layouts=layouts, **looks)
    chosen = re.search(r'rankdir="(LR|TB)"', source)
    style = {"orientation": chosen.group(1) if chosen else orientation or "LR",
             "clusters": clusters, "title": title, "legend": legend, "color_by": color_by,
             "fit": fit, **looks}

    def full_graph() -> ir.Graph:  # every module open, for the interactive view
        return layer_graph(op_graph, depth=None, fold=fold, collapse_repeats=False, hide=hide,
                           hide_reshapes=hide_reshapes, max_boxes=max_boxes)

    return Diagram(graph, source, engine=engine, progress=progress, svg=svg, op_graph=op_graph,
                   full_graph=full_graph, style=style)


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
    seq_len: int | None = None,
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
                            dtypes=dtypes, seq_len=seq_len, tracer=tracer, mode=mode)
        shown.stage("counting")
        return build_summary(graph, depth=depth, columns=cols)


def model_stats(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    seq_len: int | None = None,
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
                            dtypes=dtypes, seq_len=seq_len, tracer=tracer, mode=mode)
        shown.stage("counting")
        return stats_frame(build_summary(graph, depth=None))


def explore(model: Any, input_size: Any = None, *, height: int = 640, **options: Any) -> Any:
    """Draw ``model`` and return its interactive view (:class:`drawnet.interactive.Explorer`).

    As the last expression of a notebook cell it shows inline (JupyterLab, Notebook 7,
    VS Code, Colab): open and close module frames with a click, show any copy of a ×N
    block, search by module path or class, click a box for its numbers, pan, zoom,
    recolour and export SVG or PNG. ``.save("model.html")`` writes the same view as one
    self-contained file. ``options`` are those of :func:`draw_model`, which sets the
    first picture; ``height`` is the view's height in the notebook, in pixels.

    Example:
        >>> import torch, drawnet
        >>> ex = drawnet.explore(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU()),
        ...                      [1, 4])
        >>> "drawnet-explorer" in ex._repr_html_()
        True
    """
    return draw_model(model, input_size, **options).explore(height=height)
