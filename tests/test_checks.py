"""The meta tracer's fast answers never accept what torch rejects, and agree with torch.

drawnet/trace/checks.py answers common ops on meta tensors from a cache or from rules of
its own. Each rule is checked here against torch's real meta kernel on random shapes,
dtypes and arguments, valid or not: whenever a rule answers, torch must accept the call
and give the same shape, dtype and (for element-wise ops) strides.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from drawnet.trace.checks import MetaKernels, _Rules

RULES = _Rules(torch).table()
DTYPES = st.sampled_from([torch.float32, torch.float32, torch.float16, torch.int64,
                          torch.bool])
SIZES = st.sampled_from([1, 2, 3, 4])


def meta(shape: tuple[int, ...], dtype: Any = torch.float32) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def agree(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None,
          strides: bool = True) -> bool:
    """Compare the rule for ``func`` with torch; True when the rule answered."""
    kwargs = kwargs or {}
    answer = RULES[func](args, kwargs)
    if answer is None:
        return False
    real = func(*args, **kwargs)  # must not raise: the rule said the call is valid
    assert (answer.shape, answer.dtype) == (real.shape, real.dtype), (func, args, kwargs)
    if strides:
        assert answer.stride() == real.stride(), (func, args, kwargs)
    return True


SETTINGS = settings(max_examples=120, deadline=None, derandomize=True)


@SETTINGS
@given(n=SIZES, c=SIZES, c2=SIZES, h=SIZES, dtype=DTYPES, wdtype=DTYPES, training=st.booleans(),
       stats=st.booleans(), last=st.booleans())
def test_batch_norm_rule(n: int, c: int, c2: int, h: int, dtype: Any, wdtype: Any,
                         training: bool, stats: bool, last: bool) -> None:
    x = meta((n, c, h, h), dtype)
    if last:
        x = x.to(memory_format=torch.channels_last)
    rm = meta((c2,), wdtype) if stats else None
    agree(F.batch_norm, (x, rm, rm, meta((c2,), wdtype), meta((c2,), wdtype)),
          {"training": training})


@SETTINGS
@given(shape=st.lists(SIZES, min_size=1, max_size=4), norm=st.lists(SIZES, min_size=1,
       max_size=2), dtype=DTYPES, weight=st.booleans(), flip=st.booleans())
def test_layer_norm_rule(shape: list[int], norm: list[int], dtype: Any, weight: bool,
                         flip: bool) -> None:
    w = meta(tuple(norm), dtype) if weight else None
    x = meta(tuple(shape), dtype)
    if flip:  # a permuted, non-contiguous input (ConvNeXt)
        x = x.flip(0).transpose(0, -1) if x.dim() > 1 else x
    agree(F.layer_norm, (x, tuple(norm)), {"weight": w, "bias": w})


@SETTINGS
@given(n=SIZES, c=st.sampled_from([1, 2, 4, 6]), groups=st.sampled_from([1, 2, 3, 4]),
       spatial=st.lists(SIZES, max_size=2), dtype=DTYPES)
def test_group_norm_rule(n: int, c: int, groups: int, spatial: list[int], dtype: Any) -> None:
    agree(F.group_norm, (meta((n, c, *spatial), dtype), groups),
          {"weight": meta((c,), dtype), "bias": None})


@SETTINGS
@given(shape=st.lists(SIZES, min_size=1, max_size=3), k=SIZES, out=SIZES, dtype=DTYPES,
       wdtype=DTYPES, bias=st.sampled_from(["none", "ok", "bad"]))
def test_linear_rule(shape: list[int], k: int, out: int, dtype: Any, wdtype: Any,
                     bias: str) -> None:
    b = {"none": None, "ok": meta((out,), wdtype), "bad": meta((out + 1,), wdtype)}[bias]
    agree(F.linear, (meta((*shape, k), dtype), meta((out, k), wdtype), b), strides=False)


@SETTINGS
@given(b=SIZES, h=SIZES, lq=SIZES, lk=SIZES, e=SIZES, ev=SIZES, hk=SIZES, dtype=DTYPES,
       mask=st.sampled_from(["none", "bool", "float", "bad"]), causal=st.booleans())
def test_sdpa_rule(b: int, h: int, lq: int, lk: int, e: int, ev: int, hk: int, dtype: Any,
                   mask: str, causal: bool) -> None:
    q, k, v = meta((b, h, lq, e), dtype), meta((b, hk, lk, e), dtype), meta((b, hk, lk, ev),
                                                                            dtype)
    m = {"none": None, "bool": meta((lq, lk), torch.bool), "float": meta((1, 1, lq, lk), dtype),
         "bad": meta((lq + 1, lk), torch.bool)}[mask]
    agree(F.scaled_dot_product_attention, (q, k, v), {"attn_mask": m, "is_causal": causal},
          strides=False)


OPS = [torch.add, torch.mul, torch.sub, torch.div, torch.Tensor.__add__, torch.Tensor.__mul__,
       torch.Tensor.__truediv__, torch.Tensor.__radd__, torch.Tensor.add_,
       torch.Tensor.__iadd__, torch.Tensor.mul_, torch.Tensor.div_, torch.Tensor.sub_]


@SETTINGS
@given(op=st.sampled_from(OPS), a=st.lists(SIZES, max_size=4), b=st.lists(SIZES, max_size=4),
       da=DTYPES, db=DTYPES, scalar=st.sampled_from([None, 2, 0.5, True]),
       alpha=st.sampled_from([None, 2, 0.5]))
def test_binary_rule(op: Any, a: list[int], b: list[int], da: Any, db: Any, scalar: Any,
                     alpha: Any) -> None:
    other: Any = meta(tuple(b), db) if scalar is None else scalar
    kwargs = {} if alpha is None or op not in (torch.add, torch.sub) else {"alpha": alpha}
    agree(op, (meta(tuple(a), da), other), kwargs)


@SETTINGS
@given(shapes=st.lists(st.lists(SIZES, min_size=1, max_size=3), min_size=1, max_size=3),
       dim=st.integers(-3, 2), dtypes=st.lists(DTYPES, min_size=3, max_size=3))
def test_cat_rule(shapes: list[list[int]], dim: int, dtypes: list[Any]) -> None:
    ts = [meta(tuple(s), d) for s, d in zip(shapes, dtypes, strict=False)]
    agree(torch.cat, (ts,), {"dim": dim}, strides=False)


UNARY = [F.relu, F.gelu, F.silu, torch.sigmoid, torch.tanh, F.hardswish, F.leaky_relu,
         F.elu, F.softplus, F.mish, torch.relu_, F.hardtanh]


@SETTINGS
@given(op=st.sampled_from(UNARY), shape=st.lists(SIZES, max_size=4), dtype=DTYPES,
       inplace=st.booleans(), last=st.booleans())
def test_unary_rule(op: Any, shape: list[int], dtype: Any, inplace: bool, last: bool) -> None:
    x = meta(tuple(shape), dtype)
    if last and x.dim() == 4:
        x = x.to(memory_format=torch.channels_last)
    kwargs = {"inplace": True} if inplace and op in (F.relu, F.silu, F.leaky_relu, F.elu,
                                                      F.hardswish, F.mish) else {}
    agree(op, (x,), kwargs)


@SETTINGS
@given(shape=st.lists(SIZES, max_size=3), dim=st.integers(-4, 3), dtype=DTYPES,
       p=st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.1]), op=st.sampled_from([F.softmax,
                                                                           F.dropout]))
def test_softmax_and_dropout_rules(shape: list[int], dim: int, dtype: Any, p: float,
                                   op: Any) -> None:
    x = meta(tuple(shape), dtype)
    if op is F.softmax:
        agree(op, (x, dim))
    else:
        agree(op, (x, p), {"training": True})


def test_cache_answers_repeats_and_still_checks() -> None:
    kernels = MetaKernels()
    x = meta((2, 5, 8))
    for _ in range(3):
        kernels.call(F.interpolate, "interpolate", (meta((1, 2, 4, 4)),),
                     {"scale_factor": 2.0, "mode": "bilinear"})
    assert (kernels.misses, kernels.hits) == (1, 2)
    with pytest.raises(RuntimeError):
        kernels.call(F.layer_norm, "layer_norm", (x, (5,)), {})
    out = kernels.call(torch.Tensor.add_, "add_", (x, meta((8,))), {})
    assert out is x  # in place: the input comes back
    with pytest.raises(RuntimeError):  # the first call of a signature runs torch's kernel
        kernels.call(torch.Tensor.add_, "add_", (meta((8,)), x), {})


@pytest.mark.parametrize(("func", "args", "kwargs"), [
    (F.batch_norm, (meta((2, 3, 4, 4)), meta((3,)), meta((3,))), {}),
    (F.layer_norm, (meta((2, 5, 8)), (8,)), {"weight": meta((8,)), "bias": meta((8,))}),
    (F.group_norm, (meta((2, 4, 3)), 2), {"weight": meta((4,)), "bias": meta((4,))}),
    (F.linear, (meta((2, 5, 8)), meta((3, 8)), meta((3,))), {}),
    (F.scaled_dot_product_attention, (meta((1, 2, 5, 4)),) * 3, {}),
    (torch.Tensor.__add__, (meta((2, 3)), meta((3,))), {}),
    (torch.cat, ([meta((2, 3)), meta((2, 4))],), {"dim": 1}),
    (F.gelu, (meta((2, 3)),), {}),
    (F.softmax, (meta((2, 3)), -1), {}),
    (F.dropout, (meta((2, 3)), 0.1), {"training": False}),
])
def test_rules_answer_the_plain_cases(func: Any, args: tuple[Any, ...],
                                      kwargs: dict[str, Any]) -> None:
    assert agree(func, args, kwargs, strides=func not in (F.linear, torch.cat,
                                                          F.scaled_dot_product_attention))
