"""Merge the op-level graph into layer boxes.

Every call of a leaf module (Conv2d, Linear, LayerNorm, ...) or of an opaque module
(``nn.MultiheadAttention``, whose ops are fused) becomes one box; so does every call of a
module deeper than ``depth``. Ops that run between modules (add, cat, flatten, matmul,
softmax) stay as small function nodes. Pure reshapes (view, permute, transpose, ...) are
bypassed, and ops that no input reaches (constants, position ids, masks built from
``torch.ones``) are dropped, so parameters and bookkeeping never show.

Example:

from drawnet import ir
    >>> t = ir.TensorMeta((1, 4))
    >>> g = ir.Graph(
    ...     nodes=(ir.Node(id="input.x", kind="input", op="input", outputs=(t,)),
    ...            ir.Node(id="fc:linear", kind="function", op="linear", module_path="fc",
    ...                    scope=("fc",), outputs=(t,)),
    ...            ir.Node(id="output", kind="output", op="output", inputs=(t,))),
    ...     edges=(ir.Edge("input.x", "fc:linear", t), ir.Edge("fc:linear", "output", t)),
    ...     modules=(ir.ModuleInfo("", "Net", is_leaf=False), ir.ModuleInfo("fc", "Linear")),
    ...     calls=(ir.Call("fc", "fc", "Linear", inputs=(t,), outputs=(t,)),))
    >>> [n.id for n in build_layers(g).nodes]
    ['input.x', 'fc', 'output']
"""

from __future__ import annotations

from collections.abc import Callable

from drawnet import ir

# Classes drawn as one box even though they have children (their children never run
# as modules: MultiheadAttention uses out_proj's weights directly).
OPAQUE_CLASSES = frozenset({"MultiheadAttention", "NonDynamicallyQuantizableLinear"})

CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
"""Module classes that only hold other modules: their name says little about what is
inside, so frames and choices look past them."""

# Ops that only change the view of a tensor: bypassed in the diagram.
RESHAPE_OPS = frozenset({
    "view", "reshape", "permute", "transpose", "t", "contiguous", "expand", "expand_as",
    "unsqueeze", "squeeze", "to", "type", "type_as", "float", "half", "double", "bfloat16",
    "long", "int", "bool", "clone", "detach", "identity", "view_as", "reshape_as", "movedim",
    "unflatten", "T", "mT", "requires_grad", "cpu", "cuda", "alias", "unsafe_view",
    "as_strided", "_unsafe_view", "numpy_T", "dropout_identity",
})


def box_of(node: ir.Node, leaf: dict[str, bool], classes: dict[str, str],
           depth: int | None, paths: dict[str, str],
           opaque: frozenset[str] = frozenset()) -> str | None:
    """The call id whose box ``node`` (an op) belongs to, or None if it stays on its own.

    ``opaque`` holds calls drawn as one box although their module has children: calls
    in which no child module ran (an attention module that uses its ``qkv`` weights
    through ``F.linear``), whose ops would only be anonymous arithmetic.
    """
    for call_id in node.scope:
        path = paths.get(call_id, call_id.split("@", 1)[0])
        d = path.count(".") + 1
        if leaf.get(path, True) or classes.get(path, "") in OPAQUE_CLASSES or call_id in opaque:
            return call_id
        if depth is not None and d >= depth:
            return call_id
    return None


def subtree_params(modules: tuple[ir.ModuleInfo, ...]) -> dict[str, int]:
    """Parameters of each module's whole subtree, in one pass over the module table.

    Example:
        >>> mods = (ir.ModuleInfo("", "Net", is_leaf=False), ir.ModuleInfo("a", "Seq", 0),
        ...         ir.ModuleInfo("a.0", "Linear", 10), ir.ModuleInfo("a.1", "Linear", 5))
        >>> subtree_params(mods)["a"]
        15
    """
    subtree: dict[str, int] = {}
    by_level: dict[int, list[str]] = {}
    for m in modules:
        p = m.path
        if p not in subtree:
            by_level.setdefault(p.count(".") if p else -1, []).append(p)
        subtree[p] = subtree.get(p, 0) + m.params
    # deepest first, each path adds its total to its parent once (linear in the number of
    # modules, also for models nested a thousand levels deep); the root stays its own
    for level in range(max(by_level, default=0), 0, -1):
        for p in by_level.get(level, []):
            parent = p.rpartition(".")[0]
            if parent not in subtree:
                subtree[parent] = 0
                by_level.setdefault(level - 1, []).append(parent)
            subtree[parent] += subtree[p]
    return subtree


def build_layers(graph: ir.Graph, *, depth: int | None = None,
                 hide_reshapes: bool = True) -> ir.Graph:
    """Return the layer-level graph: one box per leaf-module call (or per call at ``depth``).

    ``depth=None`` opens every module down to its leaves; ``depth=1`` draws each child of
    the root as one box.
    """
    opened: set[str] = set()
    for _ in range(8):
        ordered, edge_list = _layers(graph, depth, hide_reshapes, opened)
        stuck = _on_cycles(ordered, edge_list)
        boxes = {n.id for n in ordered if n.kind in ("module", "block")} & stuck
        if not stuck or not boxes:
            break
        # A box whose ops ran interleaved with ops outside it (a call the tracer could
        # not scope exactly) would close a loop: draw that call's ops one by one.
        opened |= boxes
    return graph.replace(nodes=ir.topo_sort(ordered, edge_list), edges=tuple(edge_list))


def _on_cycles(nodes: list[ir.Node], edges: list[ir.Edge]) -> set[str]:
    """Ids of nodes that no topological order can place (on or after a cycle)."""
    indeg = {n.id: 0 for n in nodes}
    succ: dict[str, list[str]] = {n.id: [] for n in nodes}
    for e in edges:
        if e.src in indeg and e.dst in indeg and e.src != e.dst:
            succ[e.src].append(e.dst)
            indeg[e.dst] += 1
    ready = [k for k, d in indeg.items() if d == 0]
    while ready:
        k = ready.pop()
        for s in succ[k]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    return {k for k, d in indeg.items() if d > 0}


def _layers(graph: ir.Graph, depth: int | None, hide_reshapes: bool,
            opened: set[str]) -> tuple[list[ir.Node], list[ir.Edge]]:
    leaf = {m.path: m.is_leaf for m in graph.modules}
    classes = {m.path: m.class_name for m in graph.modules}
    modules = {m.path: m for m in graph.modules}
    calls = {c.id: c for c in graph.calls}
    paths = {c.id: c.path for c in graph.calls}

    mapping: dict[str, str] = {}
    boxes: dict[str, list[ir.Node]] = {}
    order: list[str] = []
    singles: dict[str, ir.Node] = {}
    with_children = {c.parent for c in graph.calls}
    opaque = frozenset(c.id for c in graph.calls if c.id not in with_children)
    for n in graph.nodes:
        box = box_of(n, leaf, classes, depth, paths, opaque) if n.kind == "function" else None
        if box in opened:
            box = None
        if box is None:
            mapping[n.id] = n.id
            singles[n.id] = n
            order.append(n.id)
            continue
        mapping[n.id] = box
        if box not in boxes:
            boxes[box] = []
            order.append(box)
        boxes[box].append(n)

    subtree = subtree_params(graph.modules)
    nodes: dict[str, ir.Node] = dict(singles)
    for box, ops in boxes.items():
        call = calls.get(box)
        path = call.path if call else box.split("@", 1)[0]
        info = modules.get(path)
        is_leaf = leaf.get(path, True) or classes.get(path, "") in OPAQUE_CLASSES or (
            box in opaque)
        params = subtree.get(path, info.params if info else 0)
        scope = ops[0].scope[: ops[0].scope.index(box)] if box in ops[0].scope else ()
        nodes[box] = ir.Node(
            id=box, kind="module" if is_leaf else "block",
            op=classes.get(path, ops[0].class_name), module_path=path,
            class_name=classes.get(path, ops[0].class_name),
            inputs=call.inputs if call else ops[0].inputs,
            outputs=call.outputs if call else ops[-1].outputs,
            params=params, macs=sum(o.macs for o in ops), flops=sum(o.flops for o in ops),
            attrs=info.attrs if info else (), folded=tuple(o.id for o in ops), scope=scope,
        )

    edges: dict[tuple[str, str], ir.Edge] = {}
    for e in graph.edges:
        src, dst = mapping[e.src], mapping[e.dst]
        if src != dst and (src, dst) not in edges:
            edges[(src, dst)] = ir.Edge(src, dst, e.tensor)
    ordered = [nodes[k] for k in order]
    edge_list = list(edges.values())
    if hide_reshapes:
        ordered, edge_list = bypass(ordered, edge_list,
                                     lambda n: n.kind == "function" and n.op in RESHAPE_OPS)
    return _prune_unreached(ordered, edge_list)


def bypass(
    nodes: list[ir.Node], edges: list[ir.Edge], drop: Callable[[ir.Node], bool]
) -> tuple[list[ir.Node], list[ir.Edge]]:
    """Remove nodes for which ``drop(node)`` holds, joining their inputs to their users."""
    gone = {n.id for n in nodes if drop(n)}
    if not gone:
        return nodes, edges
    preds: dict[str, list[str]] = {}
    outs: dict[str, list[ir.Edge]] = {}
    for e in edges:
        preds.setdefault(e.dst, []).append(e.src)
        outs.setdefault(e.src, []).append(e)

    def sources(node_id: str) -> list[str]:
        # The kept nodes feeding node_id through dropped ones, in the order a depth-first
        # walk meets them (duplicates are dropped by the caller). A stack rather than
        # recursion: chains of dropped nodes can be thousands long.
        found: list[str] = []
        expanded = {node_id}
        todo: list[tuple[bool, str]] = [(False, node_id)]
        while todo:
            kept_node, current = todo.pop()
            if kept_node:
                found.append(current)
                continue
            for p in reversed(preds.get(current, [])):
                if p not in gone:
                    todo.append((True, p))
                elif p not in expanded:
                    expanded.add(p)
                    todo.append((False, p))
        return found

    kept: dict[tuple[str, str], ir.Edge] = {}
    for e in edges:
        if e.dst in gone:
            continue
        srcs = sources(e.src) if e.src in gone else [e.src]
        for s in srcs:
            if s != e.dst and (s, e.dst) not in kept:
                kept[(s, e.dst)] = ir.Edge(s, e.dst, e.tensor)
    return [n for n in nodes if n.id not in gone], list(kept.values())


def _prune_unreached(nodes: list[ir.Node], edges: list[ir.Edge]) -> tuple[
    list[ir.Node], list[ir.Edge]
]:
    """Drop function nodes that no input reaches (constants and their derivations)."""
    succ: dict[str, list[str]] = {}
    for e in edges:
        succ.setdefault(e.src, []).append(e.dst)
    reached: set[str] = set()
    stack = [n.id for n in nodes if n.kind == "input"]
    if not stack:
        return nodes, edges
    while stack:
        k = stack.pop()
        if k in reached:
            continue
        reached.add(k)
        stack.extend(succ.get(k, []))
    gone = {n.id for n in nodes if n.kind == "function" and n.id not in reached}
    return ([n for n in nodes if n.id not in gone],
            [e for e in edges if e.src not in gone and e.dst not in gone])
