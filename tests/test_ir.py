"""The IR and the layer builder on random graphs (Hypothesis), without torch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drawnet import ir
from drawnet.errors import GraphError
from drawnet.passes.layers import build_layers

T = ir.TensorMeta((1, 4))


@st.composite
def op_graphs(draw: st.DrawFn) -> ir.Graph:
    """A random op-level graph shaped like a tracer's output.

    Modules ``m0..mk`` are leaves under a root; each op runs in one module call or at the
    root; edges only go forward.
    """
    n_mods = draw(st.integers(0, 4))
    n_ops = draw(st.integers(1, 12))
    nodes = [ir.Node(id="input.x", kind="input", op="input", outputs=(T,))]
    calls: list[ir.Call] = []
    current: str | None = None
    for i in range(n_ops):
        mod = draw(st.one_of(st.none(), st.integers(0, max(n_mods - 1, 0)))) if n_mods else None
        if mod is not None and f"m{mod}" != current:
            k = sum(1 for c in calls if c.path == f"m{mod}") + 1
            call_id = f"m{mod}" if k == 1 else f"m{mod}@{k}"
            calls.append(ir.Call(call_id, f"m{mod}", "Linear", inputs=(T,), outputs=(T,)))
        current = calls[-1].id if mod is not None else None
        scope = (current,) if current else ()
        op = draw(st.sampled_from(["linear", "add", "view", "relu"]))
        nodes.append(ir.Node(id=f"{current or ''}:{op}#{i}", kind="function", op=op,
                             module_path=(current or "").split("@")[0], scope=scope,
                             outputs=(T,), macs=draw(st.integers(0, 100))))
    nodes.append(ir.Node(id="output", kind="output", op="output", inputs=(T,)))
    edges: set[tuple[str, str]] = set()
    for j in range(1, len(nodes)):
        srcs = draw(st.lists(st.integers(0, j - 1), min_size=1, max_size=2))
        edges.update((nodes[s].id, nodes[j].id) for s in srcs)
    modules = (ir.ModuleInfo("", "Net", is_leaf=n_mods == 0),
               *(ir.ModuleInfo(f"m{i}", "Linear", params=10) for i in range(n_mods)))
    return ir.Graph(nodes=tuple(nodes), edges=tuple(ir.Edge(a, b, T) for a, b in sorted(edges)),
                    modules=modules, calls=tuple(calls))


@given(op_graphs())
@settings(max_examples=150, deadline=None)
def test_random_op_graphs_are_valid(g: ir.Graph) -> None:
    ir.validate(g)


@given(op_graphs())
@settings(max_examples=150, deadline=None)
def test_build_layers_keeps_invariants(g: ir.Graph) -> None:
    out = build_layers(g)
    ir.validate(out)
    # Every module call becomes exactly one box; no op that ran in a module stays visible.
    boxes = {n.id for n in out.nodes if n.kind == "module"}
    assert boxes == {c.id for c in g.calls if any(n.scope == (c.id,) for n in g.nodes)}
    assert not any(n.kind == "function" and n.scope for n in out.nodes)
    # MACs are never lost or double counted by merging (pruned constant ops aside).
    kept = {i for n in out.nodes for i in (n.folded or (n.id,))}
    assert sum(n.macs for n in out.nodes) == sum(n.macs for n in g.nodes if n.id in kept)
    assert out.nodes[0].id == "input.x"
    assert out.nodes[-1].id == "output"


@given(op_graphs(), st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None)
def test_topo_sort_orders_any_shuffle(g: ir.Graph, rnd: object) -> None:
    nodes = list(g.nodes)
    rnd.shuffle(nodes)  # type: ignore[attr-defined]
    ordered = ir.topo_sort(nodes, g.edges)
    ir.validate(g.replace(nodes=ordered))


def test_validate_catches_broken_graphs() -> None:
    a = ir.Node(id="a", kind="input", op="input")
    b = ir.Node(id="b", kind="function", op="add")
    with pytest.raises(GraphError, match="duplicate node id"):
        ir.validate(ir.Graph(nodes=(a, a)))
    with pytest.raises(GraphError, match="missing node 'c'"):
        ir.validate(ir.Graph(nodes=(a, b), edges=(ir.Edge("a", "c"),)))
    with pytest.raises(GraphError, match="against the node order"):
        ir.validate(ir.Graph(nodes=(a, b), edges=(ir.Edge("b", "a"),)))
    with pytest.raises(GraphError, match="cycle"):
        ir.topo_sort([a, b], [ir.Edge("a", "b"), ir.Edge("b", "a")])
    with pytest.raises(GraphError, match="unknown node kind"):
        ir.Node(id="x", kind="weird", op="x")  # type: ignore[arg-type]


def test_attrs_are_sorted_whatever_the_input_order() -> None:
    n = ir.Node(id="c", kind="module", op="Conv2d", attrs=(("stride", 2), ("groups", 1)))
    assert n.attrs == (("groups", 1), ("stride", 2))
    assert n.attr("stride") == 2
