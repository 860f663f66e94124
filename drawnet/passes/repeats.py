"""Collapse runs of identical consecutive blocks into one, marked ×N.

Two sibling module calls are the same block when their drawn contents have the same
structure: classes, ops, attributes, shapes, relative module paths and internal edges
(a structural signature, never object identity). A run of N such calls, one after the
other in the graph, keeps the first block's nodes; the call record gets ``repeat=N`` so
the cluster or box reads ``×N``, and edges into or out of the other blocks are moved onto
the matching nodes of the first.

Example:
    >>> from drawnet import ir
    >>> t = ir.TensorMeta((1, 4))
    >>> def block(i):
    ...     return ir.Node(id=f"{i}", kind="block", op="Block", module_path=f"{i}",
    ...                    class_name="Block", inputs=(t,), outputs=(t,))
    >>> g = ir.Graph(nodes=(block(0), block(1), block(2)),
    ...              edges=(ir.Edge("0", "1", t), ir.Edge("1", "2", t)),
    ...              calls=tuple(ir.Call(f"{i}", f"{i}", "Block") for i in range(3)))
    >>> out = collapse_repeats(g)
    >>> [(n.id, n.repeat) for n in out.nodes], out.calls[0].repeat, out.calls[0].last_path
    ([('0', 3)], 3, '2')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping
from typing import Any

from drawnet import ir
from drawnet.errors import GraphError


def _members(graph: ir.Graph) -> dict[str, list[int]]:
    """Indices of the nodes drawn for each call (its box, or the nodes inside its
    cluster), in graph order; one pass over the nodes, so large graphs stay linear."""
    out: dict[str, list[int]] = {}
    for i, n in enumerate(graph.nodes):
        out.setdefault(n.id, []).append(i)
        for call_id in set(n.scope) - {n.id}:
            out.setdefault(call_id, []).append(i)
    return out


def _relative(node_or_call_id: str, base_path: str) -> str:
    """An id with the block's own path cut off the front (``layer1.1.relu@2`` -> ``.relu@2``)."""
    if node_or_call_id.startswith(base_path):
        return node_or_call_id[len(base_path):]
    return node_or_call_id


def signature(
    graph: ir.Graph,
    call: ir.Call,
    members: list[int],
    successors: Mapping[str, list[str]] | None = None,
) -> Hashable:
    """The structural signature of one block (see the module docstring).

    ``successors`` (node id -> ids it feeds) saves a scan of every edge per block.
    """
    index = {graph.nodes[i].id: k for k, i in enumerate(members)}
    items = []
    for i in members:
        n = graph.nodes[i]
        inner = n.scope[n.scope.index(call.id) + 1:] if call.id in n.scope else ()
        items.append((
            n.kind, n.class_name, n.op, n.attrs, n.repeat,
            tuple(m.shape for m in n.inputs), tuple(m.shape for m in n.outputs),
            tuple(_relative(c, call.path) for c in inner),
            _relative(n.id, call.path),
            n.params, n.macs,
        ))
    if successors is None:
        inner_edges = sorted((index[e.src], index[e.dst]) for e in graph.edges
                             if e.src in index and e.dst in index)
    else:
        inner_edges = sorted((k, index[dst]) for src, k in index.items()
                             for dst in successors.get(src, ()) if dst in index)
    return (call.class_name, tuple(items), tuple(inner_edges))


def collapse_repeats(graph: ir.Graph) -> ir.Graph:
    """Collapse every run of two or more identical consecutive sibling blocks.

    Runs of three or more identical single layers collapse too, so a flat ``Sequential``
    of 20,000 identical ``Linear`` layers becomes one box marked ×20000.
    """
    failed: set[str] = set()
    signatures: dict[tuple[Any, ...], tuple[list[ir.Node], Hashable]] = {}
    changed = True
    while changed:
        changed = False
        for run in _runs(graph, signatures):
            if run[0][0].id in failed:
                continue
            try:
                graph = _collapse(graph, run)
            except GraphError:
                failed.add(run[0][0].id)  # not a clean chain (a node sits between blocks)
                continue
            changed = True
            break
    return graph


def _runs(graph: ir.Graph,
          signatures: dict[tuple[Any, ...], tuple[list[ir.Node], Hashable]] | None = None,
          ) -> list[list[tuple[ir.Call, list[int]]]]:
    """Runs of identical consecutive sibling blocks, outermost first. ``signatures``
    keeps block signatures from one call to the next (collapsing one run leaves the
    others' nodes, and so their signatures, as they were)."""
    members_of = _members(graph)

    def sig_of(call: ir.Call, members: list[int]) -> Hashable:
        if signatures is None:
            return signature(graph, call, members, successors)
        nodes = [graph.nodes[i] for i in members]
        # the same node objects in the same order hold the same edges between them: an
        # edge changes only when one of its ends is collapsed away or moved
        key = (call.id, call.class_name, call.path, *map(id, nodes))
        found = signatures.get(key)
        if found is None:
            found = signatures[key] = (nodes, signature(graph, call, members, successors))
        return found[1]

    leaf_boxes = {n.id for n in graph.nodes if n.kind == "module"}
    successors: dict[str, list[str]] = {}
    for e in graph.edges:
        successors.setdefault(e.src, []).append(e.dst)
    by_parent: dict[str, list[tuple[ir.Call, list[int]]]] = {}
    for call in graph.calls:
        if call.repeat > 1:
            continue
        members = members_of.get(call.id)
        if members:
            by_parent.setdefault(call.parent, []).append((call, members))
    runs: list[list[tuple[ir.Call, list[int]]]] = []
    for siblings in by_parent.values():
        siblings.sort(key=lambda cm: cm[1][0])
        current: list[tuple[ir.Call, list[int]]] = []
        current_key: Hashable = None
        current_sig: Hashable = None
        for call, members in siblings:
            # The full signature costs members x nesting depth: compute it only for a
            # neighbour that could match (same class and size, next in line, fed by it).
            key = (call.class_name, len(members))
            sig: Hashable = None
            if (current and key == current_key
                    and members[0] == current[-1][1][-1] + 1
                    and _feeds(graph, current[-1][1], members, successors)):
                if current_sig is None:
                    current_sig = sig_of(current[0][0], current[0][1])
                sig = sig_of(call, members)
                if sig == current_sig:
                    current.append((call, members))
                    continue
            if len(current) >= _shortest(current, leaf_boxes):
                runs.append(current)
            current, current_key, current_sig = [(call, members)], key, sig
        if len(current) >= _shortest(current, leaf_boxes):
            runs.append(current)
    runs.sort(key=lambda r: (r[0][0].path.count("."), r[0][1][0]))
    return runs


def _shortest(run: list[tuple[ir.Call, list[int]]], leaf_boxes: set[str]) -> int:
    """The shortest run worth collapsing: 2 blocks, but 3 single layers (two boxes in a
    row take no more room than one marked ×2, and say more)."""
    return 3 if run and run[0][0].id in leaf_boxes else 2


def _feeds(graph: ir.Graph, before: list[int], after: list[int],
           successors: Mapping[str, list[str]]) -> bool:
    """Whether a block feeds the next one: a chain, not parallel copies (``q`` and ``k``
    projections side by side are two boxes, not one marked ×2)."""
    targets = {graph.nodes[i].id for i in after}
    return any(dst in targets for i in before for dst in successors.get(graph.nodes[i].id, ()))


def _collapse(graph: ir.Graph, run: list[tuple[ir.Call, list[int]]]) -> ir.Graph:
    first_call, first_members = run[0]
    keep_ids = [graph.nodes[i].id for i in first_members]
    block_of: dict[str, int] = {}
    to_first: dict[str, str] = {}
    for k, (_, members) in enumerate(run):
        for pos, i in enumerate(members):
            node_id = graph.nodes[i].id
            block_of[node_id] = k
            to_first[node_id] = keep_ids[pos]
    removed = {node_id for node_id, k in block_of.items() if k > 0}
    nodes = []
    for n in graph.nodes:
        if n.id in removed:
            continue
        if n.id == first_call.id:
            n = n.replace(repeat=len(run))
        nodes.append(n)
    edges: dict[tuple[str, str], ir.Edge] = {}
    for e in graph.edges:
        in_src, in_dst = e.src in block_of, e.dst in block_of
        if in_src and in_dst and block_of[e.src] != block_of[e.dst]:
            continue  # block k feeding block k+1: hidden inside ×N
        src = to_first.get(e.src, e.src)
        dst = to_first.get(e.dst, e.dst)
        if src != dst and (src, dst) not in edges:
            edges[(src, dst)] = ir.Edge(src, dst, e.tensor)
    last_call = run[-1][0]
    gone_calls = {c.id for c, _ in run[1:]}
    calls = tuple(
        dataclasses.replace(c, repeat=len(run), last_path=last_call.path,
                            outputs=last_call.outputs) if c.id == first_call.id else c
        for c in graph.calls if c.id not in gone_calls
    )
    ordered = ir.topo_sort(nodes, edges.values())
    out = graph.replace(nodes=ordered, edges=tuple(edges.values()), calls=calls)
    ir.validate(out)
    return out


def find_runs(graph: ir.Graph) -> list[tuple[str, ...]]:
    """Every run of identical consecutive sibling blocks, as call ids, without collapsing.

    Runs are found at every level at once (a run inside each copy of an outer run is
    listed once per copy), outermost first, and only runs that :func:`collapse_repeats`
    could fold cleanly are kept. The copies of a run correspond node by node: replacing
    one copy's module path by another's at the front of an id gives the matching id.

    Example:
        >>> from drawnet import ir
        >>> t = ir.TensorMeta((1, 4))
        >>> def block(i):
        ...     return ir.Node(id=f"b{i}", kind="block", op="Block", module_path=f"b{i}",
        ...                    class_name="Block", inputs=(t,), outputs=(t,))
        >>> g = ir.Graph(nodes=tuple(block(i) for i in range(3)),
        ...              edges=(ir.Edge("b0", "b1", t), ir.Edge("b1", "b2", t)),
        ...              calls=tuple(ir.Call(f"b{i}", f"b{i}", "Block") for i in range(3)))
        >>> find_runs(g)
        [('b0', 'b1', 'b2')]
    """
    found: list[tuple[str, ...]] = []
    for run in _runs(graph):
        try:
            _collapse(graph, run)
        except GraphError:
            continue
        found.append(tuple(call.id for call, _ in run))
    return found
