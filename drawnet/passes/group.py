"""Merge clusters of small elementwise ops into one node.

Code written with tensor arithmetic between layers (rotary position embeddings:
``q * cos + rotate_half(q) * sin``, hand-written norms, masks) draws as a tangle of
``mul``/``neg``/``cat``/``add`` nodes that says less than one node naming what they do.
Connected groups of three or more such ops in the same module call are merged into one
node; a group fed by a rotary-embedding module is labelled ``rotary embedding``, any
other lists its ops. Single ops (a residual ``add``, a gating ``mul``) stay as they are,
and ops that do the model's work (products, attention, softmax, norms, pooling) never
merge.

Example:
    >>> from drawnet import ir
    >>> t = ir.TensorMeta((1, 4))
    >>> f = lambda i, op: ir.Node(id=f"a:{op}", kind="function", op=op, scope=("a",),
    ...                           outputs=(t,))
    >>> x = ir.Node(id="input.x", kind="input", op="input", outputs=(t,))
    >>> ops = [f(0, "neg"), f(1, "cat"), f(2, "mul")]
    >>> g = ir.Graph(nodes=(x, *ops), edges=(ir.Edge("input.x", "a:neg", t),
    ...     ir.Edge("a:neg", "a:cat", t), ir.Edge("a:cat", "a:mul", t)))
    >>> out = group_ops(g)
    >>> [(n.id, n.label) for n in out.nodes]
    [('input.x', ''), ('a:neg', 'neg · cat · mul')]
"""

from __future__ import annotations

from drawnet import ir

GROUPABLE = frozenset({
    "add", "sub", "mul", "div", "neg", "cat", "concat", "pow", "rsqrt", "sqrt", "exp",
    "log", "sin", "cos", "abs", "clamp", "where", "masked_fill", "stack", "flip", "roll",
    "rsub", "reciprocal", "square", "mean", "sum", "tril", "triu", "eq", "ne", "lt", "gt",
    "le", "ge", "logical_and", "logical_or", "logical_not", "bitwise_and", "bitwise_or",
    "pad", "repeat", "repeat_interleave", "tile", "new_zeros", "new_ones", "full_like",
    "zeros_like", "ones_like", "expand", "getitem", "select", "narrow", "slice", "split",
    "chunk", "unbind", "view_as_complex", "view_as_real", "polar", "sigmoid", "tanh",
})
"""Ops that may merge: elementwise arithmetic, indexing and plumbing."""

MIN_GROUP = 3


def _label(ops: list[ir.Node], feeders: list[ir.Node]) -> str:
    if any("rotary" in (f.class_name + f.module_path).lower() for f in feeders):
        return "rotary embedding"
    names: list[str] = []
    for n in ops:
        if n.op not in names:
            names.append(n.op)
    text = " · ".join(names[:4])
    return text + (" …" if len(names) > 4 else "")


def _loops_back(members: set[str], succ: dict[str, list[str]]) -> bool:
    """Whether a path leaves the group and comes back (merging it would make a cycle)."""
    stack = [d for m in members for d in succ.get(m, []) if d not in members]
    seen: set[str] = set()
    while stack:
        k = stack.pop()
        if k in seen:
            continue
        seen.add(k)
        for d in succ.get(k, []):
            if d in members:
                return True
            stack.append(d)
    return False


def group_ops(graph: ir.Graph, min_group: int = MIN_GROUP) -> ir.Graph:
    """Merge connected groups of at least ``min_group`` small ops (see the module doc).

    The merged node keeps the first op's id and scope, sums the MACs and FLOPs, takes
    the outputs of the ops whose results leave the group, lists the merged ids in
    ``folded`` and the ops in its ``ops`` attribute.
    """
    by_id = {n.id: n for n in graph.nodes}
    ok = {n.id for n in graph.nodes if n.kind == "function" and n.op in GROUPABLE}
    if len(ok) < min_group:
        return graph
    # union-find over edges between groupable ops of the same module call
    parent = {k: k for k in ok}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for e in graph.edges:
        if e.src in ok and e.dst in ok and by_id[e.src].scope == by_id[e.dst].scope:
            a, b = find(e.src), find(e.dst)
            if a != b:
                parent[b] = a
    groups: dict[str, list[str]] = {}
    for n in graph.nodes:
        if n.id in ok:
            groups.setdefault(find(n.id), []).append(n.id)
    succ = graph.successors()
    merge_into: dict[str, str] = {}
    merged: dict[str, ir.Node] = {}
    for ids in groups.values():
        members = set(ids)
        if len(ids) < min_group or _loops_back(members, succ):
            continue
        ops = [by_id[k] for k in ids]
        feeders = [by_id[e.src] for e in graph.edges if e.dst in members and e.src not in members]
        leaving = [by_id[e.src] for e in graph.edges if e.src in members and e.dst not in members]
        outputs: list[ir.TensorMeta] = []
        for n in leaving:
            for m in n.outputs:
                if m not in outputs:
                    outputs.append(m)
        first = ops[0]
        head = first.id
        for k in ids:
            merge_into[k] = head
        merged[head] = first.replace(
            op="group", label=_label(ops, feeders), outputs=tuple(outputs[:3]) or first.outputs,
            macs=sum(n.macs for n in ops), flops=sum(n.flops for n in ops),
            folded=tuple(f for n in ops for f in (n.folded or (n.id,))),
            attrs=ir.attrs(ops=",".join(n.op for n in ops)), inputs=(),
        )
    if not merge_into:
        return graph
    nodes = [merged.get(n.id, n) for n in graph.nodes
             if n.id not in merge_into or merge_into[n.id] == n.id]
    edges = ir.remap_edges(graph.edges, merge_into)
    return graph.replace(nodes=ir.topo_sort(nodes, edges), edges=edges)
