"""Hover text for boxes: what a tooltip in the SVG (and the HTML view) says about a box.

One function, :func:`tooltip_text`, gives plain text: the box's module path, its class
(and the layers folded into it), input and output shapes with dtypes, params and MACs.
Characters XML cannot carry are replaced by U+FFFD, so the text always survives the trip
through DOT into an SVG ``<title>``/``xlink:title``.

Example:
    >>> from drawnet import ir
    >>> t = ir.TensorMeta((1, 64, 56, 56))
    >>> n = ir.Node(id="layer1.0.conv1", kind="module", op="Conv2d",
    ...             module_path="layer1.0.conv1", class_name="Conv2d", inputs=(t,),
    ...             outputs=(t,), params=36864, macs=115605504,
    ...             attrs=ir.attrs(fused="BatchNorm2d,ReLU"))
    >>> print(tooltip_text(n))
    layer1.0.conv1
    Conv2d + BatchNorm2d + ReLU
    in: 1×64×56×56 float32
    out: 1×64×56×56 float32
    params: 36,864 · MACs: 116M
"""

from __future__ import annotations

from collections.abc import Sequence

from drawnet import ir
from drawnet.emit.labels import human, path_range, shapes_text


def clean_text(text: str) -> str:
    """Replace characters XML forbids (and tabs, returns) so the text stays well-formed.

    Example:
        >>> clean_text("a" + chr(9) + "b" + chr(8)) == "a b" + chr(0xFFFD)
        True
    """
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\t\r":
            out.append(" ")
        elif (code < 0x20 and ch != "\n") or 0xD800 <= code <= 0xDFFF or code in (0xFFFE,
                                                                                 0xFFFF):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def _tensors(metas: Sequence[ir.TensorMeta]) -> str:
    dtypes = sorted({m.dtype for m in metas})
    return shapes_text(metas) + (" " + "/".join(dtypes) if dtypes else "")


def tooltip_text(node: ir.Node, call: ir.Call | None = None) -> str:
    """Plain hover text for one box (``call`` names the run of a ×N box).

    Example:
        >>> from drawnet import ir
        >>> print(tooltip_text(ir.Node(id="input.x", kind="input", op="input", label="x",
        ...                            outputs=(ir.TensorMeta((1, 3)),))))
        input: x
        1×3 float32
    """
    if node.kind in ("input", "output"):
        metas = node.outputs if node.kind == "input" else node.inputs
        name = node.label or node.kind
        head = node.kind if name == node.kind else f"{node.kind}: {name}"
        return clean_text("\n".join([head, *([_tensors(metas)] if metas else [])]))
    if node.kind == "function":
        lines = [node.op + (f" in {node.module_path}" if node.module_path else "")]
    else:
        name = node.module_path or node.class_name
        if node.repeat > 1 and call is not None:
            name = path_range(call.path, call.last_path)
        elif "@" in node.id:
            name += f" (call {node.id.rsplit('@', 1)[1]})"
        fused = node.attr("fused")
        cls = (node.class_name or node.op) + "".join(
            f" + {p}" for p in (fused.split(",") if isinstance(fused, str) else []) if p)
        if node.repeat > 1:
            cls += f" ×{node.repeat}"
        lines = [name, cls]
    if node.inputs:
        lines.append("in: " + _tensors(node.inputs))
    if node.outputs:
        lines.append("out: " + _tensors(node.outputs))
    cost = []
    if node.params or node.kind != "function":
        cost.append(f"params: {node.params:,}")
    if node.macs or node.kind != "function":
        cost.append(f"MACs: {human(node.macs)}")
    if cost:
        lines.append(" · ".join(cost))
    return clean_text("\n".join(lines))


def dot_tooltip(node: ir.Node, call: ir.Call | None = None) -> str:
    """:func:`tooltip_text` as a DOT ``tooltip`` value: ``&``, ``<`` and ``>`` written as
    entities.

    Graphviz copies an entity such as ``&amp;`` into the SVG as it is, so the text shows
    as typed, and no markup a model's names spell ever appears in the DOT text or the SVG.

    Example:
        >>> from drawnet import ir
        >>> print(dot_tooltip(ir.Node(id="a&b", kind="module", op="X", module_path="<a&b>")))
        &lt;a&amp;b&gt;
        X
        params: 0 · MACs: 0
    """
    text = tooltip_text(node, call)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
