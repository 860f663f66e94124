"""Multiply-accumulates (MACs) and FLOPs per op, counted from shapes alone.

The tracers record each torch-level call (or ``aten::`` node) with the shapes of its
tensors; :func:`op_cost` turns one record into a :class:`Cost`, and :func:`module_cost`
does the same for the leaf modules whose inner calls the tracers cannot see or split
(``MultiheadAttention``, ``LSTM``, ``GRU``, ``RNN`` and their cells). Nothing here
imports torch. An op without a rule costs 0, and a record that makes no sense (missing
or mismatched shapes) costs 0 or what can still be counted: these functions never raise.

A MAC is one multiply and one add, 2 FLOPs. Only products of two tensors have MACs.
``out`` is the first output, ``x`` the first input, ``k`` the kernel, ``numel`` the
element count; a *position* is every index of ``x`` but the last (tokens count).

| canonical op                          | MACs                               | FLOPs            |
|---------------------------------------|------------------------------------|------------------|
| conv1d/2d/3d, convolution             | out.numel·C_in/groups·prod(k)      | 2·MACs + bias    |
| conv_transpose1d/2d/3d                | x.numel·C_out/groups·prod(k)       | 2·MACs + bias    |
| linear                                | positions·in·out                   | 2·MACs + bias    |
| bilinear                              | positions·in1·in2·out              | 2·MACs + bias    |
| matmul, rmatmul, mm, bmm, mv, dot     | broadcast batch·n·k·m              | 2·MACs           |
| addmm, baddbmm, addbmm, addmv, addr   | the product                        | 2·MACs + out     |
| grouped_mm (mixture-of-experts)       | routed rows·in·out                 | 2·MACs           |
| tensordot, inner, outer, ger          | out.numel·contracted size          | 2·MACs           |
| einsum                                | Σ pairwise steps: Π index sizes    | 2·MACs (+ sums)  |
| scaled_dot_product_attention          | B·L·S·E + B·L·S·Ev                 | 2·MACs + 5/score |
| lstm, gru, rnn_tanh, rnn_relu, *_cell | steps·gates·H·(I + H) per layer    | 2·MACs + below   |
| MultiheadAttention (module)           | projections + B·L·S·E·2            | 2·MACs + below   |
| batch_norm                            | 0                                  | 2/elem, train 5  |
| layer_norm, group_norm, instance_norm | 0                                  | 5/elem           |
| rms_norm                              | 0                                  | 4/elem           |
| relu, gelu, silu, sigmoid, tanh, ...  | 0                                  | 1/elem           |
| add, sub, mul, div, pow, exp, sqrt... | 0                                  | 1/out elem       |
| softmax, log_softmax                  | 0                                  | 4/elem           |
| max_pool*, avg_pool*                  | 0                                  | prod(k)/out elem |
| adaptive_*_pool*, sum, mean, amax ... | 0                                  | 1/in elem        |
| anything else                         | 0                                  | 0                |

Details of the conventions:

- *bias*: 1 FLOP per output element when a bias tensor is passed (the third tensor);
  *out* for ``addmm`` and kin: 1 per output element for adding the ``input`` tensor
  (``alpha`` and ``beta`` scalings are not counted).
- Convolutions read ``C/groups`` and ``k`` from the weight, so groups and depthwise
  convs need no attribute. A ``convolution`` node is transposed when its ``transposed``
  argument (``arg6``) says so; without it, from the weight and channel shapes.
- Grouped products (``torch._grouped_mm``, transformers' default expert kernel, and its
  ``transformers::grouped_mm_fallback``): ``a (S, K) @ b (E, K, N)`` runs each of the
  ``S`` routed rows (tokens × top-k) through the one expert it is routed to: ``S·K·N``,
  whichever expert gets which row; ``a (G, M, K) @ b (G, K, N)`` is batched, ``G·M·K·N``;
  ``a (M, K) @ b (K, N)`` grouped along ``K`` is ``M·K·N``.
- Matmul follows ``torch.matmul``: 1-D operands get a unit dim, batch dims broadcast.
  ``rmatmul`` (``__rmatmul__``) has its operands in reversed order: ``b @ a``.
- Einsum is counted in the order torch contracts: with ``opt_einsum`` installed (which
  torch then uses for three or more operands), along ``opt_einsum.contract_path``'s
  path; without it, left to right. In each pairwise step, an index found in one operand
  only and needed nowhere later is summed out first (1 FLOP per element of that
  operand, as is a one-operand reduction), then the step costs the product of the sizes
  of all its indices. The equation is ``arg0``. See docs/counting.md.
- Attention: ``q (..., L, E)``, ``k (..., S, E)``, ``v (..., S, Ev)``; ``B`` is the
  product of the query's batch dims (heads included), so grouped-query attention
  (fewer key/value heads) counts the query's heads. Per score (``B·L·S``): 1 scale +
  4 softmax, +1 with an ``attn_mask`` tensor or ``is_causal``.
- RNNs: per time step, layer and direction, ``gates·H·(I_layer + H)`` MACs (LSTM 4
  gates, GRU 3, RNN 1; ``H·P`` more with an LSTM projection of size ``P``, whose ``P``
  then replaces ``H`` as the recurrent input). FLOPs are 2·MACs + 2 per gate unit
  (``b_ih`` and ``b_hh``) when there are biases + per hidden unit 9 for LSTM (4 gate
  activations, ``f·c + i·g``, ``tanh(c)``, ``o·``) and GRU (2 sigmoids, ``r·``, ``+``,
  ``tanh``, ``(1 - z)·n + z·h``), 1 for RNN.
- MultiheadAttention: in-projections ``N·L·E² + N·S·kdim·E + N·S·vdim·E``, the two
  products ``2·N·L·S'·E``, the out-projection ``N·L·E²``; FLOPs 2·MACs + the bias adds +
  5 per score (``N·heads·L·S'``). ``S' = S``, +1 with ``add_bias_kv`` (a learned key and
  value appended after the projections) and +1 with ``add_zero_attn`` (a zero one).
- Norms: eval batch norm is a folded scale and shift (2); batch norm in training and
  layer, group and instance norm count mean, variance, normalize, scale and shift (5);
  RMS norm has no mean (4). Norm parameters present or not, the count is the same.
- Activations count 1 per element whatever their formula (gelu and silu too); a model
  that writes gelu out in torch ops (GPT-2's ``NewGELU``) is counted op by op.
- Softmax counts max, exp, sum and divide (4 per element).
- Pools read ``kernel_size`` (``arg1``): max and avg pools cost one FLOP per window
  element read, ``prod(k)·out.numel`` (``x.numel`` when the kernel is unknown); adaptive
  pools and reductions one per input element. ``max``/``min`` with two tensors are
  elementwise.
- Free (0): reshapes and views, indexing, ``cat``, copies, comparisons, ``where``,
  ``masked_fill``, ``dropout`` (identity in eval), embedding lookups, ``interpolate``.

Example:
    >>> T = TensorMeta
    >>> op_cost("linear", [T((1, 197, 768)), T((3072, 768)), T((3072,))], [T((1, 197, 3072))], {})
    Cost(macs=464781312, flops=930167808)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from drawnet.ir import AttrValue, TensorMeta

__all__ = ["MODULE_RULES", "OP_RULES", "Cost", "canonical_op", "module_cost", "op_cost"]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Cost:
    """Multiply-accumulates and floating-point operations of one op or module.

    Example:
        >>> Cost(2, 5) + Cost(1, 2)
        Cost(macs=3, flops=7)
    """

    macs: int = 0
    flops: int = 0

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(self.macs + other.macs, self.flops + other.flops)


_ZERO = Cost()

# ---------------------------------------------------------------------------------------
# Op names
# ---------------------------------------------------------------------------------------

_DUNDERS: Mapping[str, str] = MappingProxyType({
    **dict.fromkeys(("__add__", "__iadd__", "__radd__"), "add"),
    **dict.fromkeys(("__sub__", "__isub__"), "sub"),
    "__rsub__": "rsub",
    **dict.fromkeys(("__mul__", "__imul__", "__rmul__"), "mul"),
    **dict.fromkeys(
        ("__truediv__", "__itruediv__", "__rtruediv__", "__div__", "__idiv__", "__rdiv__"), "div"
    ),
    **dict.fromkeys(("__floordiv__", "__ifloordiv__", "__rfloordiv__"), "floor_divide"),
    **dict.fromkeys(("__mod__", "__imod__", "__rmod__"), "remainder"),
    **dict.fromkeys(("__pow__", "__ipow__", "__rpow__"), "pow"),
    **dict.fromkeys(("__matmul__", "__imatmul__"), "matmul"),
    "__rmatmul__": "rmatmul",
    "__neg__": "neg",
    "__pos__": "positive",
    "__abs__": "abs",
    "__invert__": "bitwise_not",
    **dict.fromkeys(("__and__", "__iand__", "__rand__"), "bitwise_and"),
    **dict.fromkeys(("__or__", "__ior__", "__ror__"), "bitwise_or"),
    **dict.fromkeys(("__xor__", "__ixor__", "__rxor__"), "bitwise_xor"),
    **dict.fromkeys(("__lshift__", "__ilshift__", "__rlshift__"), "bitwise_left_shift"),
    **dict.fromkeys(("__rshift__", "__irshift__", "__rrshift__"), "bitwise_right_shift"),
})


def _canonical_step(name: str) -> str:
    if name.startswith("aten::"):
        name = name[len("aten::"):].split(".", 1)[0]  # drop the overload: add.Tensor -> add
    if name in _DUNDERS:
        return _DUNDERS[name]
    if len(name) > 4 and name.startswith("__") and name.endswith("__"):
        return name[2:-2]
    return name.strip("_") or name


def canonical_op(name: str) -> str:
    """Normalise a raw call name from either tracer to the op name rules are keyed by.

    - ``aten::`` is dropped, with an overload suffix (``aten::add.Tensor`` -> ``add``);
      other namespaces (``prim::``, ``quantized::``) are kept as they are.
    - Operator dunders map to torch's name for the op: ``__add__``/``__iadd__``/
      ``__radd__`` -> ``add``, ``__truediv__`` -> ``div``, ``__and__`` ->
      ``bitwise_and``, ``__getitem__`` -> ``getitem`` (any other ``__x__`` -> ``x``).
      Reflected forms get the plain name since their cost is symmetric, except
      ``__rmatmul__`` -> ``rmatmul`` (its operands arrive as ``self, other``, the
      reverse of the product) and ``__rsub__`` -> ``rsub`` (torch's own op).
    - Leading and trailing underscores go: in-place ``relu_`` -> ``relu``, private
      ``_convolution`` -> ``convolution``. A name of only underscores is kept.
    - Steps repeat until nothing changes, so the result is a fixed point:
      ``canonical_op(canonical_op(n)) == canonical_op(n)``. Case is kept.

    Example:
        >>> [canonical_op(n) for n in ("aten::_convolution", "__iadd__", "relu_", "__rmatmul__")]
        ['convolution', 'add', 'relu', 'rmatmul']
    """
    out = name.strip()
    # Each step shortens the name or maps a dunder to a fixed point, so this ends.
    for _ in range(len(out) + 2):
        step = _canonical_step(out).strip()  # '0\r_' -> '0\r' -> '0'
        if step == out:
            break
        out = step
    return out


# ---------------------------------------------------------------------------------------
# Shape helpers
# ---------------------------------------------------------------------------------------


def _clean(meta: TensorMeta | None) -> Shape | None:
    if meta is None:
        return None
    return tuple(max(0, int(d)) for d in meta.shape)


def _broadcast(a: Shape, b: Shape) -> Shape | None:
    """Broadcast two shapes as torch does, or None if they do not broadcast."""
    out: list[int] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def _matmul_macs(a: Shape, b: Shape) -> int | None:
    """MACs of ``torch.matmul(a, b)``, or None if the shapes do not multiply."""
    if not a or not b:
        return None
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    n, k = a2[-2], a2[-1]
    k2, m = b2[-2], b2[-1]
    if k != k2:
        return None
    batch = _broadcast(a2[:-2], b2[:-2])
    if batch is None:
        return None
    return math.prod(batch) * n * k * m


def _int_attr(attrs: Mapping[str, AttrValue], *keys: str) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _bool_attr(attrs: Mapping[str, AttrValue], *keys: str) -> bool | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, int):  # bool, or a jit constant 0/1
            return bool(value)
    return None


@dataclass(frozen=True)
class _Call:
    """One op record, as the rules see it."""

    op: str
    inputs: tuple[TensorMeta | None, ...]
    outputs: tuple[TensorMeta, ...]
    attrs: Mapping[str, AttrValue]

    def shape(self, i: int) -> Shape | None:
        return _clean(self.inputs[i]) if 0 <= i < len(self.inputs) else None

    def numel(self, i: int) -> int:
        s = self.shape(i)
        return math.prod(s) if s is not None else 0

    def out_shape(self) -> Shape | None:
        return _clean(self.outputs[0]) if self.outputs else None

    def out_numel(self) -> int:
        """Elements of the first output, else of the inputs broadcast together."""
        out = self.out_shape()
        if out is not None:
            return math.prod(out)
        shape: Shape | None = None
        for meta in self.inputs:
            s = _clean(meta)
            if s is not None:
                shape = s if shape is None else _broadcast(shape, s)
                if shape is None:
                    return 0
        return math.prod(shape) if shape is not None else 0

    def bias(self, index: int) -> int:
        """1 FLOP per output element if a tensor sits at ``index`` (a bias)."""
        return self.out_numel() if len(self.inputs) > index else 0


Rule = Callable[[_Call], Cost]


def _product(macs: int, extra: int = 0) -> Cost:
    return Cost(macs, 2 * macs + extra)


# ---------------------------------------------------------------------------------------
# Rules for products
# ---------------------------------------------------------------------------------------


def _conv_transposed(c: _Call, w: Shape) -> bool:
    if "transpose" in c.op:
        return True
    if c.op not in ("convolution", "convolution_overrideable"):
        return False
    flag = _bool_attr(c.attrs, "transposed", "arg6")
    if flag is not None:
        return flag
    x, out = c.shape(0), c.out_shape()
    if x is None or out is None or len(x) != len(out) or len(x) not in (len(w), len(w) - 1):
        return False
    ch = 1 if len(x) == len(w) else 0  # batched or not
    c_in, c_out = x[ch], out[ch]
    regular = w[0] == c_out and w[1] > 0 and c_in % w[1] == 0
    transposed = w[0] == c_in and w[1] > 0 and c_out % w[1] == 0
    return transposed and not regular


def _conv(c: _Call) -> Cost:
    w = c.shape(1)
    if w is None or len(w) < 2:
        return _ZERO
    per_element = math.prod(w[1:])  # C_in/groups·k (regular) or C_out/groups·k (transposed)
    if _conv_transposed(c, w):
        x = c.shape(0)
        macs = math.prod(x) * per_element if x is not None else 0
    else:
        out = c.out_shape()
        macs = math.prod(out) * per_element if out is not None else 0
    return _product(macs, c.bias(2))


def _linear(c: _Call) -> Cost:
    w = c.shape(1)
    if w is None or len(w) not in (1, 2):
        return _ZERO
    out_features = w[0] if len(w) == 2 else 1
    x, out = c.shape(0), c.out_shape()
    if x is not None:
        macs = math.prod(x) * out_features
    elif out is not None:
        macs = math.prod(out) * w[-1]
    else:
        macs = 0
    return _product(macs, c.bias(2))


def _bilinear(c: _Call) -> Cost:
    w = c.shape(2)
    if w is None or len(w) != 3:
        return _ZERO
    out_features, in1, in2 = w
    out = c.out_shape()
    if out is not None:
        positions_out = math.prod(out)
    else:
        x = c.shape(0)
        positions_out = (math.prod(x) // in1) * out_features if x is not None and in1 else 0
    return _product(positions_out * in1 * in2, c.bias(3))


def _matmul_between(c: _Call, ia: int, ib: int) -> int:
    a, b = c.shape(ia), c.shape(ib)
    if a is not None and b is not None:
        macs = _matmul_macs(a, b)
        if macs is not None:
            return macs
    # Unknown or odd operand shapes: output elements times the contracted size.
    out = c.out_shape()
    k = a[-1] if a else (b[-2] if b is not None and len(b) >= 2 else None)
    return math.prod(out) * k if out is not None and k is not None else 0


def _matmul_rule(ia: int, ib: int, added: int | None = None) -> Rule:
    """A product of inputs ``ia @ ib``, plus an added tensor at index ``added``."""

    def rule(c: _Call) -> Cost:
        extra = c.out_numel() if added is not None and len(c.inputs) > added else 0
        return _product(_matmul_between(c, ia, ib), extra)

    return rule


def _grouped_mm(c: _Call) -> Cost:
    """``_grouped_mm(a, b, offs)``: every row of ``a`` through one group's ``b``."""
    a, b, out = c.shape(0), c.shape(1), c.out_shape()
    if a is None or b is None or len(a) not in (2, 3) or len(b) not in (2, 3):
        return _ZERO
    if len(a) == 2 and len(b) == 2:
        return _product(a[0] * a[1] * b[1])
    if out is None:
        return _ZERO
    return _product(math.prod(out) * a[-1])


def _contraction_rule(ia: int, ib: int, added: int | None = None) -> Rule:
    """tensordot/inner/outer: out.numel·K with K² = a.numel·b.numel/out.numel."""

    def rule(c: _Call) -> Cost:
        a, b, out = c.shape(ia), c.shape(ib), c.out_shape()
        if a is None or b is None or out is None or math.prod(out) == 0:
            return _ZERO
        n_out = math.prod(out)
        contracted = math.isqrt(math.prod(a) * math.prod(b) // n_out)
        extra = n_out if added is not None and len(c.inputs) > added else 0
        return _product(n_out * contracted, extra)

    return rule


_ELLIPSIS = "..."


def _einsum_labels(term: str, ndim: int, ell: int) -> list[str] | None:
    head, dots, tail = term.partition(_ELLIPSIS)
    letters = head + tail
    if not all(ch.isalpha() for ch in letters) or _ELLIPSIS in tail:
        return None
    covered = ndim - len(letters) if dots else 0
    if covered < 0 or (not dots and len(letters) != ndim):
        return None
    return [*head, *(f"...{i}" for i in range(ell - covered, ell)), *tail]


def _einsum_cost(equation: str, shapes: Sequence[Shape],
                 path: Sequence[tuple[int, ...]] | None = None) -> Cost | None:
    """The cost of one einsum along ``path`` (opt_einsum's convention; None: left to
    right), or None when the equation and shapes do not fit.

    Example:
        >>> eq, shapes = "ij,jk,kl->il", [(2, 100), (100, 3), (3, 100)]
        >>> _einsum_cost(eq, shapes).macs, _einsum_cost(eq, shapes, [(1, 2), (0, 1)]).macs
        (1200, 50000)
    """
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    parts = lhs.split(",")
    if len(parts) != len(shapes) or not parts:
        return None
    ell = max(
        (
            len(s) - len(t.replace(_ELLIPSIS, ""))
            for t, s in zip(parts, shapes, strict=True)
            if _ELLIPSIS in t
        ),
        default=0,
    )
    terms: list[list[str]] = []
    for t, s in zip(parts, shapes, strict=True):
        labels = _einsum_labels(t, len(s), ell)
        if labels is None:
            return None
        terms.append(labels)
    sizes: dict[str, int] = {}
    for labels, s in zip(terms, shapes, strict=True):
        for label, d in zip(labels, s, strict=True):
            sizes[label] = max(sizes.get(label, d), d)  # broadcast size-1 dims
    if arrow:
        out_labels = _einsum_labels(rhs, ell + len(rhs.replace(_ELLIPSIS, "")), ell)
        if out_labels is None or not set(out_labels) <= set(sizes):
            return None
        output = set(out_labels)
    else:
        counts: dict[str, int] = {}
        for labels in terms:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        output = {lab for lab, n in counts.items() if n == 1 or lab.startswith(_ELLIPSIS)}

    def numel(labels: set[str]) -> int:
        return math.prod(sizes[lab] for lab in labels)

    if len(terms) == 1:
        sums = 0
        if set(terms[0]) - output:  # a reduction ('ij->i', 'ii->'), not a transpose
            sums = math.prod(shapes[0])
        return Cost(0, sums)
    if path is None:
        path = _left_to_right(len(terms))
    operands = [set(t) for t in terms]
    macs = 0
    sums = 0
    for step in path:
        if len(step) != 2 or len(set(step)) != 2 or max(step) >= len(operands):
            return None
        i, j = step
        a, b = operands[i], operands[j]
        rest = [op for k, op in enumerate(operands) if k not in (i, j)]
        later = output.union(*rest)
        for side, opposite in ((a, b), (b, a)):
            alone = {lab for lab in side if lab not in opposite and lab not in later}
            if alone:
                sums += numel(side)
                side -= alone
        union = a | b
        macs += numel(union)
        operands = [*rest, {lab for lab in union if lab in later}]
    return _product(macs, sums)


def _left_to_right(n: int) -> list[tuple[int, int]]:
    """torch's order without opt_einsum, in opt_einsum's path convention (each step
    names two operands of the current list; their result goes to the end).

    Example:
        >>> _left_to_right(4)
        [(0, 1), (0, 2), (0, 1)]
    """
    return [(0, 1)] + [(0, n - 1 - k) for k in range(1, n - 1)]


def _torch_path(equation: str, shapes: Sequence[Shape]) -> list[tuple[int, int]] | None:
    """The path torch.einsum takes: ``opt_einsum``'s (torch's default ``auto`` strategy)
    when it is installed and there are three or more operands; else None (left to
    right)."""
    if len(shapes) < 3:
        return None
    try:
        import opt_einsum  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    try:
        found, _ = opt_einsum.contract_path(equation, *shapes, shapes=True, optimize="auto")
    except Exception:
        return None
    return [tuple(int(i) for i in step) for step in found]  # type: ignore[misc]


def _einsum(c: _Call) -> Cost:
    equation = c.attrs.get("arg0", c.attrs.get("equation"))
    if not isinstance(equation, str):
        return _ZERO
    shapes = [_clean(m) for m in c.inputs]
    known = [s for s in shapes if s is not None]
    if len(known) != len(shapes):
        return _ZERO
    cost = _einsum_cost(equation, known, _torch_path(equation, known))
    return cost if cost is not None else _ZERO


def _sdpa(c: _Call) -> Cost:
    q, k, v = c.shape(0), c.shape(1), c.shape(2)
    if q is None or k is None or len(q) < 2 or len(k) < 2:
        return _ZERO
    length, e = q[-2], q[-1]
    s = k[-2]
    ev = v[-1] if v else e
    batch = _broadcast(q[:-2], k[:-2])
    b = math.prod(batch if batch is not None else q[:-2])  # GQA: the query's heads
    scores = b * length * s
    macs = scores * e + scores * ev
    masked = c.op == "scaled_dot_product_attention" and (
        len(c.inputs) > 3 or bool(_bool_attr(c.attrs, "is_causal", "arg5"))
    )
    return _product(macs, scores * (5 + int(masked)))


def _mha(n: int, length: int, s: int, dims: tuple[int, int, int], heads: int, bias: bool,
         extra_keys: int = 0) -> Cost:
    """MultiheadAttention: in-projections, the two products and the out-projection.

    ``extra_keys`` key/value positions are added after the projections (one for
    ``add_bias_kv``, one for ``add_zero_attn``): the products and scores see them.
    """
    e, kdim, vdim = dims
    in_proj = n * length * e * e + n * s * kdim * e + n * s * vdim * e
    keys = s + extra_keys
    products = 2 * n * length * keys * e
    out_proj = n * length * e * e
    bias_adds = (2 * n * length * e + 2 * n * s * e) if bias else 0
    scores = n * max(heads, 1) * length * keys
    return _product(in_proj + products + out_proj, bias_adds + 5 * scores)


def _seq_dims(shape: Shape, batch_first: bool) -> tuple[int, int] | None:
    """(batch, sequence length) of a (L, E), (N, L, E) or (L, N, E) tensor."""
    if len(shape) == 2:
        return 1, shape[0]
    if len(shape) == 3:
        return (shape[0], shape[1]) if batch_first else (shape[1], shape[0])
    return None


def _mha_from_tensors(
    q: Shape | None, k: Shape | None, v: Shape | None, e: int | None, heads: int,
    batch_first: bool, bias: bool, extra_keys: int = 0,
) -> Cost | None:
    if q is None or not q:
        return None
    k = k if k else q
    v = v if v else k
    nl, ns = _seq_dims(q, batch_first), _seq_dims(k, batch_first)
    if nl is None or ns is None:
        return None
    embed = e if e is not None and e > 0 else q[-1]
    return _mha(nl[0], nl[1], ns[1], (embed, k[-1], v[-1]), heads, bias, extra_keys)


def _native_mha(c: _Call) -> Cost:
    """``_native_multi_head_attention``: batch-first q, k, v, then qkv and out weights."""
    bias = any(s is not None and len(s) == 1 for s in map(c.shape, range(3, len(c.inputs))))
    cost = _mha_from_tensors(
        c.shape(0), c.shape(1), c.shape(2), _int_attr(c.attrs, "embed_dim", "arg3"),
        _int_attr(c.attrs, "num_head", "num_heads", "arg4") or 1, True, bias,
    )
    return cost if cost is not None else _ZERO


def _functional_mha(c: _Call) -> Cost:
    """``F.multi_head_attention_forward``: sequence-first q, k, v; ``bias_k``/``bias_v``
    (two ``1×1×E`` tensors) and ``add_zero_attn`` (``arg9``) add key positions."""
    shapes = [s for s in map(c.shape, range(3, len(c.inputs))) if s is not None]
    bias = any(len(s) == 1 for s in shapes)
    bias_kv = sum(1 for s in shapes if len(s) == 3 and s[:2] == (1, 1)) >= 2
    zero_attn = bool(_bool_attr(c.attrs, "add_zero_attn", "arg9"))
    cost = _mha_from_tensors(
        c.shape(0), c.shape(1), c.shape(2), _int_attr(c.attrs, "embed_dim_to_check", "arg3"),
        _int_attr(c.attrs, "num_heads", "arg4") or 1, False, bias,
        int(bias_kv) + int(zero_attn),
    )
    return cost if cost is not None else _ZERO


def _encoder_layer(c: _Call) -> Cost:
    """``_transformer_encoder_layer_fwd``: a whole fused nn.TransformerEncoderLayer.

    Inputs: src (N, L, E), then qkv, out-proj, two norms' and two FFN weights and biases.
    FLOPs: 2·MACs, 1 per bias or norm-parameter element per token (bias adds and norm
    scale/shift), 3 per element for each norm's statistics, 2 residual adds, the FFN
    activation, and 5 per attention score.
    """
    x = c.shape(0)
    if x is None or not x or x[-1] == 0:
        return _ZERO
    params = [s for s in map(c.shape, range(1, len(c.inputs))) if s is not None]
    weights = [s for s in params if len(s) == 2]
    vectors = [s for s in params if len(s) == 1]
    e = x[-1]
    tokens = math.prod(x) // e
    nl = _seq_dims(x, True)
    n, length = nl if nl is not None else (1, tokens)
    heads = _int_attr(c.attrs, "num_heads", "arg2") or 1
    ffn = weights[2][0] if len(weights) > 2 else 0
    macs = tokens * sum(math.prod(w) for w in weights) + 2 * n * length * length * e
    flops = (
        2 * macs
        + tokens * sum(math.prod(v) for v in vectors)
        + tokens * e * (2 * 3 + 2)
        + tokens * ffn
        + 5 * n * heads * length * length
    )
    return Cost(macs, flops)


# RNN gate counts and elementwise FLOPs per hidden unit and step (see module docstring).
_GATES: Mapping[str, int] = MappingProxyType({"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1})
_STATE_FLOPS: Mapping[str, int] = MappingProxyType(
    {"lstm": 9, "gru": 9, "rnn_tanh": 1, "rnn_relu": 1}
)


def _rnn_hidden_units(weights: Sequence[Shape], gates: int) -> int:
    """Σ H over (w_ih, w_hh[, w_hr]) groups of flattened RNN weights."""
    total, i = 0, 0
    while i + 1 < len(weights):
        hidden = weights[i][0] // gates
        total += hidden
        i += 2
        if i < len(weights) and weights[i][0] < hidden:  # an LSTM projection (P < H)
            i += 1
    return total


def _rnn_op(c: _Call) -> Cost:
    """``aten::lstm``/``gru``/``rnn_*`` and their ``_cell`` ops: cost from the weights.

    Inputs: x (or packed data and int batch sizes), hx (2 tensors for LSTM), weights.
    """
    kind = c.op.removesuffix("_cell")
    gates = _GATES[kind]
    x = c.shape(0)
    if x is None or not x or x[-1] == 0:
        return _ZERO
    steps = math.prod(x) // x[-1]
    rest = c.inputs[1:]
    first = rest[0] if rest else None
    if first is not None and first.dtype.startswith(("int", "uint")):
        rest = rest[1:]  # packed sequence: batch sizes
    params = [s for s in map(_clean, rest[2 if kind == "lstm" else 1:]) if s is not None]
    weights = [s for s in params if len(s) == 2]
    biases = sum(math.prod(s) for s in params if len(s) == 1)
    macs = steps * sum(math.prod(w) for w in weights)
    hidden = _rnn_hidden_units(weights, gates)
    return _product(macs, steps * (biases + _STATE_FLOPS[kind] * hidden))


# ---------------------------------------------------------------------------------------
# Rules for elementwise work
# ---------------------------------------------------------------------------------------


def _per_output(k: int) -> Rule:
    def rule(c: _Call) -> Cost:
        return Cost(0, k * c.out_numel())

    return rule


def _per_input(k: int) -> Rule:
    def rule(c: _Call) -> Cost:
        return Cost(0, k * (c.numel(0) if c.shape(0) is not None else c.out_numel()))

    return rule


def _max_min(c: _Call) -> Cost:
    return _per_output(1)(c) if len(c.inputs) > 1 else _per_input(1)(c)


def _batch_norm(c: _Call) -> Cost:
    training = "no_training" not in c.op and bool(_bool_attr(c.attrs, "training", "arg5"))
    return _per_input(5 if training else 2)(c)


_DIMS = re.compile(r"([123])d")


def _pool(c: _Call) -> Cost:
    kernel = c.attrs.get("kernel_size", c.attrs.get("arg1"))
    out = c.out_shape()
    found = _DIMS.search(c.op)
    dims = int(found.group(1)) if found else (len(out) - 2 if out is not None else 0)
    if isinstance(kernel, tuple) and kernel:
        window = math.prod(max(0, d) for d in kernel)
    elif isinstance(kernel, int) and not isinstance(kernel, bool):
        window = max(0, kernel) ** max(dims, 1)
    else:
        return _per_input(1)(c)
    return Cost(0, window * c.out_numel())


def _names(names: str, rule: Rule) -> dict[str, Rule]:
    return dict.fromkeys(names.split(), rule)


_ACTIVATIONS = """relu relu6 leaky_relu elu selu celu gelu silu mish hardtanh hardswish
    hardsigmoid sigmoid tanh softplus softsign logsigmoid prelu rrelu glu threshold
    hardshrink softshrink tanhshrink"""
_ELEMENTWISE = """add sub rsub mul multiply div divide true_divide floor_divide remainder fmod
    pow float_power maximum minimum fmax fmin atan2 hypot clamp clamp_min clamp_max clip
    neg negative abs exp exp2 expm1 log log2 log10 log1p sqrt rsqrt reciprocal square sin
    cos tan erf erfc erfinv"""
_REDUCTIONS = """sum mean prod amax amin cumsum cumprod adaptive_avg_pool1d adaptive_avg_pool2d
    adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d
    adaptive_max_pool1d_with_indices adaptive_max_pool2d_with_indices
    adaptive_max_pool3d_with_indices"""
_POOLS = """max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d
    max_pool1d_with_indices max_pool2d_with_indices max_pool3d_with_indices"""
_CONVS = """conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution
    convolution_mode convolution_overrideable cudnn_convolution cudnn_convolution_transpose
    mkldnn_convolution"""

OP_RULES: Mapping[str, Rule] = MappingProxyType({
    **_names(_CONVS, _conv),
    "linear": _linear,
    "bilinear": _bilinear,
    **_names("matmul mm bmm mv dot vdot", _matmul_rule(0, 1)),
    "rmatmul": _matmul_rule(1, 0),
    **_names("addmm addbmm baddbmm addmv", _matmul_rule(1, 2, added=0)),
    "addr": _contraction_rule(1, 2, added=0),
    **_names("grouped_mm transformers::grouped_mm_fallback", _grouped_mm),
    **_names("tensordot inner outer ger", _contraction_rule(0, 1)),
    "einsum": _einsum,
    **_names(
        """scaled_dot_product_attention scaled_dot_product_flash_attention
        scaled_dot_product_flash_attention_for_cpu scaled_dot_product_efficient_attention
        scaled_dot_product_cudnn_attention""",
        _sdpa,
    ),
    "native_multi_head_attention": _native_mha,
    "multi_head_attention_forward": _functional_mha,
    "transformer_encoder_layer_fwd": _encoder_layer,
    **_names(
        "lstm gru rnn_tanh rnn_relu lstm_cell gru_cell rnn_tanh_cell rnn_relu_cell", _rnn_op
    ),
    **_names(
        """batch_norm native_batch_norm native_batch_norm_legit batch_norm_impl_index
        native_batch_norm_legit_no_training""",
        _batch_norm,
    ),
    **_names("layer_norm native_layer_norm group_norm native_group_norm instance_norm",
             _per_input(5)),
    **_names("rms_norm fused_rms_norm", _per_input(4)),
    **_names(_ACTIVATIONS, _per_output(1)),
    **_names(_ELEMENTWISE, _per_output(1)),
    **_names("softmax log_softmax", _per_input(4)),
    **_names(_REDUCTIONS, _per_input(1)),
    **_names("max min", _max_min),
    **_names(_POOLS, _pool),
})
"""Canonical op name -> rule. Ops not listed cost nothing."""


def _rule_cost(op: str, inputs: Sequence[TensorMeta | None], outputs: Sequence[TensorMeta],
               attrs: Mapping[str, AttrValue]) -> Cost:
    """Apply the rule for ``op`` without the safety net of :func:`op_cost`."""
    name = canonical_op(op)
    rule = OP_RULES.get(name)
    if rule is None:
        return _ZERO
    cost = rule(_Call(name, tuple(inputs), tuple(outputs), attrs))
    return Cost(max(0, cost.macs), max(0, cost.flops))


def op_cost(
    op: str,
    inputs: Sequence[TensorMeta | None],
    outputs: Sequence[TensorMeta],
    attrs: Mapping[str, AttrValue],
) -> Cost:
    """MACs and FLOPs of one recorded call, by the rules in the module docstring.

    ``op`` is canonicalised with :func:`canonical_op` first, so raw names work too.
    ``inputs`` are the call's tensors in order (``None`` where a shape is unknown),
    ``attrs`` its non-tensor arguments (``arg<i>`` by position, keywords by name).
    Unknown ops cost ``Cost(0, 0)``; this function never raises.

    Example:
        >>> T = TensorMeta
        >>> op_cost("conv2d", [T((1, 3, 224, 224)), T((64, 3, 7, 7))], [T((1, 64, 112, 112))],
        ...         {"arg3": (2, 2), "arg4": (3, 3)})
        Cost(macs=118013952, flops=236027904)
        >>> op_cost("__rmatmul__", [T((4, 5)), T((3, 4))], [T((3, 5))], {})
        Cost(macs=60, flops=120)
        >>> op_cost("frobnicate", [], [], {})
        Cost(macs=0, flops=0)
    """
    try:
        return _rule_cost(op, inputs, outputs, attrs)
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError):
        return _ZERO  # a malformed record is not worth stopping a trace for


# ---------------------------------------------------------------------------------------
# Module rules
# ---------------------------------------------------------------------------------------

ModuleRule = Callable[[Mapping[str, AttrValue], Sequence[TensorMeta]], Cost | None]


def _rnn_module(kind: str, cell: bool) -> ModuleRule:
    gates, state = _GATES[kind], _STATE_FLOPS[kind]

    def rule(attrs: Mapping[str, AttrValue], inputs: Sequence[TensorMeta]) -> Cost | None:
        x = _clean(inputs[0]) if inputs else None
        hidden = _int_attr(attrs, "hidden_size")
        if x is None or not x or x[-1] == 0 or hidden is None or hidden <= 0:
            return None
        steps = math.prod(x) // x[-1]
        in_size = _int_attr(attrs, "input_size") or x[-1]
        layers = 1 if cell else max(_int_attr(attrs, "num_layers") or 1, 1)
        directions = 2 if not cell and _bool_attr(attrs, "bidirectional") else 1
        proj = 0 if cell else max(_int_attr(attrs, "proj_size") or 0, 0)
        bias = _bool_attr(attrs, "has_bias", "bias")
        recurrent = proj or hidden
        # the first layer reads the input; the others the previous layer's outputs
        first = gates * hidden * (in_size + recurrent) + hidden * proj
        later = gates * hidden * (recurrent * directions + recurrent) + hidden * proj
        per_step = directions * (first + (layers - 1) * later)
        units = layers * directions * hidden
        bias_flops = 2 * gates * units if bias is None or bias else 0
        return _product(steps * per_step, steps * (bias_flops + state * units))

    return rule


def _mha_module(attrs: Mapping[str, AttrValue], inputs: Sequence[TensorMeta]) -> Cost | None:
    q, k, v = (_clean(inputs[i]) if i < len(inputs) else None for i in range(3))
    if q is None or not q:
        return None
    if k is None or not k:  # only the query was recorded: self-attention with kdim
        k = (*q[:-1], _int_attr(attrs, "kdim") or q[-1])
    if v is None or not v:
        v = (*k[:-1], _int_attr(attrs, "vdim") or k[-1])
    bias = _bool_attr(attrs, "has_bias", "bias")
    extra = int(bool(_bool_attr(attrs, "add_bias_kv"))) + int(
        bool(_bool_attr(attrs, "add_zero_attn")))
    return _mha_from_tensors(
        q, k, v, _int_attr(attrs, "embed_dim"), _int_attr(attrs, "num_heads") or 1,
        bool(_bool_attr(attrs, "batch_first")), bias is None or bias, extra,
    )


_MODULE_RULES: Mapping[str, ModuleRule] = MappingProxyType({
    "MultiheadAttention": _mha_module,
    "LSTM": _rnn_module("lstm", cell=False),
    "GRU": _rnn_module("gru", cell=False),
    "RNN": _rnn_module("rnn_tanh", cell=False),
    "LSTMCell": _rnn_module("lstm", cell=True),
    "GRUCell": _rnn_module("gru", cell=True),
    "RNNCell": _rnn_module("rnn_tanh", cell=True),
})

MODULE_RULES: frozenset[str] = frozenset(_MODULE_RULES)
"""Class names :func:`module_cost` counts as a whole."""


def module_cost(
    class_name: str,
    attrs: Mapping[str, AttrValue],
    inputs: Sequence[TensorMeta],
    outputs: Sequence[TensorMeta],
) -> Cost | None:
    """Cost of a whole leaf module in :data:`MODULE_RULES`, or None to count its ops.

    ``attrs`` are the module's attributes (``embed_dim``, ``num_heads``, ``kdim``,
    ``vdim``, ``batch_first``, ``input_size``, ``hidden_size``, ``num_layers``,
    ``bidirectional``, ``proj_size``, ``has_bias``); ``inputs`` its forward tensors in
    order (for an RNN only the first, the sequence, is read: time steps are its elements
    over its last dim, so batch_first and packed data need no care). Returns None for
    other classes and when the shapes needed are missing; never raises.

    Example:
        >>> T = TensorMeta
        >>> lstm = {"input_size": 100, "hidden_size": 200, "num_layers": 2, "has_bias": True}
        >>> module_cost("LSTM", lstm, [T((1, 50, 100))], [T((1, 50, 200))]).macs
        28000000
        >>> module_cost("Linear", {}, [T((1, 4))], [T((1, 2))]) is None
        True
    """
    del outputs  # shapes of the inputs and attributes are enough for every rule
    rule = _MODULE_RULES.get(class_name)
    if rule is None:
        return None
    try:
        cost = rule(attrs, inputs)
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError):
        return None
    return None if cost is None else Cost(max(0, cost.macs), max(0, cost.flops))
