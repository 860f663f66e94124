"""The typed, immutable graph that every drawnet stage reads and writes.

A tracer turns a model into an op-level :class:`Graph`; passes (pure functions
``Graph -> Graph``) merge ops into layer boxes; the emitter and the summary read the
result. Nothing here imports torch.

Ids are stable strings derived from module paths and call order (never ``id()``), so
the same model always gives the same graph.

Example:
    >>> x = Node(id="input.x", kind="input", op="input", outputs=(TensorMeta((1, 3), "float32"),))
    >>> fc = Node(id="fc", kind="module", op="Linear", module_path="fc", class_name="Linear",
    ...           inputs=(TensorMeta((1, 3), "float32"),), outputs=(TensorMeta((1, 2), "float32"),))
    >>> g = Graph(nodes=(x, fc), edges=(Edge("input.x", "fc", TensorMeta((1, 3), "float32")),))
    >>> validate(g)
    >>> [n.id for n in g.nodes]
    ['input.x', 'fc']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from drawnet.errors import GraphError

NodeKind = Literal["input", "output", "module", "function", "block"]
AttrValue = int | float | str | bool | tuple[int, ...] | None
NODE_KINDS: tuple[str, ...] = ("input", "output", "module", "function", "block")


@dataclass(frozen=True)
class TensorMeta:
    """Shape and dtype of one tensor (dtype as torch spells it, without ``torch.``)."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def numel(self) -> int:
        """Number of elements.

        Example:
            >>> TensorMeta((2, 3, 4)).numel
            24
        """
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        """Size in bytes, from the dtype's item size (4 when unknown).

        Example:
            >>> TensorMeta((2, 3), "float16").nbytes
            12
        """
        return self.numel * DTYPE_SIZES.get(self.dtype, 4)


DTYPE_SIZES: Mapping[str, int] = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4,
    "int16": 2, "int8": 1, "uint8": 1, "bool": 1, "complex64": 8, "complex128": 16,
    "float8_e4m3fn": 1, "float8_e5m2": 1,
}


def _sorted_attrs(attrs: Mapping[str, AttrValue] | Iterable[tuple[str, AttrValue]]) -> tuple[
    tuple[str, AttrValue], ...
]:
    items = attrs.items() if isinstance(attrs, Mapping) else attrs
    return tuple(sorted(items, key=lambda kv: kv[0]))


def _in_key_order(attrs: object) -> bool:
    """Whether ``attrs`` is already a tuple of pairs sorted by key (what
    :func:`_sorted_attrs` would return unchanged), without sorting it."""
    if type(attrs) is not tuple:
        return False
    prev = None
    for item in attrs:
        if type(item) is not tuple or len(item) != 2:
            return False
        if prev is not None and item[0] < prev:
            return False
        prev = item[0]
    return True


@dataclass(frozen=True)
class Node:
    """One box (or one op, before the builder merges ops into boxes).

    ``attrs`` is kept sorted by key; build it with :func:`attrs` or pass a dict to
    :meth:`with_attrs`. ``folded`` lists the ids a pass merged into this node, and
    ``repeat`` how many identical blocks it stands for. ``scope`` is, for an op, the ids
    of the module calls it ran inside (outermost first, the root excluded); for a box,
    the calls enclosing it.
    """

    id: str
    kind: NodeKind
    op: str
    module_path: str = ""
    class_name: str = ""
    inputs: tuple[TensorMeta, ...] = ()
    outputs: tuple[TensorMeta, ...] = ()
    params: int = 0
    macs: int = 0
    flops: int = 0
    attrs: tuple[tuple[str, AttrValue], ...] = ()
    folded: tuple[str, ...] = ()
    repeat: int = 1
    label: str = ""
    scope: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in NODE_KINDS:
            raise GraphError(f"unknown node kind: {self.kind!r} for node {self.id!r}")
        if not _in_key_order(self.attrs):
            object.__setattr__(self, "attrs", _sorted_attrs(self.attrs))

    def attr(self, key: str, default: AttrValue = None) -> AttrValue:
        """Look up one attribute.

        Example:
            >>> Node(id="c", kind="module", op="Conv2d", attrs=attrs(stride=(2, 2))).attr("stride")
            (2, 2)
        """
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    def replace(self, **changes: object) -> Node:
        """Return a copy with some fields changed (dataclasses.replace)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def attrs(**kwargs: AttrValue) -> tuple[tuple[str, AttrValue], ...]:
    """Make a sorted attribute tuple.

    Example:
        >>> attrs(stride=2, groups=1)
        (('groups', 1), ('stride', 2))
    """
    return _sorted_attrs(kwargs)


@dataclass(frozen=True)
class Edge:
    """A tensor flowing from ``src`` to ``dst`` (``tensor`` is None when unknown)."""

    src: str
    dst: str
    tensor: TensorMeta | None = None


@dataclass(frozen=True)
class ModuleInfo:
    """One module of the model's tree, whether or not it ran.

    ``params``/``buffers`` count only the module's own tensors (``recurse=False``) and
    each shared tensor only at its first owner, so sums over the tree give totals.
    ``calls`` is how many times ``forward`` ran; shapes are those of the first call.
    ``tied_params`` counts the module's own parameters that an earlier module already
    counts (tied weights): they are not in ``params``, but the module does hold them.
    """

    path: str
    class_name: str
    params: int = 0
    trainable_params: int = 0
    buffers: int = 0
    param_bytes: int = 0
    buffer_bytes: int = 0
    calls: int = 0
    is_leaf: bool = True
    tied_params: int = 0
    inputs: tuple[TensorMeta, ...] = ()
    outputs: tuple[TensorMeta, ...] = ()
    attrs: tuple[tuple[str, AttrValue], ...] = ()

    @property
    def depth(self) -> int:
        """Depth in the tree: 0 for the root (path ``""``), 1 for its children.

        Example:
            >>> ModuleInfo("layer1.0.conv1", "Conv2d").depth
            3
        """
        return 0 if self.path == "" else self.path.count(".") + 1


@dataclass(frozen=True)
class Call:
    """One run of a module's ``forward``, in the order the calls started.

    ``id`` is the module path for its first call and ``path@k`` for the k-th (k >= 2);
    ``parent`` is the id of the enclosing call ('' for a child of the root). After
    repeated blocks are collapsed, the kept call has ``repeat`` > 1 and ``last_path``
    names the last block it stands for.
    """

    id: str
    path: str
    class_name: str
    parent: str = ""
    inputs: tuple[TensorMeta, ...] = ()
    outputs: tuple[TensorMeta, ...] = ()
    repeat: int = 1
    last_path: str = ""

    @property
    def depth(self) -> int:
        """Depth of the module in the tree (1 for the root's children).

        Example:
            >>> Call("layer1.0.relu@2", "layer1.0.relu", "ReLU").depth
            3
        """
        return self.path.count(".") + 1


@dataclass(frozen=True)
class Totals:
    """Whole-model figures computed once at trace time (tied weights counted once)."""

    params: int = 0
    trainable_params: int = 0
    buffers: int = 0
    param_bytes: int = 0
    buffer_bytes: int = 0
    macs: int = 0
    flops: int = 0


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order, the edges between them, and the model's module tree.

    ``modules`` is in registration order (``named_modules``), root first with path ``""``.
    ``calls`` is every module call in the order it started. ``meta`` holds a few sorted
    facts about how the graph was made (tracer, model class).
    """

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()
    modules: tuple[ModuleInfo, ...] = ()
    calls: tuple[Call, ...] = ()
    totals: Totals = field(default_factory=Totals)
    meta: tuple[tuple[str, str], ...] = ()

    def node(self, node_id: str) -> Node:
        """Return the node with this id (``KeyError`` if missing)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def module(self, path: str) -> ModuleInfo | None:
        """Return the module with this path, or None."""
        for m in self.modules:
            if m.path == path:
                return m
        return None

    def class_of(self, path: str) -> str:
        """Class name of the module at ``path`` ('' when unknown)."""
        m = self.module(path)
        return m.class_name if m is not None else ""

    def get_meta(self, key: str, default: str = "") -> str:
        """Look up one ``meta`` fact."""
        for k, v in self.meta:
            if k == key:
                return v
        return default

    def successors(self) -> dict[str, list[str]]:
        """Map each node id to the ids it feeds, in edge order."""
        out: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for e in self.edges:
            out.setdefault(e.src, []).append(e.dst)
        return out

    def predecessors(self) -> dict[str, list[str]]:
        """Map each node id to the ids that feed it, in edge order."""
        out: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for e in self.edges:
            out.setdefault(e.dst, []).append(e.src)
        return out

    def replace(self, **changes: object) -> Graph:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def validate(graph: Graph) -> None:
    """Check the invariants every pass must keep; raise :class:`GraphError` if one breaks.

    Ids are unique, edges point at existing nodes, node order is topological, and no
    edge is listed twice.

    Example:
        >>> validate(Graph(nodes=(Node(id="a", kind="input", op="input"),)))
    """
    position: dict[str, int] = {}
    for i, n in enumerate(graph.nodes):
        if n.id in position:
            raise GraphError(f"duplicate node id: {n.id!r}")
        position[n.id] = i
    seen: set[tuple[str, str]] = set()
    for e in graph.edges:
        for end in (e.src, e.dst):
            if end not in position:
                raise GraphError(f"edge {e.src!r} -> {e.dst!r} names a missing node {end!r}")
        if position[e.src] >= position[e.dst]:
            raise GraphError(f"edge {e.src!r} -> {e.dst!r} goes against the node order")
        if (e.src, e.dst) in seen:
            raise GraphError(f"edge {e.src!r} -> {e.dst!r} is listed twice")
        seen.add((e.src, e.dst))


def remap_edges(edges: Iterable[Edge], mapping: Mapping[str, str]) -> tuple[Edge, ...]:
    """Edges with their ends renamed through ``mapping`` (ids missing from it stay), once
    each, without the loops a merge makes (a node feeding the node it merged into).

    Example:
        >>> [(e.src, e.dst) for e in remap_edges([Edge("a", "b"), Edge("b", "c"),
        ...                                       Edge("a", "c")], {"b": "a"})]
        [('a', 'c')]
    """
    out: dict[tuple[str, str], Edge] = {}
    for e in edges:
        src, dst = mapping.get(e.src, e.src), mapping.get(e.dst, e.dst)
        if src != dst and (src, dst) not in out:
            out[(src, dst)] = Edge(src, dst, e.tensor)
    return tuple(out.values())


def topo_sort(nodes: Iterable[Node], edges: Iterable[Edge]) -> tuple[Node, ...]:
    """Order nodes so every edge goes forward, keeping the given order where it can.

    Example:
        >>> a, b = Node(id="a", kind="function", op="x"), Node(id="b", kind="function", op="y")
        >>> [n.id for n in topo_sort([b, a], [Edge("a", "b")])]
        ['a', 'b']
    """
    node_list = list(nodes)
    index = {n.id: i for i, n in enumerate(node_list)}
    indeg = {n.id: 0 for n in node_list}
    succ: dict[str, list[str]] = {n.id: [] for n in node_list}
    for e in edges:
        if e.src in index and e.dst in index and e.src != e.dst:
            succ[e.src].append(e.dst)
            indeg[e.dst] += 1
    import heapq

    ready = [index[k] for k, d in indeg.items() if d == 0]
    heapq.heapify(ready)
    out: list[Node] = []
    while ready:
        i = heapq.heappop(ready)
        n = node_list[i]
        out.append(n)
        for s in succ[n.id]:
            indeg[s] -= 1
            if indeg[s] == 0:
                heapq.heappush(ready, index[s])
    if len(out) != len(node_list):
        stuck = sorted(k for k, d in indeg.items() if d > 0)[:5]
        raise GraphError(f"graph has a cycle through {stuck}")
    return tuple(out)
