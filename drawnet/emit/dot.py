"""Write a layer-level graph as Graphviz DOT text, byte-identical for the same graph.

Node ids come from module paths (percent-encoded outside ``[A-Za-z0-9_.:@#/-]``), labels
are HTML-like and every user string goes through :func:`~drawnet.emit.labels.escape_html`,
attributes are written sorted, and nested module calls become nested clusters.

Example:
    >>> from drawnet import ir
    >>> t = ir.TensorMeta((1, 4))
    >>> g = ir.Graph(nodes=(ir.Node(id="input.x", kind="input", op="input", label="x",
    ...                             outputs=(t,)),
    ...                     ir.Node(id="output", kind="output", op="output", inputs=(t,))),
    ...              edges=(ir.Edge("input.x", "output", t),))
    >>> print(to_dot(g, orientation="TB").splitlines()[0])
    digraph drawnet {
"""

from __future__ import annotations

from collections.abc import Mapping

from drawnet import ir
from drawnet.emit.labels import describe, escape_html, shapes_text, shorten
from drawnet.emit.theme import Theme, family_of, get_theme
from drawnet.errors import choices

ORIENTATIONS = ("LR", "TB")
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@#/-")


def dot_id(node_id: str) -> str:
    """A quoted DOT id, percent-encoding anything outside a small safe set.

    Example:
        >>> dot_id('blocks.0:add')
        '"blocks.0:add"'
        >>> dot_id('my "odd" name')
        '"my%20%22odd%22%20name"'
    """
    parts = []
    for ch in node_id:
        if ch in _SAFE:
            parts.append(ch)
        else:
            parts.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return '"' + "".join(parts) + '"'


def _value(v: str | float | int) -> str:
    if isinstance(v, str) and v.startswith("<") and v.endswith(">"):
        return v  # an HTML-like label, already escaped
    text = f"{v:g}" if isinstance(v, float) else str(v)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attrs: Mapping[str, str | float | int]) -> str:
    return ", ".join(f"{k}={_value(attrs[k])}" for k in sorted(attrs))


def _font(text: str, size: float, color: str | None = None) -> str:
    colour = f' COLOR="{color}"' if color else ""
    return f'<FONT POINT-SIZE="{size:g}"{colour}>{text}</FONT>'


def node_label(node: ir.Node, theme: Theme) -> str:
    """The HTML-like label of one node (already escaped)."""
    small, muted = theme.small_fontsize, theme.muted_color
    if node.kind in ("input", "output"):
        metas = node.outputs if node.kind == "input" else node.inputs
        name = node.label or node.kind
        title = node.kind if name == node.kind else f"{node.kind}: {name}"
        lines = [f"<B>{escape_html(shorten(title))}</B>"]
        if metas:
            lines.append(_font(escape_html(shapes_text(metas)), small, muted))
        return "<" + "<BR/>".join(lines) + ">"
    if node.kind == "function":
        lines = [escape_html(shorten(node.label or node.op))]
        if node.outputs:
            lines.append(_font(escape_html(shapes_text(node.outputs)), small, muted))
        return "<" + "<BR/>".join(lines) + ">"
    title = node.module_path or node.class_name
    if "@" in node.id:
        title += f" (call {node.id.rsplit('@', 1)[1]})"
    if node.repeat > 1:
        title += f"  ×{node.repeat}"
    desc = describe(node.class_name, dict(node.attrs))
    second = node.class_name + (f" · {desc}" if desc else "")
    lines = [f"<B>{escape_html(shorten(title))}</B>", _font(escape_html(shorten(second)), small)]
    if node.outputs:
        lines.append(_font(escape_html(shapes_text(node.outputs)), small, muted))
    return "<" + "<BR/>".join(lines) + ">"


def node_attrs(node: ir.Node, theme: Theme) -> dict[str, str | float | int]:
    """Style attributes of one node."""
    out: dict[str, str | float | int] = {"label": node_label(node, theme)}
    if node.kind in ("input", "output"):
        out["fillcolor"] = theme.io_fill
        out["shape"] = "box"
        out["style"] = "rounded,filled,bold"
    elif node.kind == "function":
        out["fillcolor"] = theme.function_fill
        out["fontsize"] = theme.small_fontsize
        out["margin"] = "0.06,0.02"
        out["height"] = 0.3
    else:
        family = "block" if node.kind == "block" else family_of(node.class_name)
        out["fillcolor"] = theme.fill_for(family)
        if node.kind == "block":
            out["style"] = "rounded,filled,bold"
    return out


def _cluster_tree(graph: ir.Graph) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Which cluster (call id, '' = top) holds each node and each child cluster, in order."""
    counts: dict[str, int] = {}
    for n in graph.nodes:
        for c in n.scope:
            counts[c] = counts.get(c, 0) + 1
    kept = {c for c, k in counts.items() if k >= 2}
    members: dict[str, list[str]] = {"": []}
    children: dict[str, list[str]] = {"": []}
    for n in graph.nodes:
        chain = [c for c in n.scope if c in kept]
        parent = ""
        for c in chain:
            if c not in children:
                children[c] = []
                members[c] = []
                children[parent].append(c)
            parent = c
        members[parent].append(n.id)
    return members, children


def to_dot(
    graph: ir.Graph,
    *,
    orientation: str = "LR",
    theme: str | Theme = "default",
    clusters: bool = True,
    title: str | None = None,
) -> str:
    """Write ``graph`` as DOT text for ``dot`` (``orientation`` 'LR' or 'TB')."""
    if orientation not in ORIENTATIONS:
        raise choices(orientation, ORIENTATIONS, "orientation")
    th = get_theme(theme)
    graph_attrs: dict[str, str | float | int] = {
        "bgcolor": th.background, "fontcolor": th.text_color, "fontname": th.fontname,
        "fontsize": th.fontsize, "newrank": "true", "nodesep": 0.22, "pad": 0.15,
        "rankdir": orientation, "ranksep": 0.3 if orientation == "LR" else 0.25,
    }
    if title:
        graph_attrs["label"] = "<" + f"<B>{escape_html(title)}</B>" + ">"
        graph_attrs["labelloc"] = "t"
    node_defaults: dict[str, str | float | int] = {
        "color": th.border_color, "fontcolor": th.text_color, "fontname": th.fontname,
        "fontsize": th.fontsize, "margin": "0.1,0.04", "penwidth": 0.8, "shape": "box",
        "style": "rounded,filled",
    }
    edge_defaults: dict[str, str | float | int] = {
        "arrowsize": 0.6, "color": th.edge_color, "fontcolor": th.muted_color,
        "fontname": th.fontname, "fontsize": th.small_fontsize, "penwidth": 0.8,
    }
    lines = ["digraph drawnet {", f"  graph [{_attrs(graph_attrs)}];",
             f"  node [{_attrs(node_defaults)}];", f"  edge [{_attrs(edge_defaults)}];"]
    by_id = {n.id: n for n in graph.nodes}
    calls = {c.id: c for c in graph.calls}
    if clusters:
        members, children = _cluster_tree(graph)
    else:
        members, children = {"": [n.id for n in graph.nodes]}, {"": []}
    counter = iter(range(1_000_000))

    def emit(cluster: str, indent: str) -> None:
        for node_id in members.get(cluster, []):
            lines.append(f"{indent}{dot_id(node_id)} [{_attrs(node_attrs(by_id[node_id], th))}];")
        for child in children.get(cluster, []):
            call = calls.get(child)
            path = call.path if call else child.split("@", 1)[0]
            name = path + (f" (call {child.rsplit('@', 1)[1]})" if "@" in child else "")
            cls = call.class_name if call else graph.class_of(path)
            text = shorten(name) + (f" · {cls}" if cls else "")
            attrs: dict[str, str | float | int] = {
                "color": th.cluster_color, "fontcolor": th.muted_color,
                "fontsize": th.small_fontsize, "label": "<" + escape_html(text) + ">",
                "labeljust": "l", "margin": 6, "penwidth": 0.7, "style": "rounded",
            }
            lines.append(f"{indent}subgraph cluster_{next(counter)} {{")
            lines.append(f"{indent}  graph [{_attrs(attrs)}];")
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit("", "  ")
    for e in graph.edges:
        lines.append(f"  {dot_id(e.src)} -> {dot_id(e.dst)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
