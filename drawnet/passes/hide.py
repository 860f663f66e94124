"""Leave out what does nothing at inference, so boxes are spent on the architecture.

Each kind of noise has a name; ``hide`` is a set of them (:data:`DEFAULT_HIDE` unless the
user passes another set, ``hide=()`` to draw everything):

``dropout``
    Dropout, DropPath and StochasticDepth boxes and functional dropout ops: identities at
    inference.
``identity``
    ``nn.Identity`` boxes and any module that only hands its input back.
``plumbing``
    Indexing and unpacking ops between layers (``getitem``, ``select``, ``unbind``,
    ``narrow``): the tensor they pick is still drawn as the edge.
``reshapes``
    Views, permutes, casts and copies between layers, and modules that only do those
    (torchvision's ``Permute``).
``cache``
    Key/value cache outputs (transformers' ``Cache`` objects) and the ops that only feed
    them: one cache tensor per layer says nothing about the architecture.

A hidden node is bypassed: its inputs are joined to its users, so the flow stays whole.
What was left out is said once in ``graph.meta`` (a ``note``) so the picture never hides
something silently.

Example:
    >>> from drawnet import ir
    >>> t = ir.TensorMeta((1, 4))
    >>> g = ir.Graph(nodes=(
    ...     ir.Node(id="input.x", kind="input", op="input", outputs=(t,)),
    ...     ir.Node(id="fc", kind="module", op="Linear", class_name="Linear", outputs=(t,)),
    ...     ir.Node(id="drop", kind="module", op="Dropout", class_name="Dropout",
    ...             module_path="drop", outputs=(t,)),
    ...     ir.Node(id="output", kind="output", op="output", inputs=(t,))),
    ...     edges=(ir.Edge("input.x", "fc", t), ir.Edge("fc", "drop", t),
    ...            ir.Edge("drop", "output", t)))
    >>> out = hide_noise(g)
    >>> [n.id for n in out.nodes], [(e.src, e.dst) for e in out.edges]
    (['input.x', 'fc', 'output'], [('input.x', 'fc'), ('fc', 'output')])
    >>> out.get_meta("note")
    'not drawn: 1 Dropout (pass hide=() to draw everything)'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence, Set

from drawnet import ir
from drawnet.errors import OptionError, OptionTypeError, safe_repr
from drawnet.passes.layers import RESHAPE_OPS, bypass

HIDE_KINDS = ("cache", "dropout", "identity", "plumbing", "reshapes")
"""Every kind of node ``hide`` can name (reshape ops themselves are bypassed when boxes are
built; this pass hides modules that only reshape)."""

DEFAULT_HIDE = frozenset(HIDE_KINDS)

_DROPOUT_CLASS = re.compile(r"Dropout|DropPath|StochasticDepth|DropBlock|Dropblock")
_DROPOUT_OPS = frozenset({"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                          "feature_alpha_dropout", "feature_dropout", "native_dropout"})
_CACHE_UPDATE_OPS = frozenset({"cat", "concat", "concatenate", "stack", "index_copy",
                               "copy", "index_put", "scatter"})
_PLUMBING_OPS = frozenset({"getitem", "select", "unbind", "narrow", "slice", "index_select"})


def check_hide(hide: Iterable[str] | None) -> frozenset[str]:
    """Validate a ``hide`` option; None means :data:`DEFAULT_HIDE`.

    Example:
        >>> sorted(check_hide(["dropout"]))
        ['dropout']
        >>> check_hide(["dropouts"])
        Traceback (most recent call last):
        ...
        drawnet.errors.OptionError: unknown hide kind: 'dropouts' (must be among 'cache', \
'dropout', 'identity', 'plumbing', 'reshapes')
    """
    if hide is None:
        return DEFAULT_HIDE
    if isinstance(hide, str):
        hide = (hide,)
    if not isinstance(hide, Set | Sequence) or isinstance(hide, bytes | bytearray):
        raise OptionTypeError(f"hide must be a set of names, got {type(hide).__name__}")
    kinds = list(hide)
    for k in kinds:
        if not isinstance(k, str) or k not in HIDE_KINDS:
            valid = ", ".join(repr(v) for v in HIDE_KINDS)
            raise OptionError(f"unknown hide kind: {safe_repr(k)} (must be among {valid})")
    return frozenset(kinds)


def noise_kind(node: ir.Node) -> str | None:
    """The kind of noise ``node`` is (one of :data:`HIDE_KINDS`), or None.

    Example:
        >>> noise_kind(ir.Node(id="d", kind="module", op="Dropout", class_name="Dropout",
        ...                    module_path="d"))
        'dropout'
        >>> noise_kind(ir.Node(id="c", kind="module", op="Conv2d", class_name="Conv2d")) is None
        True
    """
    if node.kind == "output":
        return "cache" if node.attr("cache") is True else None
    if node.kind == "function":
        if node.op in _DROPOUT_OPS:
            return "dropout"
        if node.op in _PLUMBING_OPS:
            return "plumbing"
        if node.op == "identity":
            return "identity"
        return None
    if node.kind == "module" and node.module_path:  # never the model itself
        if _DROPOUT_CLASS.search(node.class_name):
            return "dropout"
        if node.class_name == "Identity" or (
            node.folded and all(_op_of(f) == "identity" for f in node.folded)
        ):
            return "identity"
        if node.folded and all(_op_of(f) in RESHAPE_OPS for f in node.folded):
            return "reshapes"  # a module that only permutes or views its input
    return None


def _op_of(op_id: str) -> str:
    """The op name in an op node id (``layer1.0.relu:relu#2`` -> ``relu``)."""
    return op_id.rsplit(":", 1)[-1].split("#", 1)[0]


def hide_noise(graph: ir.Graph, hide: Iterable[str] | None = None) -> ir.Graph:
    """Bypass every node whose :func:`noise_kind` is in ``hide`` (see the module docstring).

    Ops that only fed a hidden cache output are removed too. A note in ``graph.meta``
    counts what was left out.
    """
    kinds = check_hide(hide)
    gone = {n.id: k for n in graph.nodes if (k := noise_kind(n)) is not None and k in kinds}
    if "cache" in kinds:
        # a cache update (torch.cat of the cached keys and the new ones) feeds both the
        # cache output and the attention: with the cache hidden it is only plumbing
        caches = {k for k, kind in gone.items() if kind == "cache"}
        by_id = {n.id: n for n in graph.nodes}
        for e in graph.edges:
            n = by_id[e.src]
            if e.dst in caches and n.kind == "function" and n.op in _CACHE_UPDATE_OPS:
                gone[n.id] = "cache"
    if not gone:
        return graph
    by_id = {n.id: n for n in graph.nodes}
    nodes, edges = bypass(list(graph.nodes), list(graph.edges), lambda n: n.id in gone)
    if any(k == "cache" for k in gone.values()):
        nodes, edges = _prune_dead_ends(nodes, edges, graph)
    counts: dict[str, int] = {}
    for node_id, kind in gone.items():
        n = by_id[node_id]
        if kind == "cache" and n.kind == "function":
            continue  # counted with the cache output it fed
        name = {"cache": "cache output", "plumbing": "indexing op"}.get(kind) or (
            n.class_name if n.kind == "module" else f"{n.op} op")
        counts[name] = counts.get(name, 0) + 1
    text = ", ".join(f"{c} {name}" + ("s" if c > 1 and not name.endswith("s") else "")
                     for name, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    note = f"not drawn: {text} (pass hide=() to draw everything)"
    return graph.replace(nodes=ir.topo_sort(nodes, edges), edges=tuple(edges),
                         meta=(*graph.meta, ("note", note)))


def _prune_dead_ends(nodes: list[ir.Node], edges: list[ir.Edge], before: ir.Graph) -> tuple[
    list[ir.Node], list[ir.Edge]
]:
    """Drop function nodes left with no user that had users before (a cache's updates)."""
    had_users = {e.src for e in before.edges}
    nodes_by_id = {n.id: n for n in nodes}
    users: dict[str, int] = {n.id: 0 for n in nodes}
    preds: dict[str, list[str]] = {n.id: [] for n in nodes}
    for e in edges:
        users[e.src] = users.get(e.src, 0) + 1
        preds.setdefault(e.dst, []).append(e.src)
    stack = [k for k, c in users.items()
             if c == 0 and k in had_users and nodes_by_id[k].kind == "function"]
    dead: set[str] = set()
    while stack:
        k = stack.pop()
        if k in dead:
            continue
        dead.add(k)
        for p in preds.get(k, []):
            users[p] -= 1
            if users[p] == 0 and nodes_by_id[p].kind == "function" and p not in dead:
                stack.append(p)
    return ([n for n in nodes if n.id not in dead],
            [e for e in edges if e.src not in dead and e.dst not in dead])
