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

import itertools
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

from drawnet import ir
from drawnet.emit.labels import (
    describe,
    escape_html,
    fused_text,
    human,
    path_range,
    shapes_text,
    shorten,
)
from drawnet.emit.layout import NODESEP, RANKSEP, plan_rows, text_size
from drawnet.emit.theme import FAMILIES, Theme, family_of, get_theme
from drawnet.errors import choices

ORIENTATIONS = ("LR", "TB")
COLOR_BY = ("family", "macs", "params", "flops")
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@#/-")


FAILED_COLOR = "#d62728"
"""Border of the layer a failed trace stopped in, and colour of the error text."""


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
            parts.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
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


@dataclass(frozen=True)
class Style:
    """What to show on boxes, besides the theme's colours."""

    theme: Theme
    show_params: bool = False
    show_macs: bool = False
    color_by: str = "family"


def label_lines(node: ir.Node, style: Style, call: ir.Call | None = None) -> list[
    tuple[str, str]
]:
    """The lines of a node's label as (kind, plain text); kind is title, body, shape, cost."""
    if node.kind in ("input", "output"):
        metas = node.outputs if node.kind == "input" else node.inputs
        name = node.label or node.kind
        title = node.kind if name == node.kind else f"{node.kind}: {name}"
        lines = [("title", shorten(title))]
        if metas:
            lines.append(("shape", shapes_text(metas)))
        return lines
    if node.kind == "function":
        lines = [("op", shorten(node.label or node.op))]
        if node.outputs:
            lines.append(("shape", shapes_text(node.outputs)))
        if style.show_macs and node.macs:
            lines.append(("cost", f"{human(node.macs)} MACs"))
        return lines
    title = node.module_path or node.class_name
    if node.repeat > 1 and call is not None:
        title = path_range(call.path, call.last_path)
    elif "@" in node.id:
        title += f" (call {node.id.rsplit('@', 1)[1]})"
    attrs = dict(node.attrs)
    desc = describe(node.class_name, attrs)
    body = node.class_name + (f" · {desc}" if desc else "")
    fused = attrs.get("fused")
    if isinstance(fused, str) and fused:
        body += f" · {fused_text(fused)}"
    if node.repeat > 1:
        body += f"  ×{node.repeat}"
    lines = [("title", shorten(title)), ("body", shorten(body))]
    if node.outputs:
        lines.append(("shape", shapes_text(node.outputs)))
    cost = []
    if style.show_params and node.params:
        cost.append(f"{human(node.params)} params")
    if style.show_macs and node.macs:
        cost.append(f"{human(node.macs)} MACs")
    if cost:
        lines.append(("cost", " · ".join(cost)))
    return lines


def node_label(node: ir.Node, style: Style, call: ir.Call | None = None) -> str:
    """The HTML-like label of one node (already escaped)."""
    th = style.theme
    parts = []
    for kind, text in label_lines(node, style, call):
        esc = escape_html(text)
        if not esc.strip():
            continue  # an empty <FONT></FONT> is a syntax error for some Graphviz builds
        if kind == "title":
            parts.append(f"<B>{esc}</B>")
        elif kind == "op":
            parts.append(esc)
        elif kind == "body":
            parts.append(_font(esc, th.small_fontsize))
        else:
            parts.append(_font(esc, th.small_fontsize, th.muted_color))
    return "<" + ("<BR/>".join(parts) or escape_html(node.kind)) + ">"


def _size(node: ir.Node, style: Style, call: ir.Call | None) -> tuple[float, float]:
    th = style.theme
    lines = [(t, th.fontsize if k in ("title", "op") else th.small_fontsize)
             for k, t in label_lines(node, style, call)]
    return text_size(lines)


def _shade(fraction: float, top: str) -> str:
    """Blend white towards ``top`` (#rrggbb) by ``fraction`` in [0, 1]."""
    r, g, b = (int(top[i:i + 2], 16) for i in (1, 3, 5))
    # At most 60% of the way, so dark and grey label text stays readable on any box.
    f = 0.6 * min(max(fraction, 0.0), 1.0)
    mix = [round(255 + (c - 255) * f) for c in (r, g, b)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def _cost(node: ir.Node, color_by: str) -> int:
    return {"macs": node.macs, "params": node.params, "flops": node.flops}.get(color_by, 0)


def node_attrs(node: ir.Node, style: Style, call: ir.Call | None = None,
               peak: int = 0) -> dict[str, str | float | int]:
    """Style attributes of one node."""
    theme = style.theme
    out: dict[str, str | float | int] = {"label": node_label(node, style, call)}
    if node.kind in ("input", "output"):
        out["fillcolor"] = theme.io_fill
        out["style"] = "rounded,filled,bold"
        return out
    if style.color_by != "family":
        value = _cost(node, style.color_by)
        out["fillcolor"] = _shade((value / peak) ** 0.5 if peak else 0.0, theme.heat_color)
    elif node.kind == "function":
        out["fillcolor"] = theme.function_fill
    else:
        family = "block" if node.kind == "block" else family_of(node.class_name)
        out["fillcolor"] = theme.fill_for(family)
    if node.kind == "function":
        out["fontsize"] = theme.small_fontsize
        out["margin"] = "0.06,0.02"
        out["height"] = 0.3
    if node.kind == "block" or node.repeat > 1:
        out["style"] = "rounded,filled,bold"
    if node.repeat > 1:
        out["peripheries"] = 2
    return out


def _cluster_tree(
    graph: ir.Graph, rows: dict[str, int]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Which cluster (call id, '' = top) holds each node and each child cluster, in order.

    A module call becomes a cluster when it holds at least two drawn nodes that all sit
    in one row of a wrapped layout (a frame across rows would cover other nodes).
    """
    counts: dict[str, int] = {}
    spans: dict[str, set[int]] = {}
    for n in graph.nodes:
        for c in n.scope:
            counts[c] = counts.get(c, 0) + 1
            spans.setdefault(c, set()).add(rows.get(n.id, 0))
    kept = {c for c, k in counts.items() if k >= 2 and len(spans[c]) == 1}
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


def _legend(graph: ir.Graph, style: Style, peak: int) -> str | None:
    th = style.theme
    cells: list[str] = []
    if style.color_by == "family":
        present = {"block" if n.kind == "block" else family_of(n.class_name)
                   for n in graph.nodes if n.kind in ("module", "block")}
        for fam in FAMILIES:
            if fam in present:
                cells.append(f'<TD BGCOLOR="{th.fill_for(fam)}" BORDER="1">'
                             f'<FONT POINT-SIZE="{th.small_fontsize:g}">{fam}</FONT></TD>')
        if len(cells) < 2:
            return None
    else:
        name = {"macs": "MACs", "params": "params", "flops": "FLOPs"}[style.color_by]
        cells.append(f'<TD><FONT POINT-SIZE="{th.small_fontsize:g}">{name}</FONT></TD>')
        for step in (0.0, 0.25, 0.5, 0.75, 1.0):
            value = round(peak * step * step)
            cells.append(f'<TD BGCOLOR="{_shade(step, th.heat_color)}" BORDER="1">'
                         f'<FONT POINT-SIZE="{th.small_fontsize:g}">{human(value)}</FONT></TD>')
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="3" CELLPADDING="3"><TR>'
            + "".join(cells) + "</TR></TABLE>>")


def _wrap_rows(
    graph: ir.Graph,
    rows: Mapping[str, int],
    n_rows: int,
    style: Style,
    calls: Mapping[str, ir.Call],
    lines: list[str],
    *,
    with_legend: bool,
) -> list[tuple[str, str]]:
    """Stack the rows of a wrapped layout and return the edges to draw.

    Rows hang off invisible anchors that share one rank and are ordered by flat edges.
    An edge that would jump from one row to another is replaced by a small dashed
    "continued" node at the start of the later row, named after the tensor's source, so
    no line crosses the picture.
    """
    th = style.theme
    anchors = [f'"%row{i}"' for i in range(n_rows)]
    chain = anchors + (['"%legend"'] if with_legend else [])
    for a in anchors:
        lines.append(f'  {a} [height=0, label="", shape=point, style=invis, width=0];')
    lines.append(f"  {{rank=same; {'; '.join(chain)};}}")
    for a, b in itertools.pairwise(chain):
        lines.append(f"  {a} -> {b} [style=invis];")
    by_id = {n.id: n for n in graph.nodes}
    ghosts: dict[tuple[str, int], str] = {}
    edges: list[tuple[str, str]] = []
    has_pred_in_row: set[str] = set()
    for e in graph.edges:
        r_src, r_dst = rows.get(e.src, 0), rows.get(e.dst, 0)
        if r_src == r_dst:
            edges.append((dot_id(e.src), dot_id(e.dst)))
            has_pred_in_row.add(e.dst)
            continue
        key = (e.src, r_dst)
        if key not in ghosts:
            ghost = dot_id(f"%from:{e.src}:{r_dst}")[0:1] + "%" + dot_id(
                f"from:{e.src}:{r_dst}")[1:]
            ghosts[key] = ghost
            src = by_id[e.src]
            name = src.module_path or src.label or src.op
            if "@" in src.id:
                name += f" (call {src.id.rsplit('@', 1)[1]})"
            if src.kind == "function":
                name = f"{src.op} ({src.module_path})" if src.module_path else src.op
            shape = shapes_text((e.tensor and (e.tensor,)) or src.outputs)
            text = "<" + _font("from " + escape_html(shorten(name, 40)), th.small_fontsize)
            if shape:
                text += "<BR/>" + _font(escape_html(shape), th.small_fontsize, th.muted_color)
            text += ">"
            lines.append(f"  {ghost} [color={_value(th.muted_color)}, fillcolor="
                         f"{_value(th.background)}, label={text}, style=\"rounded,dashed\"];")
            lines.append(f"  {anchors[r_dst]} -> {ghost} [style=invis];")
        edges.append((ghosts[key], dot_id(e.dst)))
        has_pred_in_row.add(e.dst)
    for n in graph.nodes:
        if n.id not in has_pred_in_row:
            lines.append(f"  {anchors[rows.get(n.id, 0)]} -> {dot_id(n.id)} [style=invis];")
    return edges


def to_dot(
    graph: ir.Graph,
    *,
    orientation: str = "LR",
    theme: str | Theme = "default",
    clusters: bool = True,
    title: str | None = None,
    wrap: bool = True,
    legend: bool | None = None,
    show_params: bool = False,
    show_macs: bool = False,
    color_by: str = "family",
) -> str:
    """Write ``graph`` as DOT text for ``dot``.

    ``orientation`` is 'LR' or 'TB'; ``wrap`` folds a long flow into rows (LR) or
    columns (TB) to keep a page-like shape; ``legend`` (default: on for colour themes)
    adds a key of the colours; ``show_params``/``show_macs`` print those figures on the
    boxes; ``color_by`` shades boxes by 'macs', 'params' or 'flops' instead of family.
    """
    if orientation not in ORIENTATIONS:
        raise choices(orientation, ORIENTATIONS, "orientation")
    if color_by not in COLOR_BY:
        raise choices(color_by, COLOR_BY, "color_by")
    th = get_theme(theme)
    style = Style(th, show_params=show_params, show_macs=show_macs, color_by=color_by)
    calls = {c.id: c for c in graph.calls}
    peak = max((_cost(n, color_by) for n in graph.nodes), default=0)
    rows: dict[str, int] = {}
    if wrap:
        sizes = {n.id: _size(n, style, calls.get(n.id)) for n in graph.nodes}
        rows = plan_rows(graph, sizes, orientation)
    n_rows = max(rows.values(), default=0) + 1
    graph_attrs: dict[str, str | float | int] = {
        "bgcolor": th.background, "fontcolor": th.text_color, "fontname": th.fontname,
        "fontsize": th.fontsize, "newrank": "true", "nodesep": NODESEP, "pad": 0.15,
        "rankdir": orientation, "ranksep": RANKSEP,
    }
    if title:
        graph_attrs["label"] = "<" + f"<B>{escape_html(title)}</B>" + ">"
        graph_attrs["labelloc"] = "t"
    failed, error = graph.get_meta("failed"), graph.get_meta("error")
    if error:  # a partial diagram: the error under it (see drawnet.trace.partial)
        graph_attrs["label"] = "<" + (f"<B>{escape_html(title)}</B><BR/>" if title else "") \
            + _font("<BR/>".join(escape_html(line) for line in textwrap.wrap(
                f"trace failed: {error}", 100, max_lines=5, placeholder=" …")),
                th.fontsize, FAILED_COLOR) + ">"
        graph_attrs["labelloc"] = "b"
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
    if clusters:
        members, children = _cluster_tree(graph, rows)
    else:
        members, children = {"": [n.id for n in graph.nodes]}, {"": []}
    counter = iter(range(1_000_000))

    def emit(cluster: str, indent: str) -> None:
        for node_id in members.get(cluster, []):
            n_attrs = node_attrs(by_id[node_id], style, calls.get(node_id), peak)
            if node_id == failed:  # the layer a failed trace stopped in
                n_attrs.update(color=FAILED_COLOR, penwidth=2.4)
            lines.append(f"{indent}{dot_id(node_id)} [{_attrs(n_attrs)}];")
        for child in children.get(cluster, []):
            call = calls.get(child)
            path = call.path if call else child.split("@", 1)[0]
            name = path + (f" (call {child.rsplit('@', 1)[1]})" if "@" in child else "")
            cls = call.class_name if call else graph.class_of(path)
            if call is not None and call.repeat > 1:
                name = path_range(call.path, call.last_path)
                cls += f" ×{call.repeat}"
            text = shorten(name) + (f" · {cls}" if cls else "")
            c_attrs: dict[str, str | float | int] = {
                "color": th.cluster_color, "fontcolor": th.muted_color,
                "fontsize": th.small_fontsize, "label": "<" + escape_html(text) + ">",
                "labeljust": "l", "margin": 6, "penwidth": 0.7, "style": "rounded",
            }
            if call is not None and call.repeat > 1:
                c_attrs["penwidth"] = 1.4
                c_attrs["style"] = "rounded,bold"
            lines.append(f"{indent}subgraph cluster_{next(counter)} {{")
            lines.append(f"{indent}  graph [{_attrs(c_attrs)}];")
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit("", "  ")
    show_legend = legend if legend is not None else (th.name != "print" or color_by != "family")
    legend_label = _legend(graph, style, peak) if show_legend else None
    if legend_label is not None:
        lines.append(f'  "%legend" [label={legend_label}, margin=0, shape=plain, style=""];')
    edges = [(dot_id(e.src), dot_id(e.dst)) for e in graph.edges]
    if n_rows > 1:
        edges = _wrap_rows(graph, rows, n_rows, style, calls, lines,
                           with_legend=legend_label is not None)
    for src, dst in edges:
        lines.append(f"  {src} -> {dst};")
    lines.append("}")
    return "\n".join(lines) + "\n"
