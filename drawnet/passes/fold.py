"""Fold chains such as Conv → BatchNorm → ReLU into one box.

Rules are data: a :class:`Chain` is a name and a tuple of steps, each step a set of class
names (or functional op names for activations called as ``torch.relu``). A chain folds
only along single-consumer links between boxes in the same parent module call (torch.fx
``fuse``'s ``users > 1`` guard), so a tensor used twice (a residual input) is never
hidden inside a folded box. Longer chains are tried first.

Example:
    >>> from drawnet import ir
    >>> t = ir.TensorMeta((1, 8, 4, 4))
    >>> conv = ir.Node(id="c", kind="module", op="Conv2d", class_name="Conv2d", outputs=(t,))
    >>> bn = ir.Node(id="b", kind="module", op="BatchNorm2d", class_name="BatchNorm2d",
    ...              outputs=(t,))
    >>> g = ir.Graph(nodes=(conv, bn), edges=(ir.Edge("c", "b", t),))
    >>> [(n.id, n.attr("fused")) for n in fold_chains(g).nodes]
    [('c', 'BatchNorm2d')]
"""

from __future__ import annotations

from dataclasses import dataclass

from drawnet import ir

CONV = frozenset({"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                  "ConvTranspose3d", "LazyConv1d", "LazyConv2d", "LazyConv3d"})
NORM = frozenset({"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "GroupNorm",
                  "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyBatchNorm2d",
                  "FrozenBatchNorm2d"})
ACT = frozenset({"ReLU", "ReLU6", "GELU", "SiLU", "Hardswish", "Hardsigmoid", "LeakyReLU",
                 "ELU", "SELU", "CELU", "Mish", "Sigmoid", "Tanh", "PReLU", "Hardtanh",
                 "relu", "relu6", "gelu", "silu", "hardswish", "leaky_relu", "elu", "selu",
                 "mish", "sigmoid", "tanh", "hardtanh"})
LINEAR = frozenset({"Linear", "LazyLinear"})


@dataclass(frozen=True)
class Chain:
    """A foldable sequence: each step is the set of class (or op) names it accepts."""

    name: str
    steps: tuple[frozenset[str], ...]


CHAINS: tuple[Chain, ...] = (
    Chain("conv-norm-act", (CONV, NORM, ACT)),
    Chain("conv-norm", (CONV, NORM)),
    Chain("conv-act", (CONV, ACT)),
    Chain("linear-act", (LINEAR, ACT)),
    Chain("norm-act", (NORM, ACT)),
)


def _kind_name(node: ir.Node) -> str:
    if node.kind == "module":
        return node.class_name
    if node.kind == "function":
        return node.op
    return ""


def fold_chains(graph: ir.Graph, chains: tuple[Chain, ...] = CHAINS) -> ir.Graph:
    """Return ``graph`` with every matching chain folded into its first box.

    The folded box keeps the first box's id, path and attributes, takes the last box's
    outputs, sums params/MACs/FLOPs, and lists the other members' classes in the
    ``fused`` attribute (comma separated) for the label.
    """
    ordered = sorted(chains, key=lambda c: -len(c.steps))
    succ = graph.successors()
    pred = graph.predecessors()
    by_id = {n.id: n for n in graph.nodes}
    merged_into: dict[str, str] = {}
    replaced: dict[str, ir.Node] = {}
    for node in graph.nodes:
        if node.id in merged_into or node.kind != "module":
            continue
        for chain in ordered:
            members = _match(node, chain, succ, pred, by_id, merged_into)
            if members:
                replaced[node.id] = _merge(members)
                for m in members[1:]:
                    merged_into[m.id] = node.id
                break
    if not merged_into:
        return graph
    nodes = [replaced.get(n.id, n) for n in graph.nodes if n.id not in merged_into]
    edges: dict[tuple[str, str], ir.Edge] = {}
    for e in graph.edges:
        src, dst = merged_into.get(e.src, e.src), merged_into.get(e.dst, e.dst)
        if src != dst and (src, dst) not in edges:
            edges[(src, dst)] = ir.Edge(src, dst, e.tensor)
    return graph.replace(nodes=tuple(nodes), edges=tuple(edges.values()))


def _match(
    first: ir.Node,
    chain: Chain,
    succ: dict[str, list[str]],
    pred: dict[str, list[str]],
    by_id: dict[str, ir.Node],
    taken: dict[str, str],
) -> list[ir.Node]:
    if _kind_name(first) not in chain.steps[0]:
        return []
    members = [first]
    for step in chain.steps[1:]:
        last = members[-1]
        users = succ.get(last.id, [])
        if len(users) != 1:
            return []
        nxt = by_id[users[0]]
        if (nxt.id in taken or _kind_name(nxt) not in step or pred.get(nxt.id) != [last.id]
                or nxt.scope != first.scope or nxt.kind not in ("module", "function")):
            return []
        members.append(nxt)
    return members


def _merge(members: list[ir.Node]) -> ir.Node:
    first, last = members[0], members[-1]
    fused = ",".join(_kind_name(m) for m in members[1:])
    attrs = dict(first.attrs)
    attrs["fused"] = fused
    folded: list[str] = []
    for m in members:
        folded.extend(m.folded or (m.id,))
    return first.replace(
        outputs=last.outputs,
        params=sum(m.params for m in members),
        macs=sum(m.macs for m in members),
        flops=sum(m.flops for m in members),
        attrs=ir.attrs(**attrs),
        folded=tuple(folded),
    )
