"""Write the layer graph, its module tree and statistics as a documented JSON document.

The document (format ``drawnet.graph``, see ``docs/json-format.md``) is what the
interactive HTML view reads, and what other tools can read: it holds the *full-depth*
layer graph (every leaf-module call one box, chains folded, nothing collapsed), each box's
module scope, the tree of module calls with their whole-subtree statistics, the runs of
identical blocks, and the state of the default picture (which calls are open, which runs
are drawn once as ×N). From these, any expansion state can be drawn without Python: a
box stands for the outermost closed call on its scope, or for itself.

Nothing is counted here: node figures come from the passes, call figures are sums of the
op graph's per-op counts and of the module tree's per-module parameters, as in
:mod:`drawnet.summary`. Output is deterministic (sorted keys, graph order).

Example:
    >>> from drawnet import ir
    >>> t = ir.TensorMeta((1, 4))
    >>> g = ir.Graph(
    ...     nodes=(ir.Node(id="input.x", kind="input", op="input", label="x", outputs=(t,)),
    ...            ir.Node(id="fc", kind="module", op="Linear", module_path="fc",
    ...                    class_name="Linear", inputs=(t,), outputs=(t,), params=20, macs=16),
    ...            ir.Node(id="output", kind="output", op="output", inputs=(t,))),
    ...     edges=(ir.Edge("input.x", "fc", t), ir.Edge("fc", "output", t)),
    ...     modules=(ir.ModuleInfo("", "Net", is_leaf=False), ir.ModuleInfo("fc", "Linear")),
    ...     calls=(ir.Call("fc", "fc", "Linear", inputs=(t,), outputs=(t,)),),
    ...     totals=ir.Totals(params=20, macs=16))
    >>> doc = to_document(g, g, g)
    >>> doc["format"], doc["version"], [n["id"] for n in doc["nodes"]]
    ('drawnet.graph', 1, ['input.x', 'fc', 'output'])
    >>> doc["nodes"][1]["share"]["params"]
    1.0
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from drawnet import ir
from drawnet.emit.dot import COLOR_BY, ORIENTATIONS, Style, _size, fitted_theme, label_lines
from drawnet.emit.fit import Fit, get_fit
from drawnet.emit.labels import op_label, path_range, shorten
from drawnet.emit.theme import FAMILIES, Theme, family_of
from drawnet.errors import choices
from drawnet.passes.layers import CONTAINERS
from drawnet.passes.repeats import find_runs

__all__ = ["FORMAT", "VERSION", "default_state", "to_document", "to_json"]

FORMAT = "drawnet.graph"
VERSION = 1


def _tensors(metas: Iterable[ir.TensorMeta]) -> list[dict[str, Any]]:
    return [{"shape": list(m.shape), "dtype": m.dtype} for m in metas]


def _attr_value(v: ir.AttrValue) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _attrs(attrs: Iterable[tuple[str, ir.AttrValue]]) -> dict[str, Any]:
    return {k: _attr_value(v) for k, v in attrs}


def _inches(size: tuple[float, float]) -> list[float]:
    return [round(size[0], 3), round(size[1], 3)]


def _share(value: int, total: int) -> float:
    return round(value / total, 6) if total else 0.0


def _shares(params: int, macs: int, flops: int, totals: ir.Totals) -> dict[str, float]:
    return {"params": _share(params, totals.params), "macs": _share(macs, totals.macs),
            "flops": _share(flops, totals.flops)}


def _theme(th: Theme) -> dict[str, Any]:
    return {
        "name": th.name, "fontname": th.fontname, "fontsize": th.fontsize,
        "small_fontsize": th.small_fontsize, "background": th.background,
        "edge_color": th.edge_color, "text_color": th.text_color,
        "muted_color": th.muted_color, "border_color": th.border_color,
        "cluster_color": th.cluster_color, "cluster_fill": th.cluster_fill,
        "io_fill": th.io_fill, "function_fill": th.function_fill,
        "heat_color": th.heat_color, "fills": {f: th.fill_for(f) for f in FAMILIES},
    }


def _family(node: ir.Node) -> str:
    if node.kind in ("input", "output"):
        return "io"
    if node.kind == "function":
        return "function"
    return "block" if node.kind == "block" else family_of(node.class_name)


def _subtree(modules: Sequence[ir.ModuleInfo]) -> dict[str, tuple[int, int, int]]:
    """(params, trainable params, param bytes) of every module's whole subtree."""
    out: dict[str, list[int]] = {}
    for m in modules:
        if not (m.params or m.trainable_params or m.param_bytes):
            continue
        parts = m.path.split(".") if m.path else []
        for i in range(len(parts) + 1):
            acc = out.setdefault(".".join(parts[:i]), [0, 0, 0])
            acc[0] += m.params
            acc[1] += m.trainable_params
            acc[2] += m.param_bytes
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def _call_work(ops: ir.Graph) -> dict[str, tuple[int, int]]:
    """(MACs, FLOPs) of everything each call ran, from the op graph's per-op counts."""
    out: dict[str, list[int]] = {}
    for n in ops.nodes:
        if not (n.macs or n.flops):
            continue
        for c in n.scope:
            acc = out.setdefault(c, [0, 0])
            acc[0] += n.macs
            acc[1] += n.flops
    return {k: (v[0], v[1]) for k, v in out.items()}


def _leaf_calls(full: ir.Graph, ops: ir.Graph) -> dict[str, list[str]]:
    """For each full-depth box, the leaf-module calls it stands for (a folded chain: several)."""
    call_ids = {c.id for c in full.calls}
    innermost = {n.id: (n.scope[-1] if n.scope else "") for n in ops.nodes}
    out: dict[str, list[str]] = {}
    for n in full.nodes:
        if n.kind not in ("module", "block"):
            continue
        found: list[str] = [n.id] if n.id in call_ids else []
        for op in n.folded:
            c = innermost.get(op, "")  # ops grouped in from around the box are not its calls
            if c and c in call_ids and c not in found and c not in n.scope:
                found.append(c)
        out[n.id] = found
    return out


def _frame_text(call: ir.Call, run_last: str = "", repeat: int = 1) -> str:
    """A frame's title as the DOT emitter writes it: ``layer1.0 · BasicBlock``."""
    name = call.path + (f" (call {call.id.rsplit('@', 1)[1]})" if "@" in call.id else "")
    cls = call.class_name
    if repeat > 1:
        name = path_range(call.path, run_last)
        cls += f" ×{repeat}"
    return shorten(name) + (f" · {cls}" if cls else "")


def _box_node(call: ir.Call, info: ir.ModuleInfo | None, leaf: bool, params: int,
              work: tuple[int, int], repeat: int = 1) -> ir.Node:
    """The box a closed call is drawn as (what ``build_layers`` makes at its depth)."""
    return ir.Node(
        id=call.id, kind="module" if leaf else "block", op=call.class_name,
        module_path=call.path, class_name=call.class_name, inputs=call.inputs,
        outputs=call.outputs, params=params, macs=work[0], flops=work[1],
        attrs=info.attrs if info else (), repeat=repeat,
    )


def _substitute(node_id: str, old: str, new: str) -> str | None:
    """``node_id`` with the module path ``old`` at its front replaced by ``new``."""
    if node_id == old:
        return new
    if node_id.startswith(old) and node_id[len(old)] in ".:@#":
        return new + node_id[len(old):]
    return None


def _check_run(run: Sequence[ir.Call], members: Mapping[str, list[str]],
               node_ids: set[str]) -> bool:
    """Whether every drawn node of each copy has its counterpart in the first copy."""
    first = run[0].path
    if len({c.path for c in run}) != len(run):
        return False  # one module called again and again: no paths to tell copies apart
    for call in run[1:]:
        for node_id in members.get(call.id, []):
            twin = _substitute(node_id, call.path, first)
            if twin is None or twin not in node_ids:
                return False
    return True


def _runs(view: ir.Graph, full: ir.Graph) -> list[tuple[str, ...]]:
    """Runs of identical blocks: those found at full depth, and those the picture collapsed.

    A run the default picture collapsed at a coarser depth is listed too (its copies are
    the sibling calls from the first to ``last_path``), if its copies still match node by
    node at full depth.
    """
    runs = find_runs(full)
    starts = {r[0] for r in runs}
    calls = {c.id: c for c in full.calls}
    members: dict[str, list[str]] = {}
    for n in full.nodes:
        for c in n.scope:
            members.setdefault(c, []).append(n.id)
    node_ids = {n.id for n in full.nodes}
    for rolled in view.calls:
        if rolled.repeat <= 1 or rolled.id in starts or rolled.id not in calls:
            continue
        siblings = [s for s in full.calls if s.parent == rolled.parent]
        start = [s.id for s in siblings].index(rolled.id)
        end = next((i for i in range(start, len(siblings))
                    if siblings[i].path == rolled.last_path), None)
        if end is None or end == start:
            continue
        run = siblings[start:end + 1]
        if _check_run(run, members, node_ids):
            runs.append(tuple(s.id for s in run))
    return runs


def default_state(view: ir.Graph, full: ir.Graph, runs: Sequence[Sequence[str]]) -> tuple[
    list[str], list[int]
]:
    """The expansion state that draws ``view`` from ``full``: open call ids and rolled runs.

    A call is open when a box of ``view`` sits inside it; a run is rolled (drawn once,
    ×N) when ``view`` collapsed it. Inside a rolled run, every copy gets the state of the
    copy drawn (its open calls and rolled inner runs), so any copy shown looks the same.

    Example:
        >>> from drawnet import ir
        >>> n = ir.Node(id="a.fc", kind="module", op="Linear", scope=("a",))
        >>> g = ir.Graph(nodes=(n,), calls=(ir.Call("a", "a", "Seq"),
        ...                                 ir.Call("a.fc", "a.fc", "Linear")))
        >>> default_state(g, g, [])
        (['a'], [])
    """
    open_ids: set[str] = set()
    for n in view.nodes:
        open_ids.update(n.scope)
    repeated = {c.id for c in view.calls if c.repeat > 1}
    paths = {c.id: c.path for c in full.calls}
    starts = {run[0]: i for i, run in enumerate(runs)}
    rolled = {i for i, run in enumerate(runs) if run[0] in repeated}
    changed = True
    while changed:  # outer runs hand their first copy's state to the other copies
        changed = False
        for i in sorted(rolled):
            first = paths.get(runs[i][0], runs[i][0])
            for copy in runs[i][1:]:
                path = paths.get(copy, copy)
                for c in [c for c in open_ids if _substitute(c, first, first) is not None]:
                    twin = _substitute(c, first, path)
                    if twin is not None and twin in paths and twin not in open_ids:
                        open_ids.add(twin)
                        changed = True
                for j, run in enumerate(runs):
                    origin = _substitute(run[0], path, first)
                    if (j not in rolled and origin is not None and origin in starts
                            and starts[origin] in rolled):
                        rolled.add(j)
                        changed = True
    return [c.id for c in full.calls if c.id in open_ids], sorted(rolled)


def to_document(
    view: ir.Graph,
    full: ir.Graph,
    ops: ir.Graph,
    *,
    orientation: str = "LR",
    theme: str | Theme = "default",
    color_by: str = "family",
    show_params: bool = False,
    show_macs: bool = False,
    clusters: bool = True,
    wrap: bool = True,
    legend: bool | None = None,
    title: str | None = None,
    fit: str | Fit = "notebook",
    source: str | None = None,
) -> dict[str, Any]:
    """The JSON document as plain Python values (see the module docstring).

    ``view`` is the layer graph of the default picture, ``full`` the same model's layer
    graph at full depth with the same folding and nothing collapsed, ``ops`` the op-level
    graph both came from. The keyword options are those the picture was drawn with;
    ``source``, the picture's DOT text, goes in the document so that a reader draws the
    first picture exactly as drawnet did.
    """
    if orientation not in ORIENTATIONS:
        raise choices(orientation, ORIENTATIONS, "orientation")
    if color_by not in COLOR_BY:
        raise choices(color_by, COLOR_BY, "color_by")
    place = get_fit(fit)
    th = fitted_theme(theme, place)
    style = Style(th, show_params=show_params, show_macs=show_macs, color_by=color_by)
    totals = ops.totals
    modules = {m.path: m for m in ops.modules}
    subtree = _subtree(ops.modules)
    work = _call_work(ops)
    leaf_calls = _leaf_calls(full, ops)
    calls = {c.id: c for c in full.calls}
    op_by_id = {n.id: n for n in ops.nodes}
    has_members: set[str] = set()
    for n in full.nodes:
        has_members.update(n.scope)

    nodes: list[dict[str, Any]] = []
    for n in full.nodes:
        members = leaf_calls.get(n.id, [])
        param_bytes = sum(subtree.get(calls[c].path, (0, 0, 0))[2] for c in members)
        read = sum(t.nbytes for t in n.inputs) + param_bytes
        entry: dict[str, Any] = {
            "id": n.id, "kind": n.kind, "op": n.op, "path": n.module_path,
            "class": n.class_name, "scope": list(n.scope), "calls": members,
            "inputs": _tensors(n.inputs), "outputs": _tensors(n.outputs),
            "params": n.params, "macs": n.macs, "flops": n.flops,
            "memory": {"read": read, "written": sum(t.nbytes for t in n.outputs),
                       "param_bytes": param_bytes},
            "share": _shares(n.params, n.macs, n.flops, totals),
            "attrs": _attrs(n.attrs), "family": _family(n),
            "label": [list(line) for line in label_lines(n, style, calls.get(n.id))],
            "size": _inches(_size(n, style, calls.get(n.id))),
        }
        if n.kind == "function":
            entry["op_label"] = op_label(n.op)
        if n.label:
            entry["name"] = n.label
        if n.kind == "function" and n.folded:
            entry["ops"] = [op_by_id[o].op for o in n.folded if o in op_by_id]
        nodes.append(entry)

    call_entries: list[dict[str, Any]] = []
    for c in full.calls:
        if c.path == "":
            continue
        info = modules.get(c.path)
        leaf = info.is_leaf if info is not None else True
        params, trainable, param_bytes = subtree.get(c.path, (0, 0, 0))
        macs, flops = work.get(c.id, (0, 0))
        entry = {
            "id": c.id, "path": c.path, "class": c.class_name, "parent": c.parent,
            "depth": c.depth, "leaf": leaf, "inputs": _tensors(c.inputs),
            "outputs": _tensors(c.outputs), "params": params, "trainable_params": trainable,
            "macs": macs, "flops": flops,
            "memory": {"read": sum(t.nbytes for t in c.inputs) + param_bytes,
                       "written": sum(t.nbytes for t in c.outputs), "param_bytes": param_bytes},
            "share": _shares(params, macs, flops, totals),
            "attrs": _attrs(info.attrs) if info else {},
            "frame": _frame_text(c),
        }
        if c.id in has_members:
            box = _box_node(c, info, leaf, params, (macs, flops))
            entry["label"] = [list(line) for line in label_lines(box, style, c)]
            entry["size"] = _inches(_size(box, style, c))
            entry["family"] = _family(box)
        call_entries.append(entry)

    runs = _runs(view, full)
    run_entries: list[dict[str, Any]] = []
    for run in runs:
        first, last = calls[run[0]], calls[run[-1]]
        info = modules.get(first.path)
        leaf = info.is_leaf if info is not None else True
        params = subtree.get(first.path, (0, 0, 0))[0]
        rolled_call = ir.Call(first.id, first.path, first.class_name, first.parent,
                              first.inputs, last.outputs, len(run), last.path)
        box = _box_node(rolled_call, info, leaf, params, work.get(first.id, (0, 0)),
                        repeat=len(run))
        run_entries.append({
            "calls": list(run), "paths": [calls[c].path for c in run], "class": first.class_name,
            "frame": _frame_text(first, last.path, len(run)),
            "label": [list(line) for line in label_lines(box, style, rolled_call)],
            "size": _inches(_size(box, style, rolled_call)),
        })

    open_ids, rolled = default_state(view, full, runs)
    module_entries = [
        {"path": m.path, "class": m.class_name, "params": m.params,
         "trainable_params": m.trainable_params, "buffers": m.buffers,
         "param_bytes": m.param_bytes, "buffer_bytes": m.buffer_bytes, "calls": m.calls,
         "leaf": m.is_leaf, "attrs": _attrs(m.attrs)}
        for m in ops.modules
    ]
    inputs = [t for n in ops.nodes if n.kind == "input" for t in n.outputs]
    outputs = [t for n in ops.nodes if n.kind == "output" for t in n.inputs]
    from drawnet import __version__

    return {
        "format": FORMAT,
        "version": VERSION,
        "generator": f"drawnet {__version__}",
        "model": ops.get_meta("model") or (ops.modules[0].class_name if ops.modules else ""),
        "tracer": ops.get_meta("tracer"),
        "notes": [v for k, v in view.meta if k == "note"],
        "totals": {
            "params": totals.params, "trainable_params": totals.trainable_params,
            "buffers": totals.buffers, "param_bytes": totals.param_bytes,
            "buffer_bytes": totals.buffer_bytes, "macs": totals.macs, "flops": totals.flops,
            "input_bytes": sum(t.nbytes for t in inputs),
            "output_bytes": sum(t.nbytes for t in outputs),
        },
        "modules": module_entries,
        "calls": call_entries,
        "runs": run_entries,
        "nodes": nodes,
        "edges": [
            {"src": e.src, "dst": e.dst,
             **({"shape": list(e.tensor.shape), "dtype": e.tensor.dtype} if e.tensor else {})}
            for e in full.edges
        ],
        "view": {
            "open": open_ids, "rolled": rolled,
            "nodes": [n.id for n in view.nodes], "dot": source or "", "fit": place.name,
            "room": {o: [round(x, 3) for x in place.along_across(o)] for o in ORIENTATIONS},
            "containers": sorted(CONTAINERS),
            "orientation": orientation, "color_by": color_by, "show_params": show_params,
            "show_macs": show_macs, "clusters": clusters, "wrap": wrap,
            "legend": legend if legend is not None else (
                th.name != "print" or color_by != "family"),
            "title": title or "", "theme": _theme(th),
        },
    }


def to_json(view: ir.Graph, full: ir.Graph, ops: ir.Graph, *, indent: int | None = None,
            **options: Any) -> str:
    """The JSON text of :func:`to_document`: sorted keys, byte-identical for the same graphs.

    ``indent`` pretty-prints; by default the text is compact. Options are those of
    :func:`to_document`.
    """
    doc = to_document(view, full, ops, **options)
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=indent,
                      separators=separators) + "\n"


def project(
    doc: Mapping[str, Any],
    open_calls: Iterable[str] | None = None,
    rolled: Iterable[int] | None = None,
    shown: Mapping[int, int] | None = None,
) -> tuple[list[str], list[tuple[str, str]], dict[str, list[str]]]:
    """Draw a document in one expansion state: the reference rules a reader follows.

    ``open_calls`` are the call ids drawn open (default: the document's default state),
    ``rolled`` the indices of runs drawn once as ×N, ``shown`` which copy (0-based) each
    rolled run shows (default: the first). Returns the ids of the boxes in graph order
    (a full-depth node's id, or a closed call's id), the edges between them, and each
    box's open frames (call ids, outermost first).

    Rules: walk a node's scope outermost first; inside a rolled run, a node of a copy not
    shown stands for its twin in the copy shown (same id with the copy's path replaced);
    the first closed call on the scope is the box, else the node itself. Edges map to
    boxes; edges inside one box and edges between two copies of a rolled run are dropped.

    Example:
        >>> doc = {"nodes": [{"id": "x", "scope": []}, {"id": "a.fc", "scope": ["a"]}],
        ...        "edges": [{"src": "x", "dst": "a.fc"}],
        ...        "calls": [{"id": "a", "path": "a"}], "runs": [],
        ...        "view": {"open": [], "rolled": []}}
        >>> project(doc)
        (['x', 'a'], [('x', 'a')], {'x': [], 'a': []})
        >>> project(doc, open_calls=["a"])[0]
        ['x', 'a.fc']
    """
    view = doc["view"]
    is_open = set(view["open"] if open_calls is None else open_calls)
    rolled_runs = set(view["rolled"] if rolled is None else rolled)
    shown = shown or {}
    nodes = {n["id"]: n for n in doc["nodes"]}
    paths = {c["id"]: c["path"] for c in doc["calls"]}
    copy_of: dict[str, tuple[int, int]] = {}
    for r, run in enumerate(doc["runs"]):
        if r in rolled_runs:
            for k, c in enumerate(run["calls"]):
                copy_of[c] = (r, k)

    def box(node: Mapping[str, Any]) -> tuple[str, list[str], dict[int, int]]:
        copies: dict[int, int] = {}
        i = 0
        while i < len(node["scope"]):
            c = node["scope"][i]
            if c in copy_of:
                r, k = copy_of[c]
                copies.setdefault(r, k)
                want = shown.get(r, 0)
                if k != want:
                    target = doc["runs"][r]["calls"][want]
                    twin = _substitute(node["id"], paths[c], paths[target])
                    if twin is not None and twin in nodes:
                        node = nodes[twin]
                        continue
            if c not in is_open:
                return c, list(node["scope"][:i]), copies
            i += 1
        return node["id"], list(node["scope"]), copies

    order: list[str] = []
    frames: dict[str, list[str]] = {}
    where: dict[str, tuple[str, dict[int, int]]] = {}
    for n in doc["nodes"]:
        b, chain, copies = box(n)
        where[n["id"]] = (b, copies)
        if b not in frames:
            frames[b] = chain
            order.append(b)
    edges: dict[tuple[str, str], None] = {}
    for e in doc["edges"]:
        (src, cs), (dst, cd) = where[e["src"]], where[e["dst"]]
        if src == dst or any(cd.get(r, k) != k for r, k in cs.items()):
            continue
        edges.setdefault((src, dst), None)
    return order, list(edges), frames
