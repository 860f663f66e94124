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
from drawnet.emit.fit import Fit, get_fit
from drawnet.emit.labels import (
    describe,
    escape_html,
    fused_text,
    human,
    op_label,
    path_range,
    shapes_text,
    shorten,
)
from drawnet.emit.layout import NODESEP, RANKSEP, extent, plan_rows, text_size
from drawnet.emit.theme import FAMILIES, Theme, family_of, get_theme
from drawnet.emit.tooltip import clean_text, dot_tooltip
from drawnet.errors import choices
from drawnet.passes.layers import CONTAINERS

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


BODY_WIDTH = 34
"""Characters per line of a box's description before it wraps (at a `` · ``)."""


def wrap_pieces(pieces: list[str], width: int) -> list[str]:
    """Join ``pieces`` with `` · `` into lines of at most ``width`` characters where the
    pieces allow (a piece longer than ``width`` gets a line of its own).

    Example:
        >>> wrap_pieces(["Conv2d", "3×3 /2, 96→96, depthwise", "BN · ReLU6"], 34)
        ['Conv2d · 3×3 /2, 96→96, depthwise', 'BN · ReLU6']
    """
    lines: list[str] = []
    for piece in pieces:
        if lines and len(lines[-1]) + 3 + len(piece) <= width:
            lines[-1] += " · " + piece
        else:
            lines.append(piece)
    return lines


def relative_name(path: str, base: str) -> str:
    """A module path as read inside the frame of module ``base``.

    Inside ``encoder.layer.0``, ``encoder.layer.0.attention.self.query`` reads
    ``attention.self.query``. A bare index says little, so it keeps its parent's name.

    Example:
        >>> relative_name("encoder.layer.0.attention.self.query", "encoder.layer.0")
        'attention.self.query'
        >>> relative_name("layer2.0", "layer2"), relative_name("fc", "")
        ('layer2.0', 'fc')
        >>> relative_name("features.0.0", "features.0")
        'features.0.0'
    """
    if not base or not path.startswith(base + "."):
        return path
    rel = path[len(base) + 1:]
    parents = base.split(".")
    while rel[:1].isdigit() and parents:
        rel = f"{parents.pop()}.{rel}"
    return rel


def label_lines(node: ir.Node, style: Style, call: ir.Call | None = None,
                base: str = "", whole: ir.Call | None = None) -> list[tuple[str, str]]:
    """The lines of a node's label as (kind, plain text); kind is title, body, shape, cost.

    ``base`` is the module path of the frame the node is drawn in: titles are read
    relative to it (see :func:`relative_name`). ``whole`` is the call of a module the box
    stands for as a whole, around its own (a Conv-BN-ReLU ``Sequential`` folded into its
    conv is titled by the ``Sequential``; a run of 200 one-box blocks by ``0–199 ×200``).
    """
    if node.kind in ("input", "output"):
        metas = node.outputs if node.kind == "input" else node.inputs
        name = node.label or node.kind
        title = node.kind if name == node.kind else f"{node.kind}: {name}"
        lines = [("title", shorten(title))]
        if metas:
            lines.append(("shape", shapes_text(metas)))
        return lines
    if node.kind == "function":
        lines = [("op", shorten(node.label or op_label(node.op)))]
        if node.outputs:
            lines.append(("shape", shapes_text(node.outputs)))
        if style.show_macs and node.macs:
            lines.append(("cost", f"{human(node.macs)} MACs"))
        return lines
    title = node.module_path or node.class_name
    repeat = node.repeat
    span = call if node.repeat > 1 else None
    if whole is not None:
        title = whole.path
        if whole.repeat > 1:
            span, repeat = whole, whole.repeat * node.repeat
    if span is not None:
        title = path_range(span.path, span.last_path)
    title = relative_name(title, base)
    attrs = dict(node.attrs)
    summary = attrs.get("summary")
    desc = summary if isinstance(summary, str) and summary else describe(node.class_name, attrs)
    if repeat > 1:
        title += f"  ×{repeat}"
    cls = node.class_name
    named = title.rsplit(".", 1)[-1].split("  ×")[0].lower() == cls.lower()
    lead = attrs.get("lead")
    if isinstance(lead, str) and lead:
        cls = f"{fused_text(lead)} & {fused_text(cls) if named else cls}"
    elif named:
        cls = ""  # the title already names the class ("LayerNorm · 768", not twice)
    pieces = [p for p in (cls, desc) if p]
    fused = attrs.get("fused")
    if isinstance(fused, str) and fused:
        pieces.append(fused_text(fused))
    lines = [("title", shorten(title))]
    lines.extend(("body", shorten(text)) for text in wrap_pieces(pieces, BODY_WIDTH))
    if node.outputs:
        lines.append(("shape", shapes_text(node.outputs)))
    cost = []
    if (style.show_params or node.kind == "block") and node.params:
        cost.append(f"{human(node.params)} params")
    if style.show_macs and node.macs:
        cost.append(f"{human(node.macs)} MACs")
    if cost:
        lines.append(("cost", " · ".join(cost)))
    return lines


def node_label(node: ir.Node, style: Style, call: ir.Call | None = None, base: str = "",
               whole: ir.Call | None = None) -> str:
    """The HTML-like label of one node (already escaped)."""
    th = style.theme
    parts = []
    for kind, text in label_lines(node, style, call, base, whole):
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


def _size(node: ir.Node, style: Style, call: ir.Call | None, base: str = "",
          whole: ir.Call | None = None) -> tuple[float, float]:
    th = style.theme
    lines = [(t, th.fontsize if k in ("title", "op") else th.small_fontsize, k == "title")
             for k, t in label_lines(node, style, call, base, whole)]
    return text_size(lines, th.fontname)


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
               peak: int = 0, base: str = "", whole: ir.Call | None = None) -> dict[
                   str, str | float | int]:
    """Style attributes of one node (``base``: the module path of its frame; ``whole``:
    the module the box stands for, see :func:`label_lines`)."""
    theme = style.theme
    out: dict[str, str | float | int] = {"label": node_label(node, style, call, base, whole),
                                         "tooltip": dot_tooltip(node, call)}
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
    graph: ir.Graph, rows: Mapping[str, int]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Which cluster (call id, '' = top) holds each node and each child cluster, in order.

    A module call becomes a cluster when it holds at least two drawn nodes that all sit
    in one row of a wrapped layout (a frame across rows would cover other nodes). A frame
    holding nothing but one other frame is not drawn: its name goes on the inner frame.
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
    # a frame holding only one other frame is drawn once: the inner one when it marks a
    # repeat or the outer one is a plain container, else the outer one (which then takes
    # the inner one's contents)
    calls = {c.id: c for c in graph.calls}
    for parent in list(children):
        kids = children.get(parent, [])
        changed = True
        while changed:
            changed = False
            for i, c in enumerate(kids):
                if members.get(c) or len(children.get(c, [])) != 1:
                    continue
                inner = children[c][0]
                outer_call, inner_call = calls.get(c), calls.get(inner)
                keep_inner = (inner_call is not None and inner_call.repeat > 1) or (
                    outer_call is not None and outer_call.class_name in CONTAINERS)
                if keep_inner:
                    kids[i] = inner
                    del children[c], members[c]
                else:
                    children[c] = children.pop(inner)
                    members[c] = members.pop(inner)
                changed = True
    return members, children


def _box_paths(graph: ir.Graph, calls: Mapping[str, ir.Call]) -> dict[str, ir.Call]:
    """For boxes that are the only drawn node of enclosing module calls: the outermost
    such call, which names the box better than its own (see :func:`label_lines`)."""
    counts: dict[str, int] = {}
    for n in graph.nodes:
        for c in n.scope:
            counts[c] = counts.get(c, 0) + 1
    out: dict[str, ir.Call] = {}
    for n in graph.nodes:
        if n.kind not in ("module", "block"):
            continue
        for c in n.scope:
            call = calls.get(c)
            if counts.get(c) == 1 and call is not None:
                out[n.id] = call
                break
    return out


def _frame_bases(
    members: Mapping[str, list[str]], children: Mapping[str, list[str]],
    calls: Mapping[str, ir.Call],
) -> tuple[dict[str, str], dict[str, str]]:
    """(node id -> module path of its frame, frame id -> module path of its parent frame)."""
    node_base: dict[str, str] = {}
    frame_parent: dict[str, str] = {}
    stack = [("", "")]
    while stack:
        frame, base = stack.pop()
        for node_id in members.get(frame, []):
            node_base[node_id] = base
        for child in children.get(frame, []):
            frame_parent[child] = base
            call = calls.get(child)
            stack.append((child, call.path if call else child.split("@", 1)[0]))
    return node_base, frame_parent


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
    return ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="3" CELLPADDING="3"><TR>'
            + "".join(cells) + "</TR></TABLE>")


def _heading(title: str | None, legend: str | None, th: Theme, error: str = "") -> str:
    """The graph label: the title (bold), the error of a failed trace (red, wrapped),
    and the colour key, or '' for none."""
    rows = []
    if title:
        rows.append(f'<TR><TD ALIGN="LEFT"><B>{escape_html(title)}</B></TD></TR>')
    if error:
        lines = textwrap.wrap(f"trace failed: {error}", 100, max_lines=5, placeholder=" …")
        text = "<BR ALIGN=\"LEFT\"/>".join(escape_html(line) for line in lines)
        rows.append(f'<TR><TD ALIGN="LEFT">{_font(text, th.fontsize, FAILED_COLOR)}'
                    '<BR ALIGN="LEFT"/></TD></TR>')
    if legend:
        rows.append(f'<TR><TD ALIGN="LEFT">{legend}</TD></TR>')
    if not rows:
        return ""
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">'
            + "".join(rows) + "</TABLE>>")


def _tail(path: str) -> str:
    """A module path short enough for a small "from ..." node: whole up to 28 characters,
    else its end (``model.layers.0.self_attn.o_proj`` -> ``o_proj``); an index keeps its
    parent (``layers.0``)."""
    if len(path) <= 28:
        return path
    parts = path.split(".")
    tail = parts.pop() if parts else path
    while parts and (tail[:1].isdigit() or tail[:1] == "–"):
        tail = f"{parts.pop()}.{tail}"
    return tail


def _wrap_rows(
    graph: ir.Graph,
    rows: Mapping[str, int],
    n_rows: int,
    style: Style,
    calls: Mapping[str, ir.Call],
    lines: list[str],
) -> list[tuple[str, str]]:
    """Stack the rows of a wrapped layout and return the edges to draw.

    Rows hang off invisible anchors that share one rank and are ordered by flat edges.
    An edge that would jump from one row to another is replaced by a small dashed
    "from ..." node at the start of the later row, named after the tensor's source, so
    no line crosses the picture (lines drawn across rows loop around whole rows).
    """
    th = style.theme
    anchors = [f'"%row{i}"' for i in range(n_rows)]
    chain = anchors
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
            call = calls.get(src.id)
            if call is not None and call.repeat > 1:
                name = path_range(call.path, call.last_path)
            name = _tail(name)
            if src.kind == "function":
                owner = calls.get(src.scope[-1]) if src.scope else None
                where = src.module_path
                if owner is not None and owner.repeat > 1:
                    where = path_range(owner.path, owner.last_path)
                name = f"{op_label(src.op)} ({_tail(where)})" if where else op_label(src.op)
            shape = shapes_text((e.tensor and (e.tensor,)) or src.outputs)
            text = "<" + _font("from", th.small_fontsize) + "<BR/>" + _font(
                escape_html(shorten(name, 40)), th.small_fontsize)
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


def fitted_theme(theme: str | Theme, fit: Fit) -> Theme:
    """The theme with the text sizes a fit lays out with (a page's 8/7 pt, a column's 7/6).

    Example:
        >>> fitted_theme("print", get_fit("column")).small_fontsize
        6.0
    """
    th = get_theme(theme)
    if fit.fontsize is not None and fit.small_fontsize is not None:
        th = th.replace(fontsize=fit.fontsize, small_fontsize=fit.small_fontsize)
    return th


def _rows(
    graph: ir.Graph, style: Style, orientation: str, fit: Fit,
    calls: Mapping[str, ir.Call], own_path: Mapping[str, ir.Call],
) -> tuple[dict[str, int], dict[str, tuple[float, float]]]:
    """The rows of a wrapped layout, and the estimated size of every node (inches)."""
    pre_base, _ = _frame_bases(*_cluster_tree(graph, {}), calls)
    sizes = {n.id: _size(n, style, calls.get(n.id), pre_base.get(n.id, ""),
                         own_path.get(n.id)) for n in graph.nodes}
    along, across = fit.along_across(orientation)
    return plan_rows(graph, sizes, orientation, max_along=along, max_across=across), sizes


def estimate(
    graph: ir.Graph,
    *,
    orientation: str = "LR",
    theme: str | Theme = "default",
    fit: str | Fit = "notebook",
    wrap: bool = True,
    show_params: bool = False,
    show_macs: bool = False,
) -> tuple[float, float]:
    """The size in points :func:`to_dot` would lay ``graph`` out at, estimated from label
    text without running Graphviz: within 25 % of the drawing without its heading on the
    gallery's models (mostly 5 to 20 % over the laid-out size).

    Example:
        >>> from drawnet import ir
        >>> g = ir.Graph(nodes=(ir.Node(id="input.x", kind="input", op="input"),))
        >>> w, h = estimate(g)
        >>> 30 < w < 80 and 20 < h < 50
        True
    """
    place = get_fit(fit)
    style = Style(fitted_theme(theme, place), show_params=show_params, show_macs=show_macs)
    calls = {c.id: c for c in graph.calls}
    own_path = _box_paths(graph, calls)
    rows, sizes = _rows(graph, style, orientation, place, calls, own_path)
    if not wrap:
        rows = {}
    w, h = extent(graph, sizes, orientation, rows)
    return w * 72, h * 72


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
    fit: str | Fit = "notebook",
) -> str:
    """Write ``graph`` as DOT text for ``dot``.

    ``orientation`` is 'LR' or 'TB'; ``wrap`` folds a long flow into rows (LR) or
    columns (TB) so the picture fits where it is shown: ``fit`` is 'notebook', 'page' or
    'column' (see :mod:`drawnet.emit.fit`; a page or column also sets the text sizes and
    the saved size); ``legend`` (default: on for colour themes) adds a key of the
    colours; ``show_params``/``show_macs`` print those figures on the boxes; ``color_by``
    shades boxes by 'macs', 'params' or 'flops' instead of family.
    """
    if orientation not in ORIENTATIONS:
        raise choices(orientation, ORIENTATIONS, "orientation")
    if color_by not in COLOR_BY:
        raise choices(color_by, COLOR_BY, "color_by")
    place = get_fit(fit)
    th = fitted_theme(theme, place)
    style = Style(th, show_params=show_params, show_macs=show_macs, color_by=color_by)
    calls = {c.id: c for c in graph.calls}
    peak = max((_cost(n, color_by) for n in graph.nodes), default=0)
    own_path = _box_paths(graph, calls)
    rows: dict[str, int] = {}
    if wrap:
        rows = _rows(graph, style, orientation, place, calls, own_path)[0]
    n_rows = max(rows.values(), default=0) + 1
    graph_attrs: dict[str, str | float | int] = {
        "bgcolor": th.background, "fontcolor": th.text_color, "fontname": th.fontname,
        "fontsize": th.fontsize, "newrank": "true", "nodesep": NODESEP, "pad": 0.15,
        "rankdir": orientation, "ranksep": RANKSEP,
    }
    show_legend = legend if legend is not None else (th.name != "print" or color_by != "family")
    legend_table = _legend(graph, style, peak) if show_legend else None
    # a partial diagram (drawnet.trace.partial): the failed layer and the error
    failed, error = graph.get_meta("failed"), graph.get_meta("error")
    heading = _heading(title, legend_table, th, error)
    if place.true_size:
        # saved at the size it is printed: Graphviz scales a larger drawing down to fit
        graph_attrs["size"] = f"{place.width / 72:.3f},{place.height / 72:.3f}"
    if heading:
        # title and colour key sit above the drawing, left-aligned: never in the flow,
        # where they would widen a row
        graph_attrs["label"] = heading
        graph_attrs["labelloc"] = "t"
        graph_attrs["labeljust"] = "l"
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
    node_base, frame_parent = _frame_bases(members, children, calls)
    counter = iter(range(1_000_000))

    def open_cluster(child: str, indent: str) -> None:
        call = calls.get(child)
        path = call.path if call else child.split("@", 1)[0]
        name = path
        cls = call.class_name if call else graph.class_of(path)
        if cls in CONTAINERS:  # "Sequential" says nothing; a shorter title stays clear
            cls = ""  # of the edges entering the frame
        if call is not None and call.repeat > 1:
            name = path_range(call.path, call.last_path)
            cls = f"{cls} ×{call.repeat}".strip()
        name = relative_name(name, frame_parent.get(child, ""))
        sep = " " if cls.startswith("×") else " · "
        text = shorten(name) + (f"{sep}{cls}" if cls else "")
        c_attrs: dict[str, str | float | int] = {
            "color": th.cluster_color, "fontcolor": th.muted_color,
            "fontsize": th.small_fontsize, "label": "<" + escape_html(text) + ">",
            # LR: edges enter frames from the left, so a title at the top right is
            # out of their way (measured: no crossing on the gallery's models)
            "labeljust": "r" if orientation == "LR" else "l", "margin": 6,
            "penwidth": 0.7, "style": "rounded",
            "id": "f:" + clean_text(child),  # the SVG frame's id names its module call
        }
        if call is not None and call.repeat > 1:
            c_attrs["penwidth"] = 1.4
            c_attrs["style"] = "rounded,bold"
        lines.append(f"{indent}subgraph cluster_{next(counter)} {{")
        lines.append(f"{indent}  graph [{_attrs(c_attrs)}];")

    # Clusters nest as deep as the model's modules (1,000 levels for some models): an
    # explicit stack instead of recursion. ("close", indent) ends a cluster.
    todo: list[tuple[str, str, str]] = [("emit", "", "  ")]
    while todo:
        action, cluster, indent = todo.pop()
        if action == "close":
            lines.append(f"{indent}}}")
            continue
        if action == "open":
            open_cluster(cluster, indent)
            indent += "  "
        for node_id in members.get(cluster, []):
            n_attrs = node_attrs(by_id[node_id], style, calls.get(node_id), peak,
                                 node_base.get(node_id, ""), own_path.get(node_id))
            if node_id == failed:  # the layer a failed trace stopped in
                n_attrs.update(color=FAILED_COLOR, penwidth=2.4)
            lines.append(f"{indent}{dot_id(node_id)} [{_attrs(n_attrs)}];")
        for child in reversed(children.get(cluster, [])):
            todo.append(("close", "", indent))
            todo.append(("open", child, indent))
    edges = [(dot_id(e.src), dot_id(e.dst)) for e in graph.edges]
    if n_rows > 1:
        edges = _wrap_rows(graph, rows, n_rows, style, calls, lines)
    for src, dst in edges:
        lines.append(f"  {src} -> {dst};")
    lines.append("}")
    return "\n".join(lines) + "\n"
