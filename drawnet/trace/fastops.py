"""Shape rules for ops whose meta kernels are slow Python references.

On meta tensors ``cumsum`` costs about 5 ms a call, ``pow`` and ``mean`` about 1 ms,
``rsqrt``, ``neg`` and ``sum`` 0.1-0.2 ms (torch runs their ``_refs`` decompositions),
against a few microseconds for ``torch.empty``. Every RMSNorm of an LLM runs ``pow``,
``mean`` and ``rsqrt``, and mixture-of-experts layers a ``cumsum``. The rules here answer
those ops from shapes and dtypes for the common, unambiguous forms (floating-point
inputs, scalar exponents, valid dims) and return None for anything else, so torch's own
kernel runs and raises its own error.

Example:
    >>> import torch
    >>> x = torch.empty(1, 128, 256, device="meta")
    >>> tuple(RULES["mean"](torch, (x, -1), {"keepdim": True}).shape)
    (1, 128, 1)
    >>> RULES["cumsum"](torch, (torch.empty(8, dtype=torch.int32, device="meta"), 0), {}).dtype
    torch.int64
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Rule = Callable[[Any, Any, dict[str, Any]], Any]

# Unary ops that keep the shape and the (floating-point) dtype of their input.
_FLOAT_UNARY = ("rsqrt", "sqrt", "exp", "log", "sin", "cos", "neg", "reciprocal", "abs",
                "square", "erf", "exp2", "log1p", "expm1", "__neg__", "__abs__")


def _standard_order(x: Any) -> bool:
    """Strides in row-major order (a contiguous tensor or a slice of one): the results of
    elementwise ops, reductions and scans on it are contiguous."""
    last = None
    for size, stride in zip(x.shape, x.stride(), strict=True):
        if size == 1:
            continue
        if last is not None and stride > last:
            return False
        last = stride
    return True


def _meta_float(torch: Any, x: Any) -> bool:
    """A floating-point meta tensor in row-major order (see :func:`_standard_order`)."""
    return isinstance(x, torch.Tensor) and x.device.type == "meta" and \
        x.dtype.is_floating_point and _standard_order(x)


def _unary(torch: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    if len(args) != 1 or kwargs or not _meta_float(torch, args[0]):
        return None
    return torch.empty(tuple(args[0].shape), dtype=args[0].dtype, device="meta")


def _pow(torch: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """``x ** p`` with a float tensor ``x`` and a Python number ``p``."""
    if len(args) != 2 or kwargs or not _meta_float(torch, args[0]):
        return None
    p = args[1]
    if isinstance(p, bool) or not isinstance(p, int | float):
        return None
    return torch.empty(tuple(args[0].shape), dtype=args[0].dtype, device="meta")


def _dims(x: Any, dim: Any) -> tuple[int, ...] | None:
    """Normalised reduction dims, or None if they are not valid for ``x``."""
    n = x.dim()
    dims = (dim,) if isinstance(dim, int) else tuple(dim) if isinstance(dim, list | tuple) \
        else None
    if dims is None or not dims or any(isinstance(d, bool) or not isinstance(d, int)
                                        for d in dims):
        return None
    lo = -max(n, 1)
    if any(d < lo or d >= max(n, 1) for d in dims):
        return None
    out = tuple(d % max(n, 1) for d in dims)
    return out if len(set(out)) == len(out) else None


def _reduction(kind: str) -> Rule:
    """``mean``/``sum``/``amax``/``amin`` over given dims of a float tensor."""

    def rule(torch: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        if not args or not _meta_float(torch, args[0]) or set(kwargs) - {"dim", "keepdim"}:
            return None
        x = args[0]
        if len(args) > 3 or (len(args) > 1 and "dim" in kwargs):
            return None
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
        if dim is None or not isinstance(keepdim, bool) or x.dim() == 0:
            return None
        dims = _dims(x, dim)
        if dims is None:
            return None
        shape = [1 if i in dims else s for i, s in enumerate(x.shape)] if keepdim else [
            s for i, s in enumerate(x.shape) if i not in dims]
        if kind == "mean" and any(x.shape[d] == 0 for d in dims):
            return None
        return torch.empty(tuple(shape), dtype=x.dtype, device="meta")

    return rule


def _cumulative(torch: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """``cumsum``/``cumprod(x, dim, dtype=None)``: x's shape; integers become int64."""
    if not args or set(kwargs) - {"dim", "dtype"}:
        return None
    x = args[0]
    if not isinstance(x, torch.Tensor) or x.device.type != "meta" or x.is_complex() \
            or not _standard_order(x):
        return None
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    if len(args) > 2 or not isinstance(dim, int) or isinstance(dim, bool) \
            or _dims(x, dim) is None:
        return None
    dtype = kwargs.get("dtype")
    if dtype is None:
        dtype = x.dtype if x.dtype.is_floating_point else torch.int64
    elif not isinstance(dtype, torch.dtype):
        return None
    return torch.empty(tuple(x.shape), dtype=dtype, device="meta")


RULES: dict[str, Rule] = {
    **dict.fromkeys(_FLOAT_UNARY, _unary),
    "pow": _pow, "__pow__": _pow,
    **{k: _reduction(k) for k in ("mean", "sum", "amax", "amin")},
    "cumsum": _cumulative, "cumprod": _cumulative,
}
"""Op name -> rule ``(torch, args, kwargs) -> meta result or None``."""
