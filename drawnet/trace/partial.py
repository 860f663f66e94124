"""The graph of a trace that failed: everything up to the layer that raised, marked.

When a model fails part-way (a shape mismatch in its fifth block), a picture of how far
it got shows where: the recorders of :mod:`drawnet.trace.eager` (the ``meta`` and
``eager`` tracers, which see each op as it runs) keep every op and module call made
before the failure. :func:`partial_graph` turns them into an op-level graph in which
the calls still running are closed, the innermost one gets a ``failed`` op fed by the
tensors it was called with, and ``graph.meta`` names that op (``failed``) and the error
(``error``); :func:`drawnet.api.draw_model` draws it as ``err.diagram`` with the failing
layer marked. ``torch.export`` and ``torch.jit.trace`` fail inside torch before there is
a graph to show, so their failures carry none.
"""

from __future__ import annotations

from typing import Any

from drawnet import ir

__all__ = ["FAILED_OP", "partial_graph"]

FAILED_OP = "failed"
"""The ``op`` of the node that stands for the failing call."""


def partial_graph(model: Any, modules: tuple[ir.ModuleInfo, ...], rec: Any, tracer: str,
                  error: BaseException) -> ir.Graph | None:
    """The op-level graph recorded by ``rec`` (an eager recorder) until ``error``; None
    if it cannot be made (a partial picture is a help, never a second failure)."""
    try:
        return _partial(model, modules, rec, tracer, error)
    except Exception:
        return None


def _partial(model: Any, modules: tuple[ir.ModuleInfo, ...], rec: Any, tracer: str,
             error: BaseException) -> ir.Graph:
    from drawnet.trace.eager import finish_graph

    nodes: list[ir.Node] = list(rec.nodes)
    edges: list[ir.Edge] = list(rec.edges)
    calls: list[ir.Call] = list(rec.calls)
    stack: list[str] = list(rec.stack)
    for i, call_id in enumerate(stack):  # calls still running when the error came
        path = rec.call_paths.get(call_id, "")
        calls.append(ir.Call(
            id=call_id, path=path, class_name=rec.classes.get(path, ""),
            parent=stack[i - 1] if i else "", inputs=rec.call_inputs.get(call_id, ())))
    where = stack[-1] if stack else ""
    path = rec.call_paths.get(where, "")
    failed = f"{where}:{FAILED_OP}"
    inputs = rec.call_inputs.get(where, ()) if where else ()
    nodes.append(ir.Node(
        id=failed, kind="function", op=FAILED_OP, module_path=path,
        class_name=rec.classes.get(path, ""), inputs=inputs, scope=tuple(stack),
        label="stopped here"))
    sources = [s for s in rec.call_sources.get(where, ()) if s is not None] if where else []
    if not sources:  # in a module's own code: after the last op that ran
        last = next((n.id for n in reversed(rec.nodes) if n.kind != "output"), None)
        sources = [last] if last is not None else []
    for src in dict.fromkeys(sources):
        edges.append(ir.Edge(src, failed))
    graph = finish_graph(model, modules, nodes, edges, calls, tracer)
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return graph.replace(meta=(*graph.meta, ("failed", failed), ("error", text)))
