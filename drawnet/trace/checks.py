"""Meta kernels, run once per distinct call: torch's own shape and dtype checks, fast.

On ``meta`` tensors many of torch's kernels are Python decompositions that cost far more
than the shape they compute (measured on torch 2.14, one thread: ``interpolate`` 23 ms,
``layer_norm`` and ``scaled_dot_product_attention`` 1 ms, ``batch_norm`` 0.8 ms,
``multi_head_attention_forward`` 9 ms, ``linear`` and ``gelu`` 0.4 ms, ``add`` 0.1 ms).
Answering them from shape rules of our own is fast but skips torch's checks, so a model
that cannot run (``nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(16))``) would be drawn.

:class:`MetaKernels` keeps both: the first call of an op with a given signature runs
torch's real meta kernel, which raises exactly where a real run would; its result's
shape, strides and dtype are stored under a key made of everything the kernel reads
(the function, each tensor's shape, strides and dtype, every other argument's type and
value, the default dtype). A later call with the same key, which torch would answer
the same way, gets a fresh ``meta`` tensor with that shape at the cost of a dict lookup;
repeated blocks (a transformer's twelve layers, a ResNet stage) run each kernel once.
In-place variants (``relu_``, ``add_``, ``inplace=True``) are checked the same way and
return their input.

Signatures that do not repeat (DenseNet's batch norms each see another channel count)
would still pay for the kernel, so the commonest ops also have a rule of our own
(:class:`_Rules`): norms, ``linear``, attention, binary arithmetic, ``cat`` and the
activations. A rule answers only a call it can prove valid, with the same conditions
torch checks (shapes that must match, channel counts, broadcasting, one floating dtype,
dense strides) and the output torch would give; any call outside that plainly valid
case (a mismatch, mixed dtypes, odd strides, arguments it does not know) goes to the
real kernel, which raises torch's own error or gives the answer. So a rule can only
make a valid call faster, never accept a call torch rejects.

Only the ops listed in :data:`CACHED` are answered from the cache, only when every
tensor argument is a plain ``meta`` tensor, and only when every argument can be part
of a key (no generators, no tensor subclasses, no ``out=``); anything else runs as it is.
The cache lives for one trace.

Example:
    >>> import torch
    >>> k = MetaKernels()
    >>> x = torch.empty(2, 8, device="meta")
    >>> ln = torch.nn.functional.layer_norm
    >>> k.call(ln, "layer_norm", (x, (8,)), {}).shape, k.hits
    (torch.Size([2, 8]), 0)
    >>> k.call(ln, "layer_norm", (x, (8,)), {}).shape, k.hits
    (torch.Size([2, 8]), 1)
    >>> k.call(ln, "layer_norm", (x, (16,)), {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    RuntimeError: Given normalized_shape=[16], expected input with shape [16], ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

__all__ = ["CACHED", "MetaKernels"]

_FUNCTIONAL = frozenset({
    # norms
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm",
    "local_response_norm", "normalize",
    # activations (with and without parameters)
    "relu", "relu6", "gelu", "silu", "mish", "elu", "selu", "celu", "leaky_relu",
    "hardswish", "hardsigmoid", "hardtanh", "sigmoid", "tanh", "softplus", "softmax",
    "log_softmax", "prelu", "glu", "logsigmoid", "softsign", "tanhshrink", "threshold",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
    "feature_alpha_dropout",
    # products and attention
    "linear", "addmm", "matmul", "bmm", "baddbmm", "einsum", "bilinear",
    "scaled_dot_product_attention", "multi_head_attention_forward",
    # element-wise and reductions
    "add", "sub", "mul", "div", "pow", "where", "masked_fill", "clamp", "clip", "rsqrt",
    "sqrt", "exp", "log", "neg", "abs", "mean", "sum", "cumsum", "triu", "tril",
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__",
    # joins, resampling, pooling, convolutions
    "cat", "concat", "concatenate", "stack", "interpolate", "upsample",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d",
})
_INPLACE_DUNDERS = frozenset({"__iadd__", "__isub__", "__imul__", "__itruediv__"})
CACHED: frozenset[str] = (
    _FUNCTIONAL | _INPLACE_DUNDERS
    | frozenset(f"{n}_" for n in _FUNCTIONAL if not n.startswith("__"))
)
"""Op names whose meta kernel runs once per signature (in-place ``name_`` forms too)."""


class _Uncacheable(Exception):
    """An argument that cannot be part of a key: the op runs as it is."""


class MetaKernels:
    """Runs ops on ``meta`` tensors through torch, once per distinct signature.

    ``hits``, ``ruled`` and ``misses`` count answers from the cache, from a rule, and
    from a real kernel run.
    """

    def __init__(self) -> None:
        import torch

        self._torch = torch
        self._plain = (torch.Tensor, torch.nn.Parameter)
        self._simple = (type(None), bool, int, float, str, complex, torch.dtype,
                        torch.device, torch.layout, torch.memory_format)
        self._cache: dict[Any, Any] = {}
        self._rules = _Rules(torch).table()
        self.hits = 0
        self.misses = 0
        self.ruled = 0

    def call(self, func: Callable[..., Any], name: str, args: Any, kwargs: dict[str, Any]
             ) -> Any:
        """``func(*args, **kwargs)``, from the cache when it may be (see the module doc)."""
        if name not in CACHED or "out" in kwargs:
            return func(*args, **kwargs)
        parts: list[Any] = [func, self._torch.get_default_dtype()]
        found = [False]
        try:
            for a in args:
                self._key(a, parts, found)
            for k, v in kwargs.items():
                parts.append(k)
                self._key(v, parts, found)
        except _Uncacheable:
            return func(*args, **kwargs)
        if not found[0]:
            return func(*args, **kwargs)  # no meta tensor: a real run
        key = tuple(parts)
        inplace = _is_inplace(name, kwargs)
        spec = self._cache.get(key)
        if spec is not None:
            self.hits += 1
            return args[0] if inplace and args else self._make(spec)
        rule = self._rules.get(func)
        result = rule(args, kwargs) if rule is not None else None
        if result is None:
            result = func(*args, **kwargs)
            self.misses += 1
        else:
            self.ruled += 1
        with contextlib.suppress(_Uncacheable):
            self._cache[key] = self._spec(result)
        return result

    # -- keys ------------------------------------------------------------------------------
    def _key(self, value: Any, parts: list[Any], found: list[bool]) -> None:
        kind = type(value)
        if kind in self._plain:
            if value.device.type != "meta":
                raise _Uncacheable
            found[0] = True
            parts.append((tuple(value.shape), value.stride(), value.dtype))
        elif kind in self._simple:
            parts.append((kind, value))
        elif isinstance(value, tuple | list):  # torch.Size, shapes, tensor lists
            parts.append((type(value), len(value)))
            for v in value:
                self._key(v, parts, found)
        else:
            raise _Uncacheable

    # -- results ---------------------------------------------------------------------------
    def _spec(self, result: Any) -> Any:
        if type(result) is self._torch.Tensor and result.device.type == "meta":
            return (tuple(result.shape), result.stride(), result.dtype)
        if type(result) in (tuple, list):
            return (type(result), tuple(None if r is None else self._spec(r) for r in result))
        raise _Uncacheable

    def _make(self, spec: Any) -> Any:
        first = spec[0]
        if isinstance(first, tuple):
            shape, stride, dtype = spec
            return self._torch.empty_strided(shape, stride, dtype=dtype, device="meta")
        kind, items = spec
        return kind(None if s is None else self._make(s) for s in items)


def _is_inplace(name: str, kwargs: dict[str, Any]) -> bool:
    return bool(kwargs.get("inplace")) or name in _INPLACE_DUNDERS or (
        name.endswith("_") and not name.endswith("__"))


# -- rules: the plainly valid case of the commonest ops, answered from shapes ----------------
_Rule = Callable[[Any, dict[str, Any]], Any]

_UNARY = ("relu", "relu6", "gelu", "silu", "mish", "elu", "selu", "celu", "leaky_relu",
          "hardswish", "hardsigmoid", "hardtanh", "sigmoid", "tanh", "softplus")
_DROPOUTS = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
             "feature_alpha_dropout")
_BINARY = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "__add__": "add",
           "__radd__": "add", "__sub__": "sub", "__mul__": "mul", "__rmul__": "mul",
           "__truediv__": "div", "__iadd__": "add_", "__isub__": "sub_",
           "__imul__": "mul_", "__itruediv__": "div_", "add_": "add_", "sub_": "sub_",
           "mul_": "mul_", "div_": "div_"}


def _bind(names: tuple[str, ...], args: Any, kwargs: dict[str, Any],
          defaults: dict[str, Any]) -> dict[str, Any] | None:
    """Arguments by name, or None when they do not fit ``names`` (then: the kernel)."""
    if len(args) > len(names):
        return None
    out = dict(defaults)
    out.update(zip(names, args, strict=False))
    for k, v in kwargs.items():
        if k not in names or (k in out and names.index(k) < len(args)):
            return None
        out[k] = v
    return out


class _Rules:
    """Rules for the plainly valid case of common ops (see the module docstring).

    Each takes ``(args, kwargs)`` and returns the result (a fresh ``meta`` tensor, or the
    input for an in-place op) or None to let the real kernel run.
    """

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self.T = (torch.Tensor, torch.nn.Parameter)

    def table(self) -> dict[Any, _Rule]:
        torch = self.torch
        F = torch.nn.functional
        t: dict[Any, _Rule] = {}

        def put(owner: Any, name: str, rule: _Rule) -> None:
            func = getattr(owner, name, None)
            if func is not None:
                t[func] = rule

        put(F, "batch_norm", self.batch_norm)
        put(F, "layer_norm", self.layer_norm)
        put(torch, "layer_norm", self.layer_norm)
        put(F, "rms_norm", self.rms_norm)
        put(F, "group_norm", self.group_norm)
        put(F, "linear", self.linear)
        put(F, "scaled_dot_product_attention", self.sdpa)
        for name in ("cat", "concat", "concatenate"):
            put(torch, name, self.cat)
        for name, op in _BINARY.items():
            rule = self._binary(op)
            put(torch.Tensor, name, rule)
            if not name.startswith("__") and not name.endswith("_"):
                put(torch, name, rule)
        for name in _UNARY:
            put(F, name, self._unary(in_place_kw=True))
            put(torch, name, self._unary())
            put(torch.Tensor, name, self._unary())
            put(torch, f"{name}_", self._unary(in_place=True))
            put(torch.Tensor, f"{name}_", self._unary(in_place=True))
            put(F, f"{name}_", self._unary(in_place=True))
        for name in ("softmax", "log_softmax"):
            put(F, name, self._softmax)
            put(torch, name, self._softmax)
            put(torch.Tensor, name, self._softmax)
        for name in _DROPOUTS:
            put(F, name, self.dropout)
        return t

    # -- helpers -------------------------------------------------------------------------
    def _meta(self, x: Any) -> bool:
        return type(x) in self.T and x.device.type == "meta"

    def _float(self, x: Any) -> bool:
        return self._meta(x) and x.dtype.is_floating_point

    def _empty(self, shape: Any, dtype: Any) -> Any:
        return self.torch.empty(tuple(shape), dtype=dtype, device="meta")

    def _like(self, x: Any) -> Any:
        """A fresh tensor laid out as ``x`` (dense ``x`` only: the caller checks)."""
        return self.torch.empty_strided(tuple(x.shape), x.stride(), dtype=x.dtype,
                                        device="meta")

    def _dense(self, x: Any) -> bool:
        """Contiguous, or channels-last contiguous: element-wise outputs keep its layout."""
        torch = self.torch
        if x.is_contiguous():
            return True
        if x.dim() == 4:
            return bool(x.is_contiguous(memory_format=torch.channels_last))
        if x.dim() == 5:
            return bool(x.is_contiguous(memory_format=torch.channels_last_3d))
        return False

    def _param(self, p: Any, shape: tuple[int, ...], dtype: Any) -> bool:
        """``p`` is None, or a meta tensor of exactly ``shape`` and ``dtype``."""
        return p is None or (self._meta(p) and tuple(p.shape) == shape and p.dtype == dtype)

    # -- norms ---------------------------------------------------------------------------
    def batch_norm(self, args: Any, kwargs: dict[str, Any]) -> Any:
        a = _bind(("input", "running_mean", "running_var", "weight", "bias", "training",
                   "momentum", "eps"), args, kwargs,
                  {"weight": None, "bias": None, "training": False, "momentum": 0.1,
                   "eps": 1e-5})
        if a is None or len(a) < 8:
            return None
        x = a["input"]
        if not self._float(x) or x.dim() < 2 or not self._dense(x):
            return None
        c = (int(x.shape[1]),)
        if not all(self._param(a[k], c, x.dtype) for k in
                   ("running_mean", "running_var", "weight", "bias")):
            return None
        if a["training"]:
            n = int(x.shape[0])
            for d in x.shape[2:]:
                n *= int(d)
            if n == 1:  # "expected more than 1 value per channel when training"
                return None
        elif a["running_mean"] is None or a["running_var"] is None:
            return None
        return self._like(x)

    def _normalized(self, x: Any, shape: Any) -> tuple[int, ...] | None:
        norm = (shape,) if isinstance(shape, int) else tuple(shape) if isinstance(
            shape, tuple | list) else None
        if norm is None or not norm or not all(type(d) is int for d in norm):
            return None
        if x.dim() < len(norm) or tuple(x.shape[x.dim() - len(norm):]) != norm:
            return None
        return norm

    def layer_norm(self, args: Any, kwargs: dict[str, Any]) -> Any:
        a = _bind(("input", "normalized_shape", "weight", "bias", "eps"), args, kwargs,
                  {"weight": None, "bias": None, "eps": 1e-5})
        if a is None or len(a) < 5:
            return None
        x = a["input"]
        if not self._float(x):
            return None
        norm = self._normalized(x, a["normalized_shape"])
        if norm is None or not (self._param(a["weight"], norm, x.dtype)
                                and self._param(a["bias"], norm, x.dtype)):
            return None
        # layer_norm makes its input contiguous first: the output is contiguous whatever
        # the input's layout (ConvNeXt normalises permuted, channels-last tensors)
        return self._empty(x.shape, x.dtype)

    def rms_norm(self, args: Any, kwargs: dict[str, Any]) -> Any:
        a = _bind(("input", "normalized_shape", "weight", "eps"), args, kwargs,
                  {"weight": None, "eps": None})
        if a is None or len(a) < 4:
            return None
        x = a["input"]
        if not self._float(x) or not x.is_contiguous():
            return None
        norm = self._normalized(x, a["normalized_shape"])
        if norm is None or not self._param(a["weight"], norm, x.dtype):
            return None
        return self._like(x)

    def group_norm(self, args: Any, kwargs: dict[str, Any]) -> Any:
        a = _bind(("input", "num_groups", "weight", "bias", "eps"), args, kwargs,
                  {"weight": None, "bias": None, "eps": 1e-5})
        if a is None or len(a) < 5:
            return None
        x, groups = a["input"], a["num_groups"]
        if not self._float(x) or x.dim() < 2 or not x.is_contiguous() \
                or type(groups) is not int or groups <= 0:
            return None
        n, c = int(x.shape[0]), int(x.shape[1])
        if c % groups:
            return None
        values = n * c // groups  # F.group_norm's _verify_batch_size
        for d in x.shape[2:]:
            values *= int(d)
        if values == 1:
            return None  # torch refuses: one value per group
        if not (self._param(a["weight"], (c,), x.dtype)
                and self._param(a["bias"], (c,), x.dtype)):
            return None
        return self._like(x)

    # -- products ------------------------------------------------------------------------
    def linear(self, args: Any, kwargs: dict[str, Any]) -> Any:
        a = _bind(("input", "weight", "bias"), args, kwargs, {"bias": None})
        if a is None or len(a) != 3:
            return None
        x, w, b = a["input"], a["weight"], a["bias"]
        if not (self._float(x) and self._meta(w)) or w.dim() != 2 or x.dim() < 1 \
                or x.shape[-1] != w.shape[1] or w.dtype != x.dtype:
            return None
        if not self._param(b, (int(w.shape[0]),), x.dtype):
            return None
        return self._empty((*x.shape[:-1], w.shape[0]), x.dtype)

    def sdpa(self, args: Any, kwargs: dict[str, Any]) -> Any:
        a = _bind(("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale",
                   "enable_gqa"), args, kwargs,
                  {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None,
                   "enable_gqa": False})
        if a is None or len(a) != 8 or a["enable_gqa"]:
            return None
        q, k, v, mask = a["query"], a["key"], a["value"], a["attn_mask"]
        if not (self._float(q) and self._meta(k) and self._meta(v)):
            return None
        if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim() \
                or q.dtype != k.dtype or q.dtype != v.dtype \
                or q.shape[:-2] != k.shape[:-2] or q.shape[:-2] != v.shape[:-2] \
                or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
            return None
        if mask is not None:
            if a["is_causal"] or not self._meta(mask) or mask.dtype not in (
                    self.torch.bool, q.dtype):
                return None
            target = (*q.shape[:-1], k.shape[-2])
            if _broadcast(tuple(mask.shape), target) != target:
                return None
        return self._empty((*q.shape[:-1], v.shape[-1]), q.dtype)

    # -- element-wise ----------------------------------------------------------------------
    def _binary(self, op: str) -> _Rule:
        torch = self.torch
        in_place = op.endswith("_")
        divide = op.startswith("div")

        def rule(args: Any, kwargs: dict[str, Any]) -> Any:
            if len(args) != 2 or set(kwargs) - {"alpha"}:
                return None
            x, y = args
            if not self._meta(x):
                return None
            # contiguous operands give a contiguous result; other layouts: the kernel
            if self._meta(y):
                if not y.is_contiguous():
                    return None
                other: tuple[int, ...] = tuple(y.shape)
            elif type(y) in (int, float, bool):
                other = ()
            else:
                return None
            if not x.is_contiguous():
                return None
            if "alpha" in kwargs and (op.startswith(("mul", "div"))
                                      or type(kwargs["alpha"]) not in (int, float)):
                return None
            shape = _broadcast(tuple(x.shape), other)
            if shape is None:
                return None
            try:
                dtype = torch.result_type(x, y)
            except (RuntimeError, TypeError):
                return None
            if dtype == torch.bool and op.startswith("sub"):
                return None  # torch refuses boolean subtraction
            if divide and not (dtype.is_floating_point or dtype.is_complex):
                dtype = torch.get_default_dtype()
            if "alpha" in kwargs and type(kwargs["alpha"]) is float \
                    and not dtype.is_floating_point:
                return None
            if in_place:
                if shape != tuple(x.shape) or not torch.can_cast(dtype, x.dtype):
                    return None
                return x
            return self._empty(shape, dtype)

        return rule

    def cat(self, args: Any, kwargs: dict[str, Any]) -> Any:
        a = _bind(("tensors", "dim"), args, kwargs, {"dim": 0})
        if a is None or len(a) != 2 or type(a["dim"]) is not int:
            return None
        tensors = a["tensors"]
        if not isinstance(tensors, tuple | list) or not tensors:
            return None
        ts = []
        for t in tensors:
            if not self._meta(t) or not t.is_contiguous():
                return None
            if tuple(t.shape) != (0,):  # cat skips legacy empty 1-D tensors
                ts.append(t)
        if not ts:
            return None
        shape = list(ts[0].shape)
        if not shape or not -len(shape) <= a["dim"] < len(shape):
            return None
        d = a["dim"] % len(shape)
        dtype = ts[0].dtype
        total = 0
        for t in ts:
            if t.dim() != len(shape) or any(
                    int(x) != y for i, (x, y) in enumerate(zip(t.shape, shape, strict=True))
                    if i != d):
                return None
            total += int(t.shape[d])
            dtype = self.torch.promote_types(dtype, t.dtype)
        shape[d] = total
        return self._empty(shape, dtype)

    def _unary(self, *, in_place: bool = False, in_place_kw: bool = False) -> _Rule:
        def rule(args: Any, kwargs: dict[str, Any]) -> Any:
            if not args or not self._float(args[0]) or not self._dense(args[0]):
                return None
            x = args[0]
            extra = set(kwargs) - {"inplace", "negative_slope", "alpha", "approximate",
                                   "beta", "threshold", "min_val", "max_val", "scale",
                                   "input_scale"}
            if extra or any(type(v) not in (int, float, bool, str) for v in kwargs.values()):
                return None
            if any(type(v) not in (int, float, bool, str) for v in args[1:]):
                return None
            if kwargs.get("approximate", "none") not in ("none", "tanh"):
                return None
            low, high = kwargs.get("min_val", -1.0), kwargs.get("max_val", 1.0)
            if type(low) is str or type(high) is str or low > high:
                return None
            if in_place or (in_place_kw and kwargs.get("inplace")):
                return x
            return self._like(x)

        return rule

    def _softmax(self, args: Any, kwargs: dict[str, Any]) -> Any:
        a = _bind(("input", "dim", "_stacklevel", "dtype"), args, kwargs,
                  {"_stacklevel": 3, "dtype": None})
        if a is None or "dim" not in a or a["dtype"] is not None:
            return None
        x, dim = a["input"], a["dim"]
        if not self._float(x) or not x.is_contiguous() or type(dim) is not int:
            return None
        n = max(x.dim(), 1)
        if not -n <= dim < n:
            return None
        return self._like(x)

    def dropout(self, args: Any, kwargs: dict[str, Any]) -> Any:
        a = _bind(("input", "p", "training", "inplace"), args, kwargs,
                  {"p": 0.5, "training": True, "inplace": False})
        if a is None:
            return None
        x, p = a["input"], a["p"]
        if not self._float(x) or not self._dense(x) or type(p) not in (int, float) \
                or not 0.0 <= p <= 1.0:
            return None
        return x if a["inplace"] else self._like(x)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """The broadcast of two shapes, or None when they do not broadcast.

    Example:
        >>> _broadcast((2, 1, 4), (3, 1)), _broadcast((2, 3), (4,))
        ((2, 3, 4), None)
    """
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b, strict=True):
        if x == y or y == 1:
            out.append(int(x))
        elif x == 1:
            out.append(int(y))
        else:
            return None
    return tuple(out)
