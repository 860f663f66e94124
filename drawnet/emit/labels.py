"""Text of box labels: shapes, layer descriptions, and the one escaping function.

Example:
    >>> shape_text((1, 64, 56, 56))
    '1×64×56×56'
    >>> describe("Conv2d", dict(kernel_size=(3, 3), stride=(2, 2), in_channels=64,
    ...                         out_channels=128, groups=1))
    '3×3 /2, 64→128'
    >>> escape_html('a<b> & "c"')
    'a&lt;b&gt; &amp; &quot;c&quot;'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drawnet.ir import AttrValue, TensorMeta

MAX_LABEL = 60


def escape_html(text: str) -> str:
    """Escape any string for a Graphviz HTML-like label (the only escaping drawnet does).

    Newlines become ``<BR/>`` breaks, tabs and carriage returns spaces; characters XML
    forbids (other control characters, lone surrogates, U+FFFE/U+FFFF) become U+FFFD
    ``�``, so a non-empty name never gives an empty label (some Graphviz builds reject
    ``<B></B>``); markup and DOT characters are entity-escaped, so a name can never
    close the label or inject markup.

    Example:
        >>> escape_html("\x08"), escape_html("{a|b}")
        ('\ufffd', '&#123;a&#124;b&#125;')
    """
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "'":
            out.append("&#39;")
        elif ch == "\n":
            out.append('<BR ALIGN="CENTER"/>')
        elif ch in "\t\r":
            out.append(" ")
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append("\ufffd")
        elif ch in "[]{}|\\":
            out.append(f"&#{code};")
        else:
            out.append(ch)
    return "".join(out)


def shorten(text: str, limit: int = MAX_LABEL) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis in the middle.

    Example:
        >>> shorten("encoder.layer.11.attention.output.dense", 20)
        'encoder.l…tput.dense'
    """
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def shape_text(shape: Sequence[int]) -> str:
    """A shape as ``1×64×56×56`` (``scalar`` for a 0-d tensor)."""
    return "×".join(str(d) for d in shape) if len(shape) else "scalar"


def shapes_text(metas: Sequence[TensorMeta], limit: int = 3) -> str:
    """Several shapes, comma separated, at most ``limit`` of them; equal shapes once.

    Example:
        >>> shapes_text([TensorMeta((1, 8)), TensorMeta((1, 8)), TensorMeta((1, 8))])
        '3 × (1×8)'
        >>> shapes_text([TensorMeta((1, 8)), TensorMeta((2,))])
        '1×8, 2'
    """
    if len(metas) > 1 and len({m.shape for m in metas}) == 1:
        return f"{len(metas)} × ({shape_text(metas[0].shape)})"
    parts = [shape_text(m.shape) for m in metas[:limit]]
    if len(metas) > limit:
        parts.append(f"+{len(metas) - limit}")
    return ", ".join(parts)


def _pair(v: AttrValue) -> str:
    if isinstance(v, tuple):
        if len(set(v)) == 1:
            v = v[0]
        else:
            return "×".join(str(x) for x in v)
    return str(v)


def _kernel(v: AttrValue) -> str:
    if isinstance(v, tuple):
        return "×".join(str(x) for x in v)
    return f"{v}×{v}" if isinstance(v, int) else str(v)


def _is_one(v: AttrValue) -> bool:
    return v == 1 or (isinstance(v, tuple) and all(x == 1 for x in v))


def describe(class_name: str, attrs: Mapping[str, AttrValue]) -> str:
    """A short description of a layer's configuration, e.g. ``3×3 /2, 64→128``."""
    a = attrs
    parts: list[str] = []
    if "kernel_size" in a and a["kernel_size"] is not None:
        k = _kernel(a["kernel_size"])
        stride = a.get("stride")
        if stride is not None and not _is_one(stride):
            k += f" /{_pair(stride)}"
        parts.append(k)
    if "in_channels" in a and "out_channels" in a:
        parts.append(f"{a['in_channels']}→{a['out_channels']}")
        groups = a.get("groups")
        if isinstance(groups, int) and groups > 1:
            parts.append("depthwise" if groups == a["in_channels"] else f"groups {groups}")
    elif "in_features" in a and "out_features" in a:
        parts.append(f"{a['in_features']}→{a['out_features']}")
    elif "nx" in a and "nf" in a:
        parts.append(f"{a['nx']}→{a['nf']}")
    elif "num_embeddings" in a and "embedding_dim" in a:
        parts.append(f"{a['num_embeddings']}×{a['embedding_dim']}")
    elif "input_size" in a and "hidden_size" in a:
        text = f"{a['input_size']}→{a['hidden_size']}"
        layers = a.get("num_layers")
        if isinstance(layers, int) and layers > 1:
            text += f" ×{layers} layers"
        if a.get("bidirectional"):
            text += ", bidir"
        parts.append(text)
    elif isinstance(a.get("num_experts"), int):  # mixture-of-experts routers and experts
        top_k = a.get("top_k")
        experts = f"{a['num_experts']} experts"
        parts.append(f"top-{top_k} of {experts}" if isinstance(top_k, int) else experts)
    elif "embed_dim" in a and "num_heads" in a:
        parts.append(f"{a['embed_dim']}, {a['num_heads']} heads")
    elif isinstance(a.get("num_heads"), int):
        parts.append(f"{a['num_heads']} heads")
        window = a.get("window_size")
        if window is not None:
            parts.append(f"window {_kernel(window)}")
        shift = a.get("shift_size")
        if shift is not None and not (shift == 0 or (isinstance(shift, tuple) and not any(shift))):
            parts.append(f"shift {_pair(shift)}")
    elif "num_features" in a:
        parts.append(str(a["num_features"]))
    elif "normalized_shape" in a:
        parts.append(_pair(a["normalized_shape"]))
    elif "output_size" in a and a["output_size"] is not None:
        parts.append(f"→{_kernel(a['output_size'])}")
    if "p" in a and isinstance(a["p"], float) and "Dropout" in class_name:
        parts.append(f"p={a['p']:g}")
    return ", ".join(parts)


ABBREVIATIONS = {
    "BatchNorm1d": "BN", "BatchNorm2d": "BN", "BatchNorm3d": "BN", "SyncBatchNorm": "BN",
    "FrozenBatchNorm2d": "BN", "GroupNorm": "GN", "LayerNorm": "LN", "InstanceNorm2d": "IN",
    "LayerNorm2d": "LN",
    "relu": "ReLU", "gelu": "GELU", "silu": "SiLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
    "hardswish": "Hardswish", "relu6": "ReLU6", "rotary embedding": "RoPE",
}


def fused_text(fused: str) -> str:
    """Short names of folded layers: ``BatchNorm2d,ReLU`` -> ``BN · ReLU``.

    Example:
        >>> fused_text("BatchNorm2d,ReLU")
        'BN · ReLU'
    """
    return " · ".join(ABBREVIATIONS.get(p, p.removesuffix("Activation") or p)
                      for p in fused.split(",") if p)


OP_LABELS = {
    "scaled_dot_product_attention": "attention", "adaptive_avg_pool2d": "adaptive avg pool",
    "adaptive_avg_pool1d": "adaptive avg pool", "adaptive_max_pool2d": "adaptive max pool",
    "avg_pool2d": "avg pool", "max_pool2d": "max pool", "interpolate": "resize",
    "upsample_bilinear2d": "resize", "upsample_nearest2d": "resize",
}
"""How a few functional ops read on a box: shorter, in words a paper would use."""


def op_label(op: str) -> str:
    """The text a functional op shows on its node.

    Example:
        >>> op_label("scaled_dot_product_attention"), op_label("add")
        ('attention', 'add')
    """
    return OP_LABELS.get(op, op)


def human(n: int | float) -> str:
    """A count with a K/M/G/T suffix and three significant digits.

    Example:
        >>> human(118013952), human(9408), human(512), human(11689512)
        ('118M', '9.41K', '512', '11.7M')
    """
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            value = n / factor
            text = f"{value:.3g}"
            return text + suffix
    return f"{n:g}" if isinstance(n, float) else str(n)


def path_range(first: str, last: str) -> str:
    """Name a run of sibling modules: ``encoder.layer.0`` .. ``encoder.layer.11``.

    Example:
        >>> path_range("encoder.layer.0", "encoder.layer.11")
        'encoder.layer.0–11'
        >>> path_range("encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_11")
        'encoder.layers.encoder_layer_0–11'
        >>> path_range("blocks.a", "blocks.b")
        'blocks.a … blocks.b'
    """
    if not last or last == first:
        return first
    head_a, _, tail_a = first.rpartition(".")
    head_b, _, tail_b = last.rpartition(".")
    if head_a == head_b:
        stem_a, stem_b = tail_a.rstrip("0123456789"), tail_b.rstrip("0123456789")
        if stem_a == stem_b and tail_a != stem_a and tail_b != stem_b:
            return f"{first}–{tail_b[len(stem_b):]}"
    return f"{first} … {last}"
