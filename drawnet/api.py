"""The public functions: :func:`draw_model` and :func:`trace_model`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drawnet import ir, passes
from drawnet.emit import Theme, to_dot
from drawnet.errors import OptionError
from drawnet.notebook import Diagram


def _check_depth(depth: int | None) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise OptionError(f"depth must be a positive whole number or None, got {depth!r}")


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

    Example:
        >>> import torch, drawnet
        >>> g = drawnet.trace_model(torch.nn.Sequential(torch.nn.Linear(4, 2)), [1, 4])
        >>> [n.op for n in g.nodes]
        ['input', 'linear', 'output']
    """
    from drawnet.trace import check_model, trace
    from drawnet.trace.inputs import parse_inputs

    check_model(model)
    inputs = parse_inputs(model, input_size, input_data, kwargs, dtypes)
    return trace(model, inputs, tracer=tracer, mode=mode)


def layer_graph(graph: ir.Graph, *, depth: int | None = None,
                hide_reshapes: bool = True) -> ir.Graph:
    """Run the default passes on an op-level graph: ops merged into layer boxes."""
    from drawnet.passes.layers import build_layers

    _check_depth(depth)
    return passes.run(graph, [
        ("build_layers", lambda g: build_layers(g, depth=depth, hide_reshapes=hide_reshapes)),
    ])


def draw_model(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    orientation: str = "LR",
    tracer: str = "auto",
    depth: int | None = None,
    clusters: bool = True,
    theme: str | Theme = "default",
    title: str | None = None,
    mode: str = "eval",
    hide_reshapes: bool = True,
    engine: str = "auto",
) -> Diagram:
    """Draw ``model`` as a diagram of layer boxes.

    ``input_size`` is one shape or a list of shapes (one per positional input);
    ``input_data`` a tensor, tuple of tensors, or dict of keyword tensors; ``kwargs``
    extra keyword arguments for ``forward``; ``dtypes`` one dtype or one per shape
    (``"long"`` for token ids). ``orientation`` is 'LR' or 'TB'. ``tracer`` is 'auto',
    'meta' (no compute), 'eager' (a real run) or 'jit'. ``depth`` draws modules deeper
    than it as one box; ``clusters`` frames module scopes; ``theme`` is 'default',
    'print' or a :class:`~drawnet.emit.Theme`; ``mode`` runs the model in 'eval' (the
    default), 'train' or the 'same' mode it is in (restored afterwards either way).

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
    op_graph = trace_model(model, input_size, input_data=input_data, kwargs=kwargs,
                           dtypes=dtypes, tracer=tracer, mode=mode)
    graph = layer_graph(op_graph, depth=depth, hide_reshapes=hide_reshapes)
    source = to_dot(graph, orientation=orientation, theme=theme, clusters=clusters, title=title)
    return Diagram(graph, source, engine=engine)
