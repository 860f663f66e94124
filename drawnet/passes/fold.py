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

import re
from dataclasses import dataclass

from drawnet import ir

CONV = frozenset({"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                  "ConvTranspose3d", "LazyConv1d", "LazyConv2d", "LazyConv3d"})
NORM = frozenset({"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "GroupNorm",
                  "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyBatchNorm2d",
                  "FrozenBatchNorm2d", "LayerNorm2d", "LayerNorm", "LayerNormChannelsLast"})
ACT = frozenset({"ReLU", "ReLU6", "GELU", "SiLU", "Hardswish", "Hardsigmoid", "LeakyReLU",
                 "ELU", "SELU", "CELU", "Mish", "Sigmoid", "Tanh", "PReLU", "Hardtanh",
                 "relu", "relu6", "gelu", "silu", "hardswish", "leaky_relu", "elu", "selu",
                 "mish", "sigmoid", "tanh", "hardtanh"})
LINEAR = frozenset({"Linear", "LazyLinear", "Conv1D"})  # Conv1D: transformers' GPT-2 linear


_ACTIVATION_CLASS = re.compile(r"^(?:[A-Z]\w*)?(?:GELU|ReLU|SiLU|Swish|Mish|Tanh|Sigmoid)"
                               r"\w*Activation$|Activation$|^GELUTanh$|^QuickGELU$")


Step = frozenset[str] | re.Pattern[str]

ANY_NORM = re.compile(r"Norm")
"""Any normalisation layer, by class name (LayerNorm, LlamaRMSNorm, GroupNorm...)."""


def accepts(step: Step, name: str) -> bool:
    """Whether a chain step takes a layer of this class (or op) name.

    A step is a set of names or a pattern. The activation step also takes activation
    classes of model libraries, named ``...Activation`` (transformers' ``GELUActivation``).

    Example:
        >>> accepts(ACT, "GELUActivation"), accepts(ACT, "ReLU"), accepts(NORM, "ReLU")
        (True, True, False)
        >>> accepts(ANY_NORM, "LlamaRMSNorm")
        True
    """
    if isinstance(step, re.Pattern):
        return bool(step.search(name))
    return name in step or (step is ACT and bool(_ACTIVATION_CLASS.search(name)))


@dataclass(frozen=True)
class Chain:
    """A foldable sequence: each step is the set of class (or op) names it accepts.

    ``keep`` is the member whose box the chain becomes (its id, path and attributes):
    the first by default; the last for a lead-in op folded into the layer it feeds
    (``add`` into the ``LayerNorm`` after it: "add & LayerNorm").
    """

    name: str
    steps: tuple[Step, ...]
    keep: int = 0
    side_inputs: bool = False
    """Whether a later step may take other inputs too (rotary embeddings take cos/sin)."""


CHAINS: tuple[Chain, ...] = (
    Chain("add-norm", (frozenset({"add"}), ANY_NORM), keep=-1),
    Chain("gate-linear", (frozenset({"mul"}), LINEAR), keep=-1),  # SwiGLU's gate product
    Chain("linear-split", (LINEAR, frozenset({"split", "chunk", "split_with_sizes"}))),
    Chain("linear-rotary", (LINEAR, frozenset({"rotary embedding"})), side_inputs=True),
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
        return node.label if node.op == "group" and node.label else node.op
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
        if node.id in merged_into or node.kind not in ("module", "function"):
            continue
        for chain in ordered:
            members = _match(node, chain, succ, pred, by_id, merged_into)
            if members:
                box = _merge(members, chain.keep)
                replaced[box.id] = box
                for m in members:
                    if m.id != box.id:
                        merged_into[m.id] = box.id
                break
    if not merged_into:
        return graph
    nodes = [replaced.get(n.id, n) for n in graph.nodes if n.id not in merged_into]
    nodes = list(ir.topo_sort(nodes, [ir.Edge(merged_into.get(e.src, e.src),
                                              merged_into.get(e.dst, e.dst))
                                      for e in graph.edges]))
    edges = ir.remap_edges(graph.edges, merged_into)
    return graph.replace(nodes=tuple(nodes), edges=edges)


def _match(
    first: ir.Node,
    chain: Chain,
    succ: dict[str, list[str]],
    pred: dict[str, list[str]],
    by_id: dict[str, ir.Node],
    taken: dict[str, str],
) -> list[ir.Node]:
    if not accepts(chain.steps[0], _kind_name(first)):
        return []
    members = [first]
    for step in chain.steps[1:]:
        last = members[-1]
        users = succ.get(last.id, [])
        if len(users) != 1:
            return []
        nxt = by_id[users[0]]
        feeds = pred.get(nxt.id, [])
        only_input = feeds == [last.id] or (chain.side_inputs and last.id in feeds)
        if (nxt.id in taken or not accepts(step, _kind_name(nxt)) or not only_input
                or nxt.scope != first.scope or nxt.kind not in ("module", "function")):
            return []
        members.append(nxt)
    return members


def _merge(members: list[ir.Node], keep: int = 0) -> ir.Node:
    first, last = members[0], members[-1]
    base = members[keep]
    attrs = dict(base.attrs)
    if keep == 0:
        attrs["fused"] = ",".join(_kind_name(m) for m in members[1:])
    else:
        attrs["lead"] = ",".join(_kind_name(m) for m in members[:keep % len(members)])
    folded: list[str] = []
    for m in members:
        folded.extend(m.folded or (m.id,))
    return base.replace(
        inputs=first.inputs if keep == 0 else base.inputs,
        outputs=last.outputs,
        params=sum(m.params for m in members),
        macs=sum(m.macs for m in members),
        flops=sum(m.flops for m in members),
        attrs=ir.attrs(**attrs),
        folded=tuple(folded),
    )
