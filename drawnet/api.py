"""The public functions: :func:`draw_model` and :func:`trace_model`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drawnet import ir, passes
from drawnet.emit import Theme, to_dot
from drawnet.errors import OptionError
from drawnet.notebook import Diagram

DEFAULT_MAX_BOXES = 60


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
    hide_reshapes: bool = True,
    max_boxes: int = DEFAULT_MAX_BOXES,
) -> ir.Graph:
    """Run the passes on an op-level graph: ops merged into layer boxes, chains folded.

    ``depth='auto'`` draws every module down to its leaves unless that makes more than
    ``max_boxes`` nodes; then it takes the deepest depth that fits (recorded in
    ``graph.meta`` as ``depth``).

    Example:
        >>> import torch, drawnet
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
        >>> g = layer_graph(drawnet.trace_model(net, [1, 3, 8, 8]))
        >>> [n.id for n in g.nodes], g.nodes[1].attr("fused")
        (['input.input', '0', 'output'], 'BatchNorm2d')
    """
    from drawnet.passes.fold import fold_chains
    from drawnet.passes.layers import build_layers
    from drawnet.passes.repeats import collapse_repeats as collapse

    _check_depth(depth)
    if isinstance(max_boxes, bool) or not isinstance(max_boxes, int) or max_boxes < 1:
        raise OptionError(f"max_boxes must be a positive whole number, got {max_boxes!r}")

    def at(d: int | None) -> ir.Graph:
        pipeline: list[tuple[str, passes.Pass]] = [
            ("build_layers", lambda g: build_layers(g, depth=d, hide_reshapes=hide_reshapes)),
        ]
        if fold:
            pipeline.append(("fold_chains", fold_chains))
        if collapse_repeats:
            pipeline.append(("collapse_repeats", collapse))
        return passes.run(graph, pipeline)

    if depth != "auto":
        out = at(depth if isinstance(depth, int) else None)
        return out.replace(meta=(*out.meta, ("depth", str(depth or "all"))))
    out = at(None)
    deepest = max((m.depth for m in graph.modules), default=1)
    chosen = "all"
    full = len(out.nodes)
    if full > max_boxes:
        for d in range(deepest - 1, 0, -1):
            out = at(d)
            chosen = str(d)
            if len(out.nodes) <= max_boxes:
                break
        note = (f"depth {chosen} chosen automatically: full depth gives {full} nodes, more "
                f"than max_boxes={max_boxes} (pass depth=None to draw them all)")
        notes = [("depth", chosen), ("note", note)]
        if len(out.nodes) > max_boxes and not collapse_repeats:
            # Even one box per top-level module is too many for a readable layout (and for
            # Graphviz's time): draw identical consecutive blocks once, marked xN.
            before = len(out.nodes)
            out = passes.run(out, [("collapse_repeats", collapse)])
            notes.append(("note", f"repeated blocks collapsed automatically: depth {chosen} "
                                  f"still gives {before} nodes (now {len(out.nodes)})"))
        return out.replace(meta=(*out.meta, *notes))
    return out.replace(meta=(*out.meta, ("depth", chosen)))


def draw_model(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    orientation: str = "LR",
    tracer: str = "auto",
    depth: int | str | None = "auto",
    fold: bool = True,
    collapse_repeats: bool = False,
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
    hide_reshapes: bool = True,
    engine: str = "auto",
) -> Diagram:
    """Draw ``model`` as a diagram of layer boxes.

    ``input_size`` is one shape or a list of shapes (one per positional input);
    ``input_data`` a tensor, tuple of tensors, or dict of keyword tensors; ``kwargs``
    extra keyword arguments for ``forward``; ``dtypes`` one dtype or one per shape
    (``"long"`` for token ids). ``orientation`` is 'LR' or 'TB'. ``tracer`` is 'auto',
    'meta' (no compute), 'export' (``torch.export`` on fake tensors), 'eager' (a real run)
    or 'jit'; 'auto' tries them in that order.

    Picture: ``depth`` draws modules deeper than it as one box ('auto': all the way down
    unless that exceeds ``max_boxes`` boxes); ``fold`` merges Conv→BN→ReLU-like chains;
    ``collapse_repeats`` draws N identical consecutive blocks once, marked ×N;
    ``clusters`` frames module scopes; ``wrap`` folds a long flow into rows (LR) or
    columns (TB) so the picture keeps a page-like shape; ``theme`` is 'default', 'print'
    or a :class:`~drawnet.emit.Theme`; ``legend`` keys the colours; ``show_params`` and
    ``show_macs`` print those on boxes; ``color_by`` is 'family', 'macs', 'params' or
    'flops'. ``mode`` runs the model in 'eval' (the default), 'train' or the 'same' mode
    it is in (restored afterwards either way).

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

    if orientation not in ORIENTATIONS:
        raise choices(orientation, ORIENTATIONS, "orientation")
    get_theme(theme)
    _check_depth(depth)
    from drawnet import render

    if engine not in render.ENGINES:
        raise choices(engine, render.ENGINES, "engine")
    from drawnet.emit.dot import COLOR_BY

    if color_by not in COLOR_BY:
        raise choices(color_by, COLOR_BY, "color_by")
    op_graph = trace_model(model, input_size, input_data=input_data, kwargs=kwargs,
                           dtypes=dtypes, tracer=tracer, mode=mode)
    graph = layer_graph(op_graph, depth=depth, fold=fold, collapse_repeats=collapse_repeats,
                        hide_reshapes=hide_reshapes, max_boxes=max_boxes)
    source = to_dot(graph, orientation=orientation, theme=theme, clusters=clusters, title=title,
                    wrap=wrap, legend=legend, show_params=show_params, show_macs=show_macs,
                    color_by=color_by)
    return Diagram(graph, source, engine=engine)


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
) -> Summary:
    """Per-layer statistics of ``model``: ``print()`` it for a torchinfo-style table.

    Inputs are given as for :func:`draw_model`. ``depth`` is the deepest row shown
    (torchinfo's default 3; None for all); deeper modules are folded into their
    ancestor's row. ``columns`` picks from ``input_shape``, ``output_shape``, ``kernel``,
    ``params``, ``params_percent``, ``macs``, ``flops``, ``memory``, ``trainable``.
    MACs are counted per op from shapes (see ``docs/counting.md``).

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
    graph = trace_model(model, input_size, input_data=input_data, kwargs=kwargs,
                        dtypes=dtypes, tracer=tracer, mode=mode)
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
) -> Any:
    """tensorwatch's ``model_stats``: a ``pandas.DataFrame`` with one row per layer.

    Columns: ``module_name``, ``class_name``, ``input_shape``, ``output_shape``,
    ``params``, ``macs``, ``flops``, ``memory_read`` and ``memory_written`` (bytes).
    Rows are the calls of leaf modules, plus any container call with work or parameters
    of its own (a residual ``add``), so each column sums to the model's total. Prints
    nothing; a layer without a counting rule (``Dropout``) simply costs 0. Needs pandas
    (``pip install drawnet[pandas]``).

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
    graph = trace_model(model, input_size, input_data=input_data, kwargs=kwargs,
                        dtypes=dtypes, tracer=tracer, mode=mode)
    return stats_frame(build_summary(graph, depth=None))
