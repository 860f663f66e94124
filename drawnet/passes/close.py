"""Choose which modules to open: spend the box budget on information, not on copies.

A picture with every module open is exact but long. Cutting it at one global depth (the
old default) closes the interesting block together with everything else. Instead:

1. Repeated blocks are already drawn once, marked ×N (:mod:`drawnet.passes.repeats`).
2. One module of each kind (class; for plain containers, structure) is drawn open: the
   one that shows the most (the most boxes inside; a ResNet's first Bottleneck, with its
   downsample branch), inside the blocks already open. The others of that kind become
   one box each: their insides would repeat what is drawn, with other widths.
3. If the picture is still over the budget, the deepest modules are closed next, largest
   first, keeping the ×N blocks open as long as possible.

A closed module is one ``block`` box that says what it holds: in→out width, the kinds of
layers inside (``dw 3×3``, ``×6 expand``, ``SE``, ``attention``), and its parameters, in the
``summary`` attribute (see :func:`block_summary`).

Example:
    >>> from drawnet import ir
    >>> t = ir.TensorMeta((1, 4))
    >>> def node(i, blk):
    ...     return ir.Node(id=f"{blk}.fc{i}", kind="module", op="Linear", class_name="Linear",
    ...                    module_path=f"{blk}.fc{i}", scope=(blk,), outputs=(t,))
    >>> nodes = [node(i, b) for b in ("a", "b") for i in range(3)]
    >>> edges = [ir.Edge(x.id, y.id, t) for x, y in zip(nodes, nodes[1:])]
    >>> calls = tuple(ir.Call(b, b, "Block", inputs=(t,), outputs=(t,)) for b in ("a", "b"))
    >>> g = ir.Graph(nodes=tuple(nodes), edges=tuple(edges), calls=calls)
    >>> [n.id for n in open_by_information(g, max_boxes=4).nodes]
    ['a.fc0', 'a.fc1', 'a.fc2', 'b']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable

from drawnet import ir
from drawnet.passes.layers import CONTAINERS, subtree_params


def _call_members(graph: ir.Graph) -> dict[str, list[int]]:
    """For each call id, the indices of the nodes drawn inside it (by scope)."""
    members: dict[str, list[int]] = {}
    for i, n in enumerate(graph.nodes):
        for c in n.scope:
            members.setdefault(c, []).append(i)
    return members


def _relative(text: str, base: str) -> str:
    if base and text.startswith(base):
        return text[len(base):]
    return text


def loose_signature(graph: ir.Graph, call: ir.Call, members: list[int]) -> Hashable:
    """The structure of one module call, without shapes, widths, strides or costs.

    Two calls with the same loose signature hold the same kinds of layers wired the same
    way; one drawn open tells how the other works.
    """
    index = {graph.nodes[i].id: k for k, i in enumerate(members)}
    repeats = {c.id: c.repeat for c in graph.calls if c.repeat > 1}
    items = []
    for i in members:
        n = graph.nodes[i]
        inner = n.scope[n.scope.index(call.id) + 1:] if call.id in n.scope else ()
        # how often nested blocks repeat is structure (a stage of 3 blocks is not one of
        # 4); the call's own repeat count is not
        items.append((n.kind, n.class_name, n.op, n.attr("fused"), n.repeat,
                      _relative(n.module_path, call.path),
                      tuple((_relative(c, call.id), repeats.get(c, 1)) for c in inner)))
    inner_edges = sorted((index[e.src], index[e.dst]) for e in graph.edges
                         if e.src in index and e.dst in index)
    return (call.class_name, tuple(items), tuple(inner_edges))


def close_calls(graph: ir.Graph, call_ids: Iterable[str]) -> ir.Graph:
    """Draw each of these module calls as one ``block`` box (outermost wins when nested).

    The box keeps the call's id, path, class, inputs and outputs, the parameters of the
    module's whole subtree, the summed MACs and FLOPs, the module's attributes plus a
    ``summary`` of what it holds, and ``repeat`` from the call (a closed ×N block).
    """
    closing = set(call_ids)
    if not closing:
        return graph
    calls = {c.id: c for c in graph.calls}
    modules = {m.path: m for m in graph.modules}
    subtree = subtree_params(graph.modules)
    box_of: dict[str, str] = {}
    groups: dict[str, list[ir.Node]] = {}
    order: list[str] = []
    singles: dict[str, ir.Node] = {}
    for n in graph.nodes:
        box = next((c for c in n.scope if c in closing), None)
        if box is None and n.id in closing:
            box = n.id
        if box is None:
            box_of[n.id] = n.id
            singles[n.id] = n
            order.append(n.id)
            continue
        box_of[n.id] = box
        if box not in groups:
            groups[box] = []
            order.append(box)
        groups[box].append(n)
    merged: dict[str, ir.Node] = {}
    for box, inside in groups.items():
        call = calls.get(box)
        first = inside[0]
        path = call.path if call else first.module_path
        info = modules.get(path)
        cls = call.class_name if call else first.class_name
        scope = first.scope[: first.scope.index(box)] if box in first.scope else first.scope
        folded: list[str] = []
        for m in inside:
            folded.extend(m.folded or (m.id,))
        attrs = dict(info.attrs) if info else {}
        attrs["summary"] = block_summary(inside, call)
        merged[box] = ir.Node(
            id=box, kind="block", op=cls, module_path=path, class_name=cls,
            inputs=call.inputs if call else first.inputs,
            outputs=call.outputs if call else inside[-1].outputs,
            params=subtree.get(path, sum(m.params for m in inside)),
            macs=sum(m.macs for m in inside), flops=sum(m.flops for m in inside),
            attrs=ir.attrs(**attrs), folded=tuple(folded), scope=scope,
            repeat=call.repeat if call else 1,
        )
    nodes = [singles[k] if k in singles else merged[k] for k in order]
    edges = ir.remap_edges(graph.edges, box_of)
    return graph.replace(nodes=ir.topo_sort(nodes, edges), edges=edges)


def open_by_information(graph: ir.Graph, *, max_boxes: int) -> ir.Graph:
    """Draw one block of each kind open and the others closed, then close more until the
    picture has at most ``max_boxes`` nodes (see the module docstring for the order).

    ``graph.meta`` gets a ``note`` saying how many modules were closed and why.
    """
    calls = {c.id: c for c in graph.calls}
    members = _call_members(graph)
    children: dict[str, list[str]] = {}
    for c in graph.calls:
        if c.id in members and len(members[c.id]) >= 2:
            children.setdefault(c.parent if c.parent in members else "", []).append(c.id)
    for kids in children.values():
        kids.sort(key=lambda k: members[k][0])

    # 1. one open block of each kind: the one that shows the most, the rest closed
    own = {c for n in graph.nodes for c in n.scope[-1:]} | {n.id for n in graph.nodes}

    def is_container(call_id: str) -> bool:
        # a Sequential of stages: its children say more than one box would (a frame says
        # how many blocks a stage repeats), so it is opened and its children judged
        return call_id not in own and (len(children.get(call_id, ())) >= 2 or (
            calls[call_id].class_name in CONTAINERS and bool(children.get(call_id))))

    def kind_of(call: ir.Call) -> Hashable:
        if call.class_name in CONTAINERS:
            return loose_signature(graph, call, members[call.id])
        return call.class_name

    order: list[str] = []
    depth_of: dict[str, int] = {}
    stack = [(k, 1) for k in reversed(children.get("", []))]
    while stack:
        k, d = stack.pop()
        order.append(k)
        depth_of[k] = d
        stack.extend((c, d + 1) for c in reversed(children.get(k, [])))
    parent_of = {k: p for p, kids in children.items() for k in kids}
    by_kind: dict[Hashable, list[str]] = {}
    for k in order:
        if not is_container(k):
            by_kind.setdefault(kind_of(calls[k]), []).append(k)
    chosen: set[str] = set()

    def shown(call_id: str) -> bool:
        """Whether every block around this call is open (so opening it shows it)."""
        p = parent_of.get(call_id, "")
        while p:
            if not is_container(p) and p not in chosen:
                return False
            p = parent_of.get(p, "")
        return True

    for kind in sorted(by_kind, key=lambda kd: min(depth_of[k] for k in by_kind[kd])):
        ids = by_kind[kind]
        best = max(ids, key=lambda k: (shown(k), len(members[k]), calls[k].repeat > 1,
                                       -order.index(k)))
        chosen.add(best)
    redundant: list[str] = []

    def visit(call_id: str) -> None:
        for child in children.get(call_id, []):
            if is_container(child) or child in chosen:
                visit(child)
            else:
                redundant.append(child)

    visit("")
    out = close_calls(graph, redundant) if redundant else graph
    closed = len(redundant)
    notes = []
    if redundant:
        notes.append(f"{closed} module{'s' if closed > 1 else ''} drawn as one box each: a "
                      "module of the same kind is drawn open")

    # 2. still too many, or a node fed by too many others to read (DenseNet's layers
    # each take every earlier one): close the deepest modules, stages last
    extra = 0
    while len(out.nodes) > max_boxes or max_fan_in(out) > MAX_FAN_IN:
        nxt = next_to_close(out)
        if not nxt:
            break
        out = close_calls(out, nxt)
        extra += len(nxt)
    if extra:
        notes.append(f"{extra} more module{'s' if extra > 1 else ''} drawn as one box each "
                     f"to stay within max_boxes={max_boxes} and {MAX_FAN_IN} inputs a box "
                     "(pass depth=None to open all)")
    out = merge_equal_boxes(out)
    return out.replace(meta=(*out.meta, *(("note", n) for n in notes)))


MAX_FAN_IN = 6
"""The most edges a box may take in before its module is drawn closed."""


def max_fan_in(graph: ir.Graph) -> int:
    """The most edges any node takes in.

    Example:
        >>> g = ir.Graph(nodes=tuple(ir.Node(id=k, kind="function", op="x") for k in "abc"),
        ...              edges=(ir.Edge("a", "c"), ir.Edge("b", "c")))
        >>> max_fan_in(g)
        2
    """
    fan: dict[str, int] = {}
    for e in graph.edges:
        fan[e.dst] = fan.get(e.dst, 0) + 1
    return max(fan.values(), default=0)


def next_to_close(graph: ir.Graph) -> list[str]:
    """The open module calls to close next: the deepest, then the one with the most boxes
    inside; plain containers (Sequential stages, whose frames say how many blocks they
    hold) only when nothing else is left, and then every stage of that parent and class
    at once, so the picture stays even; [] when nothing is left to close."""
    members = _call_members(graph)
    open_calls = [c for c in graph.calls if len(members.get(c.id, ())) >= 2]
    if not open_calls:
        return []
    innermost = {n.scope[-1] for n in graph.nodes if n.scope}

    def container(c: ir.Call) -> bool:
        return c.class_name in CONTAINERS or c.id not in innermost

    blocks = [c for c in open_calls if not container(c)]
    best = max(blocks or open_calls,
               key=lambda c: (c.depth, len(members[c.id]), -members[c.id][0]))
    if blocks:
        return [best.id]
    return [c.id for c in open_calls
            if c.parent == best.parent and c.class_name == best.class_name]


def _same_box(a: ir.Node, b: ir.Node) -> bool:
    return (a.kind == b.kind == "block" and a.scope == b.scope and a.class_name == b.class_name
            and a.attr("summary") == b.attr("summary") and a.inputs == b.inputs
            and a.outputs == b.outputs and a.params == b.params and a.macs == b.macs)


def merge_equal_boxes(graph: ir.Graph) -> ir.Graph:
    """Draw a chain of closed boxes that read the same as one box marked ×N.

    Blocks that differ inside only in settings a closed box does not show (Swin's
    alternating window shift) are not collapsed as identical blocks, but once each is
    one box with the same class, description, shapes, parameters and MACs, a row of
    them says no more than one box marked ×N.

    Example:
        >>> t = ir.TensorMeta((1, 4))
        >>> box = lambda i: ir.Node(id=f"b.{i}", kind="block", op="Blk", class_name="Blk",
        ...                         module_path=f"b.{i}", inputs=(t,), outputs=(t,))
        >>> g = ir.Graph(nodes=tuple(box(i) for i in range(3)),
        ...              edges=(ir.Edge("b.0", "b.1", t), ir.Edge("b.1", "b.2", t)),
        ...              calls=tuple(ir.Call(f"b.{i}", f"b.{i}", "Blk") for i in range(3)))
        >>> out = merge_equal_boxes(g)
        >>> [(n.id, n.repeat) for n in out.nodes], out.calls[0].last_path
        ([('b.0', 3)], 'b.2')
    """
    succ = graph.successors()
    pred = graph.predecessors()
    by_id = {n.id: n for n in graph.nodes}
    calls = {c.id: c for c in graph.calls}
    into: dict[str, str] = {}
    repeat: dict[str, int] = {}
    last: dict[str, str] = {}
    for n in graph.nodes:
        if n.id in into or n.kind != "block":
            continue
        head, cur = n.id, n
        while len(succ.get(cur.id, [])) == 1:
            nxt = by_id[succ[cur.id][0]]
            if pred.get(nxt.id) != [cur.id] or not _same_box(n, nxt):
                break
            into[nxt.id] = head
            repeat[head] = repeat.get(head, n.repeat) + nxt.repeat
            last[head] = calls[nxt.id].last_path or nxt.module_path if nxt.id in calls \
                else nxt.module_path
            cur = nxt
    if not into:
        return graph
    nodes = [n.replace(repeat=repeat[n.id]) if n.id in repeat else n
             for n in graph.nodes if n.id not in into]
    edges = ir.remap_edges(graph.edges, into)
    new_calls = []
    for c in graph.calls:
        if c.id in into:
            continue
        if c.id in repeat:
            c = dataclasses.replace(c, repeat=repeat[c.id], last_path=last[c.id])
        new_calls.append(c)
    return graph.replace(nodes=tuple(nodes), edges=edges, calls=tuple(new_calls))


# -- what a closed box holds ---------------------------------------------------------------

_ATTENTION_OPS = frozenset({"scaled_dot_product_attention", "softmax"})


def _width(metas: tuple[ir.TensorMeta, ...], widths: set[int]) -> tuple[int | None, int | None]:
    """(channels or features, spatial size) of the first tensor: NCHW, NHWC, NLC or N×F.

    A 4-d tensor is channels-last when its last size, not its second, is a width some
    layer inside takes (``widths``).
    """
    if not metas:
        return None, None
    shape = metas[0].shape
    if len(shape) == 4:
        if shape[-1] in widths and shape[1] not in widths:
            return shape[-1], shape[1]
        return shape[1], shape[2]
    if len(shape) in (2, 3):
        return shape[-1], None
    return None, None


def block_summary(inside: list[ir.Node], call: ir.Call | None) -> str:
    """What a closed module holds, in a few words: ``64→128 /2 · 1×1 · dw 3×3 · SE``.

    Widths and the spatial stride come from the call's first input and output; the rest
    from the layers inside: depthwise and other kernels, the expansion factor of an
    inverted bottleneck, squeeze-excitation, attention (with its heads when known) and an
    MLP's hidden width.

    Example:
        >>> t_in, t_out = ir.TensorMeta((1, 24, 56, 56)), ir.TensorMeta((1, 32, 28, 28))
        >>> conv = lambda i, k, g, cin, cout, s: ir.Node(
        ...     id=f"c{i}", kind="module", op="Conv2d", class_name="Conv2d", attrs=ir.attrs(
        ...         kernel_size=(k, k), groups=g, in_channels=cin, out_channels=cout,
        ...         stride=(s, s)))
        >>> inside = [conv(0, 1, 1, 24, 144, 1), conv(1, 3, 144, 144, 144, 2),
        ...           conv(2, 1, 1, 144, 32, 1)]
        >>> block_summary(inside, ir.Call("f", "f", "InvertedResidual", inputs=(t_in,),
        ...                               outputs=(t_out,)))
        '24→32 /2 · ×6 expand · dw 3×3'
    """
    parts: list[str] = []
    widths: set[int] = set()
    for n in inside:
        for key in ("in_channels", "in_features", "num_features", "normalized_shape",
                    "out_channels", "out_features", "embed_dim"):
            v = n.attr(key)
            if isinstance(v, int):
                widths.add(v)
            elif isinstance(v, tuple) and len(v) == 1:
                widths.add(v[0])
    c_in, s_in = _width(call.inputs if call else inside[0].inputs, widths)
    c_out, s_out = _width(call.outputs if call else inside[-1].outputs, widths)
    if c_in and c_out:
        head = f"{c_in}→{c_out}" if c_in != c_out else f"{c_in}"
        if s_in and s_out and s_out < s_in and s_in % s_out == 0:
            head += f" /{s_in // s_out}"
        parts.append(head)
    kernels: list[str] = []
    widest = narrowest = 0
    attention = False
    heads: object = None
    se = False
    for n in inside:
        a = dict(n.attrs)
        cls = n.class_name
        if "SqueezeExcit" in cls or cls in ("SEModule", "SqueezeExcite", "EffectiveSEModule"):
            se = True
        if n.op in _ATTENTION_OPS or "Attention" in cls or "Attn" in cls:
            attention = True
            heads = heads or a.get("num_heads")
        squeezed = bool(s_in) and any(  # a squeeze-excitation's 1×1 gate: not a width
            len(m.shape) == 4 and m.shape[2] == m.shape[3] == 1 for m in n.outputs)
        for key in ("out_channels", "out_features"):
            v = a.get(key)
            if isinstance(v, int) and v not in (c_in, c_out) and not squeezed:
                widest = max(widest, v)
                narrowest = min(narrowest, v) if narrowest else v
        k = a.get("kernel_size")
        groups = a.get("groups")
        if k is not None and n.class_name.startswith("Conv"):
            ks = "×".join(str(x) for x in k) if isinstance(k, tuple) else f"{k}×{k}"
            dw = isinstance(groups, int) and groups > 1 and groups == a.get("in_channels")
            text = f"dw {ks}" if dw else ks
            if text not in kernels and text != "1×1":
                kernels.append(text)
    # squeeze-excitation written with small 1×1 convs inside the block (no SE module)
    pools = sum(1 for n in inside if "pool" in n.op.lower() or "Pool" in n.class_name)
    if not se and pools and any(n.op == "mul" for n in inside) and any(
            "igmoid" in (n.class_name + n.op + str(n.attr("fused"))) for n in inside):
        se = True
    if c_in and c_out and widest > max(c_in, c_out) and not attention:
        ratio = widest / c_in
        parts.append(f"×{ratio:.0f} expand" if ratio == int(ratio) else f"×{ratio:.1f} expand")
    elif c_in and c_out and narrowest and narrowest < min(c_in, c_out):
        parts.append(f"mid {narrowest}")
    parts.extend(kernels[:2])
    if se:
        parts.append("SE")
    if attention:
        parts.append(f"attention, {heads} heads" if isinstance(heads, int) else "attention")
        if widest and c_in and widest > c_in:
            parts.append(f"MLP {c_in}→{widest}")
    # a stage of closed blocks: say which blocks, and how many
    blocks: dict[str, int] = {}
    for n in inside:
        if n.kind == "block" and n.class_name not in CONTAINERS:
            blocks[n.class_name] = blocks.get(n.class_name, 0) + n.repeat
    if blocks and (call is None or call.class_name in CONTAINERS):
        listing = [f"{k} ×{v}" if v > 1 else k for k, v in blocks.items()]
        parts = [*parts[:1], *listing[:2], *(["…"] if len(listing) > 2 else [])]
    return " · ".join(parts)
