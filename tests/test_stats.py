"""MAC and FLOP counting rules (drawnet.stats): hand counts, properties, torch cross-checks.

Hand counts are written out from the formula with the concrete numbers, so a reader can
check them without running anything. The cross-checks against
``torch.utils.flop_counter.FlopCounterMode`` (whose FLOPs are 2·MACs for products) run
only when torch is importable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from drawnet import stats
from drawnet.ir import AttrValue, TensorMeta
from drawnet.stats import MODULE_RULES, OP_RULES, Cost, canonical_op, module_cost, op_cost

T = TensorMeta


def cost(op: str, inputs: Sequence[tuple[int, ...] | None], outputs: Sequence[tuple[int, ...]],
         **attrs: AttrValue) -> Cost:
    return op_cost(op, [None if s is None else T(s) for s in inputs],
                   [T(s) for s in outputs], attrs)


# ---------------------------------------------------------------------------------------
# canonical_op
# ---------------------------------------------------------------------------------------

CANONICAL = [
    ("conv2d", "conv2d"),
    ("aten::_convolution", "convolution"),
    ("aten::conv2d", "conv2d"),
    ("aten::add_", "add"),
    ("aten::add.Tensor", "add"),
    ("aten::relu_", "relu"),
    ("aten::scaled_dot_product_attention", "scaled_dot_product_attention"),
    ("aten::_native_multi_head_attention", "native_multi_head_attention"),
    ("aten::__and__", "bitwise_and"),
    ("__add__", "add"),
    ("__iadd__", "add"),
    ("__radd__", "add"),
    ("add_", "add"),
    ("__sub__", "sub"),
    ("__rsub__", "rsub"),
    ("__mul__", "mul"),
    ("__rmul__", "mul"),
    ("__truediv__", "div"),
    ("__rtruediv__", "div"),
    ("__itruediv__", "div"),
    ("__floordiv__", "floor_divide"),
    ("__pow__", "pow"),
    ("__rpow__", "pow"),
    ("__matmul__", "matmul"),
    ("__rmatmul__", "rmatmul"),
    ("__neg__", "neg"),
    ("__getitem__", "getitem"),
    ("__setitem__", "setitem"),
    ("relu_", "relu"),
    ("_convolution", "convolution"),
    ("multi_head_attention_forward", "multi_head_attention_forward"),
    ("prim::ListConstruct", "prim::ListConstruct"),
    ("Conv2d", "Conv2d"),
    ("", ""),
    ("_", "_"),
]


@pytest.mark.parametrize(("raw", "expected"), CANONICAL)
def test_canonical_op(raw: str, expected: str) -> None:
    assert canonical_op(raw) == expected


@given(st.text(max_size=30))
@example("0\r_")  # whitespace uncovered only after an underscore is removed
def test_canonical_op_is_idempotent(name: str) -> None:
    once = canonical_op(name)
    assert canonical_op(once) == once


def test_every_rule_name_is_canonical() -> None:
    for name in OP_RULES:
        assert canonical_op(name) == name


def test_op_cost_accepts_raw_names() -> None:
    shapes = [(2, 3), (3, 4)]
    assert cost("aten::mm", shapes, [(2, 4)]) == cost("mm", shapes, [(2, 4)])
    assert cost("__matmul__", shapes, [(2, 4)]).macs == 2 * 3 * 4


# ---------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------


def test_conv_resnet18_conv1() -> None:
    c = cost("conv2d", [(1, 3, 224, 224), (64, 3, 7, 7)], [(1, 64, 112, 112)],
             arg2=None, arg3=(2, 2), arg4=(3, 3), arg5=(1, 1), arg6=1)
    assert c.macs == 7 * 7 * 3 * 64 * 112 * 112 == 118_013_952
    assert c.flops == 2 * c.macs  # no bias tensor


def test_conv_bias_adds_one_flop_per_output() -> None:
    c = cost("conv2d", [(2, 3, 8, 8), (4, 3, 3, 3), (4,)], [(2, 4, 6, 6)])
    macs = 3 * 3 * 3 * 4 * 6 * 6 * 2
    assert c == Cost(macs, 2 * macs + 2 * 4 * 6 * 6)


def test_conv_grouped_and_depthwise() -> None:
    # groups=4: weight (C_out=16, C_in/groups=8/4=2, 3, 3)
    grouped = cost("conv2d", [(1, 8, 10, 10), (16, 2, 3, 3)], [(1, 16, 8, 8)], arg6=4)
    assert grouped.macs == 3 * 3 * (8 // 4) * 16 * 8 * 8 * 1
    # depthwise: groups = C_in = C_out = 32, weight (32, 1, 3, 3)
    dw = cost("conv2d", [(1, 32, 56, 56), (32, 1, 3, 3)], [(1, 32, 56, 56)], arg6=32)
    assert dw.macs == 3 * 3 * 1 * 32 * 56 * 56


def test_conv_1d_3d_and_unbatched() -> None:
    assert cost("conv1d", [(4, 6, 50), (10, 6, 5)], [(4, 10, 46)]).macs == 5 * 6 * 10 * 46 * 4
    assert cost("conv3d", [(1, 3, 8, 16, 16), (8, 3, 3, 3, 3)], [(1, 8, 6, 14, 14)]).macs == (
        3 * 3 * 3 * 3 * 8 * 6 * 14 * 14
    )
    assert cost("conv2d", [(3, 10, 10), (4, 3, 3, 3)], [(4, 8, 8)]).macs == 3 * 3 * 3 * 4 * 8 * 8


def test_conv_transposed() -> None:
    # N·C_in·prod(in_spatial)·C_out/groups·prod(k): weight is (C_in, C_out/groups, k, k)
    expected = 2 * 6 * (5 * 5) * (8 // 2) * (3 * 3)
    inputs = [(2, 6, 5, 5), (6, 4, 3, 3)]
    assert cost("conv_transpose2d", inputs, [(2, 8, 7, 7)], arg6=2).macs == expected
    # jit: aten::_convolution with transposed=True as arg6
    assert cost("aten::_convolution", inputs, [(2, 8, 7, 7)], arg6=True).macs == expected
    assert cost("aten::_convolution", inputs, [(2, 8, 7, 7)], arg6=False).macs != expected
    # no flag: told apart by the channels (6 in, 8 out; weight rows = 6 = C_in)
    assert cost("convolution", inputs, [(2, 8, 7, 7)]).macs == expected
    # upsampling by 2: (1, 16, 8, 8) -> (1, 8, 16, 16), k=2, stride 2
    up = cost("conv_transpose2d", [(1, 16, 8, 8), (16, 8, 2, 2), (8,)], [(1, 8, 16, 16)])
    assert up == Cost(16 * 8 * 8 * 8 * 2 * 2, 2 * 16 * 8 * 8 * 8 * 2 * 2 + 8 * 16 * 16)


def test_linear_counts_every_position() -> None:
    c = cost("linear", [(1, 197, 768), (3072, 768), (3072,)], [(1, 197, 3072)])
    assert c.macs == 197 * 768 * 3072
    assert c.flops == 2 * 197 * 768 * 3072 + 197 * 3072
    assert cost("linear", [(512,), (1000, 512)], [(1000,)]).macs == 512 * 1000
    assert cost("aten::linear", [(4, 512), (1000, 512)], [(4, 1000)]).macs == 4 * 512 * 1000
    # input shape unknown: from the output and the weight
    assert cost("linear", [None, (1000, 512)], [(4, 1000)]).macs == 4 * 512 * 1000


def test_bilinear() -> None:
    c = cost("bilinear", [(8, 5), (8, 6), (3, 5, 6), (3,)], [(8, 3)])
    assert c == Cost(8 * 3 * 5 * 6, 2 * 8 * 3 * 5 * 6 + 8 * 3)


@pytest.mark.parametrize(
    ("a", "b", "out", "macs"),
    [
        ((3, 4), (4, 5), (3, 5), 3 * 4 * 5),
        ((7,), (7,), (), 7),
        ((7,), (7, 2), (2,), 7 * 2),
        ((3, 7), (7,), (3,), 3 * 7),
        ((7,), (6, 7, 2), (6, 2), 6 * 7 * 2),
        ((6, 3, 7), (7,), (6, 3), 6 * 3 * 7),
        # broadcast batch (2, 1) with (5,): (2, 5)
        ((2, 1, 3, 4), (5, 4, 6), (2, 5, 3, 6), 2 * 5 * 3 * 4 * 6),
        # attention scores, BERT-base layer: (1, 12, 128, 64) @ (1, 12, 64, 128)
        ((1, 12, 128, 64), (1, 12, 64, 128), (1, 12, 128, 128), 12 * 128 * 64 * 128),
    ],
)
def test_matmul_broadcasting(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...],
                             macs: int) -> None:
    assert cost("matmul", [a, b], [out]) == Cost(macs, 2 * macs)


def test_rmatmul_swaps_operands() -> None:
    # x.__rmatmul__(y) is y @ x; the tracer passes (x, y)
    x, y = (4, 5), (3, 4)
    assert cost("__rmatmul__", [x, y], [(3, 5)]).macs == 3 * 4 * 5
    assert cost("__matmul__", [y, x], [(3, 5)]).macs == 3 * 4 * 5


def test_mm_bmm_mv_dot() -> None:
    assert cost("mm", [(8, 16), (16, 4)], [(8, 4)]).macs == 8 * 16 * 4
    assert cost("bmm", [(10, 8, 16), (10, 16, 4)], [(10, 8, 4)]).macs == 10 * 8 * 16 * 4
    assert cost("mv", [(8, 16), (16,)], [(8,)]).macs == 8 * 16
    assert cost("dot", [(16,), (16,)], [()]).macs == 16


def test_addmm_gpt2_conv1d() -> None:
    # GPT-2 Conv1D c_attn: torch.addmm(bias, x2d, weight)
    c = cost("addmm", [(2304,), (128, 768), (768, 2304)], [(128, 2304)])
    assert c.macs == 128 * 768 * 2304
    assert c.flops == 2 * 128 * 768 * 2304 + 128 * 2304


def test_baddbmm_addbmm_addmv_addr() -> None:
    bad = cost("baddbmm", [(12, 128, 128), (12, 128, 64), (12, 64, 128)], [(12, 128, 128)])
    assert bad == Cost(12 * 128 * 64 * 128, 2 * 12 * 128 * 64 * 128 + 12 * 128 * 128)
    add = cost("addbmm", [(8, 4), (5, 8, 3), (5, 3, 4)], [(8, 4)])
    assert add == Cost(5 * 8 * 3 * 4, 2 * 5 * 8 * 3 * 4 + 8 * 4)
    assert cost("addmv", [(8,), (8, 3), (3,)], [(8,)]).macs == 8 * 3
    assert cost("addr", [(8, 4), (8,), (4,)], [(8, 4)]).macs == 8 * 4


def test_tensordot_inner_outer() -> None:
    # contract (4, 5) of a (3, 4, 5) with b (4, 5, 6): out (3, 6)
    assert cost("tensordot", [(3, 4, 5), (4, 5, 6)], [(3, 6)]).macs == 3 * 6 * 4 * 5
    assert cost("inner", [(3, 7), (2, 7)], [(3, 2)]).macs == 3 * 2 * 7
    assert cost("outer", [(3,), (5,)], [(3, 5)]).macs == 3 * 5


def test_einsum() -> None:
    bmm = cost("einsum", [(8, 3, 4), (8, 4, 5)], [(8, 3, 5)], arg0="bij,bjk->bik")
    assert bmm == Cost(8 * 3 * 4 * 5, 2 * 8 * 3 * 4 * 5)
    scores = cost("einsum", [(2, 12, 10, 64), (2, 12, 7, 64)], [(2, 12, 10, 7)],
                  arg0="bhqd,bhkd->bhqk")
    assert scores.macs == 2 * 12 * 10 * 7 * 64
    assert cost("aten::einsum", [(2, 12, 10, 64), (2, 12, 7, 64)], [(2, 12, 10, 7)],
                arg0="bhqd, bhkd -> bhqk") == scores
    ell = cost("einsum", [(2, 5, 3, 4), (4, 6)], [(2, 5, 3, 6)], arg0="...ij,jk->...ik")
    assert ell.macs == 2 * 5 * 3 * 4 * 6
    implicit = cost("einsum", [(3, 4), (4, 5)], [(3, 5)], arg0="ij,jk")
    assert implicit.macs == 3 * 4 * 5
    # three operands, left to right: (ij,jk -> ik) then (ik,kl -> il)
    chain = cost("einsum", [(2, 3), (3, 4), (4, 5)], [(2, 5)], arg0="ij,jk,kl->il")
    assert chain.macs == 2 * 3 * 4 + 2 * 4 * 5


def test_einsum_reductions_and_bad_equations() -> None:
    # one operand: no MACs; a reduction reads every element once
    assert cost("einsum", [(3, 4)], [(3,)], arg0="ij->i") == Cost(0, 3 * 4)
    assert cost("einsum", [(3, 4)], [(4, 3)], arg0="ij->ji") == Cost(0, 0)
    # 'i' appears only in the first operand and not in the output: summed out first
    assert cost("einsum", [(3, 4), (4, 5)], [(5,)], arg0="ij,jk->k") == Cost(
        4 * 5, 2 * 4 * 5 + 3 * 4
    )
    for eq in ("ij,jk", "ij->i", "i1,jk->ik", "ij,jk->iz", "", "...i...,i->"):
        assert cost("einsum", [(3, 4, 5), (4, 5)], [(3,)], arg0=eq) == Cost()
    assert cost("einsum", [(3, 4), (4, 5)], [(3, 5)]) == Cost()  # no equation


def test_sdpa_bert_layer() -> None:
    q = (1, 12, 128, 64)
    c = cost("scaled_dot_product_attention", [q, q, q], [q])
    assert c.macs == 12 * 128 * 128 * 64 + 12 * 128 * 128 * 64 == 25_165_824
    scores = 12 * 128 * 128
    assert c.flops == 2 * c.macs + 5 * scores
    masked = cost("scaled_dot_product_attention", [q, q, q, (1, 1, 128, 128)], [q])
    assert masked.flops == 2 * c.macs + 6 * scores
    causal = cost("scaled_dot_product_attention", [q, q, q], [q], is_causal=True)
    assert causal.flops == masked.flops


def test_sdpa_grouped_query_counts_query_heads() -> None:
    # 32 query heads, 8 key/value heads, L=10, S=20, E=128, Ev=96
    c = cost("scaled_dot_product_attention", [(2, 32, 10, 128), (2, 8, 20, 128), (2, 8, 20, 96)],
             [(2, 32, 10, 96)], enable_gqa=True)
    assert c.macs == 2 * 32 * 10 * 20 * 128 + 2 * 32 * 10 * 20 * 96


# ---------------------------------------------------------------------------------------
# Module rules
# ---------------------------------------------------------------------------------------

LSTM_ATTRS: dict[str, AttrValue] = {
    "input_size": 100, "hidden_size": 200, "num_layers": 2, "batch_first": True,
    "bidirectional": False, "proj_size": 0, "has_bias": True,
}


def test_module_rules_names() -> None:
    assert frozenset(
        {"MultiheadAttention", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"}
    ) == MODULE_RULES


def test_lstm_reference() -> None:
    outs = [T((1, 50, 200)), T((2, 1, 200)), T((2, 1, 200))]
    c = module_cost("LSTM", LSTM_ATTRS, [T((1, 50, 100))], outs)
    assert c is not None
    layer0 = 4 * 200 * (100 + 200)
    layer1 = 4 * 200 * (200 + 200)
    assert c.macs == 50 * (layer0 + layer1) == 28_000_000
    bias, state = 2 * 4 * 200 * 2, 9 * 200 * 2
    assert c.flops == 2 * c.macs + 50 * (bias + state)
    # batch_first or not, steps are the elements over the last dim
    seq_first = module_cost("LSTM", {**LSTM_ATTRS, "batch_first": False}, [T((50, 1, 100))], [])
    assert seq_first == c
    no_bias = module_cost("LSTM", {**LSTM_ATTRS, "has_bias": False}, [T((1, 50, 100))], [])
    assert no_bias is not None
    assert no_bias.flops == 2 * c.macs + 50 * state


def test_lstm_bidirectional_with_projection() -> None:
    attrs = {**LSTM_ATTRS, "bidirectional": True, "proj_size": 50, "batch_first": False}
    c = module_cost("LSTM", attrs, [T((50, 3, 100))], [])
    assert c is not None
    layer0 = 2 * (4 * 200 * (100 + 50) + 200 * 50)
    layer1 = 2 * (4 * 200 * (50 * 2 + 50) + 200 * 50)
    assert c.macs == 50 * 3 * (layer0 + layer1)


def test_gru_and_rnn() -> None:
    attrs: dict[str, AttrValue] = {
        "input_size": 10, "hidden_size": 20, "num_layers": 1, "bidirectional": True,
        "has_bias": True,
    }
    gru = module_cost("GRU", attrs, [T((6, 3, 10))], [])
    assert gru is not None
    assert gru.macs == 6 * 3 * 2 * (3 * 20 * (10 + 20))
    assert gru.flops == 2 * gru.macs + 6 * 3 * 2 * (2 * 3 * 20 + 9 * 20)
    rnn = module_cost("RNN", {**attrs, "num_layers": 3, "bidirectional": False},
                      [T((6, 3, 10))], [])
    assert rnn is not None
    assert rnn.macs == 6 * 3 * (20 * (10 + 20) + 20 * (20 + 20) + 20 * (20 + 20))


def test_cells() -> None:
    attrs: dict[str, AttrValue] = {"input_size": 10, "hidden_size": 20, "has_bias": True}
    assert module_cost("LSTMCell", attrs, [T((3, 10))], []) == Cost(
        3 * 4 * 20 * 30, 2 * 3 * 4 * 20 * 30 + 3 * (2 * 4 * 20 + 9 * 20)
    )
    gru = module_cost("GRUCell", attrs, [T((3, 10))], [])
    assert gru is not None
    assert gru.macs == 3 * 3 * 20 * 30
    rnn = module_cost("RNNCell", attrs, [T((10,))], [])  # unbatched
    assert rnn is not None
    assert rnn.macs == 20 * 30


def test_aten_lstm_counts_weights_like_the_module() -> None:
    # jit: aten::lstm(input, [h0, c0], [w_ih, w_hh, b_ih, b_hh] * layers, ...)
    h0 = (2, 1, 200)
    params = [(800, 100), (800, 200), (800,), (800,), (800, 200), (800, 200), (800,), (800,)]
    c = cost("aten::lstm", [(1, 50, 100), h0, h0, *params], [(1, 50, 200), h0, h0],
             arg3=True, arg4=2, arg5=0.0, arg6=False, arg7=False, arg8=True)
    assert c == module_cost("LSTM", LSTM_ATTRS, [T((1, 50, 100))], [])
    # packed sequence: data (total steps, I) and int64 batch sizes
    packed = op_cost("lstm", [T((50, 100)), T((50,), "int64"), T(h0), T(h0),
                              *(T(p) for p in params)], [T((50, 200))], {})
    assert packed == c


def test_aten_cells_and_gru() -> None:
    w = [(60, 10), (60, 20), (60,), (60,)]
    gru = cost("gru", [(6, 3, 10), (1, 3, 20), *w], [(6, 3, 20), (1, 3, 20)])
    assert gru.macs == 6 * 3 * 3 * 20 * (10 + 20)
    cell = cost("gru_cell", [(3, 10), (3, 20), *w], [(3, 20)])
    assert cell == module_cost("GRUCell", {"input_size": 10, "hidden_size": 20},
                               [T((3, 10))], [])


VIT_MHA: dict[str, AttrValue] = {
    "embed_dim": 768, "num_heads": 12, "kdim": 768, "vdim": 768, "batch_first": True,
    "has_bias": True,
}


def test_multihead_attention_vit_layer() -> None:
    x = T((1, 197, 768))
    c = module_cost("MultiheadAttention", VIT_MHA, [x, x, x], [x])
    assert c is not None
    in_proj = 3 * 768 * 768 * 197
    products = 2 * 197 * 197 * 768
    out_proj = 768 * 768 * 197
    assert c.macs == in_proj + products + out_proj
    assert 12 * products == 715_327_488  # vit_b_16's attention matmuls
    biases = 4 * 197 * 768
    scores = 12 * 197 * 197
    assert c.flops == 2 * c.macs + biases + 5 * scores


def test_multihead_attention_layouts_and_dims() -> None:
    attrs = {**VIT_MHA, "embed_dim": 16, "num_heads": 4, "kdim": 6, "vdim": 7,
             "batch_first": False}
    q, k, v = T((5, 2, 16)), T((9, 2, 6)), T((9, 2, 7))  # (L, N, E), (S, N, kdim)
    c = module_cost("MultiheadAttention", attrs, [q, k, v], [])
    assert c is not None
    expected = 2 * 5 * 16 * 16 + 2 * 9 * 6 * 16 + 2 * 9 * 7 * 16 + 2 * 2 * 5 * 9 * 16 + (
        2 * 5 * 16 * 16
    )
    assert c.macs == expected
    # the same call seen as F.multi_head_attention_forward (sequence first)
    fn = op_cost("multi_head_attention_forward",
                 [q, k, v, T((48, 16)), T((48,)), T((16, 16)), T((16,))], [T((5, 2, 16))],
                 {"arg3": 16, "arg4": 4})
    assert fn.macs == expected
    # unbatched (L, E)
    single = module_cost("MultiheadAttention", {**VIT_MHA, "batch_first": False},
                         [T((197, 768))] * 3, [])
    vit = module_cost("MultiheadAttention", VIT_MHA, [T((1, 197, 768))] * 3, [])
    assert single == vit


def test_native_mha_op_matches_module() -> None:
    x = T((1, 197, 768))
    native = op_cost("aten::_native_multi_head_attention",
                     [x, x, x, T((2304, 768)), T((2304,)), T((768, 768)), T((768,))],
                     [x], {"arg3": 768, "arg4": 12, "arg10": False})
    assert native == module_cost("MultiheadAttention", VIT_MHA, [x, x, x], [x])


def test_transformer_encoder_layer_fast_path() -> None:
    n, length, e, ffn = 2, 10, 32, 64
    ins = [T((n, length, e)), T((3 * e, e)), T((3 * e,)), T((e, e)), T((e,)),
           T((e,)), T((e,)), T((e,)), T((e,)), T((ffn, e)), T((ffn,)), T((e, ffn)), T((e,))]
    c = op_cost("_transformer_encoder_layer_fwd", ins, [ins[0]], {"arg1": e, "arg2": 4})
    tokens = n * length
    assert c.macs == tokens * (3 * e * e + e * e + 2 * e * ffn) + 2 * n * length * length * e


def test_module_cost_unknown_or_incomplete() -> None:
    assert module_cost("Linear", {}, [T((1, 4))], [T((1, 2))]) is None
    assert module_cost("LSTM", LSTM_ATTRS, [], []) is None
    assert module_cost("LSTM", {}, [T((1, 50, 100))], []) is None  # no hidden_size
    assert module_cost("MultiheadAttention", VIT_MHA, [], []) is None
    assert module_cost("MultiheadAttention", VIT_MHA, [T((2, 3, 4, 5))], []) is None


# ---------------------------------------------------------------------------------------
# Elementwise FLOP conventions
# ---------------------------------------------------------------------------------------

X = (2, 8, 6, 6)
NX = 2 * 8 * 6 * 6


@pytest.mark.parametrize(
    ("op", "inputs", "attrs", "flops"),
    [
        ("batch_norm", [X, (8,), (8,), (8,), (8,)], {"arg5": False}, 2 * NX),
        ("batch_norm", [X, (8,), (8,), (8,), (8,)], {"training": True}, 5 * NX),
        ("aten::batch_norm", [X, (8,), (8,), (8,), (8,)], {"arg5": True}, 5 * NX),
        ("layer_norm", [X, (6,), (6,)], {"arg1": (6,)}, 5 * NX),
        ("group_norm", [X, (8,), (8,)], {"arg1": 4}, 5 * NX),
        ("instance_norm", [X], {}, 5 * NX),
        ("rms_norm", [X, (6,)], {}, 4 * NX),
        ("relu", [X], {}, NX),
        ("relu_", [X], {}, NX),
        ("gelu", [X], {"approximate": "tanh"}, NX),
        ("silu", [X], {}, NX),
        ("sigmoid", [X], {}, NX),
        ("tanh", [X], {}, NX),
        ("softmax", [X], {"dim": -1}, 4 * NX),
        ("log_softmax", [X], {"dim": -1}, 4 * NX),
        ("add", [X, X], {}, NX),
        ("__iadd__", [X, X], {}, NX),
        ("__mul__", [X], {"arg1": 0.5}, NX),
        ("__truediv__", [X, (1, 8, 1, 1)], {}, NX),
        ("rsqrt", [X], {}, NX),
        ("pow", [X], {"arg1": 2}, NX),
        ("mean", [X], {"arg1": (2, 3)}, NX),
        ("sum", [X], {}, NX),
        ("adaptive_avg_pool2d", [X], {"arg1": (1, 1)}, NX),
        ("max", [X], {}, NX),
        ("dropout", [X], {"p": 0.1}, 0),
        ("view", [X], {"arg1": -1}, 0),
        ("permute", [X], {}, 0),
        ("cat", [X, X], {}, 0),
        ("masked_fill", [X, X], {"arg2": 0.0}, 0),
        ("embedding", [(1, 128), (30522, 768)], {}, 0),
        ("interpolate", [X], {"scale_factor": 2.0}, 0),
    ],
)
def test_elementwise_flops(op: str, inputs: list[tuple[int, ...]], attrs: dict[str, AttrValue],
                           flops: int) -> None:
    out: tuple[int, ...] = (2, 8, 1, 1) if op.startswith(("mean", "adaptive")) else X
    if op in ("sum", "max"):
        out = ()
    assert op_cost(op, [T(s) for s in inputs], [T(out)], attrs) == Cost(0, flops)


def test_pools() -> None:
    # resnet18 maxpool: k=3, (1, 64, 112, 112) -> (1, 64, 56, 56)
    out = 64 * 56 * 56
    assert cost("max_pool2d", [(1, 64, 112, 112)], [(1, 64, 56, 56)], arg1=3, arg2=2) == Cost(
        0, 3 * 3 * out
    )
    assert cost("aten::max_pool2d", [(1, 64, 112, 112)], [(1, 64, 56, 56)],
                arg1=(3, 3)) == Cost(0, 9 * out)
    assert cost("avg_pool1d", [(2, 4, 10)], [(2, 4, 5)], kernel_size=2) == Cost(0, 2 * 2 * 4 * 5)
    # kernel unknown: every input element once
    assert cost("max_pool2d", [(1, 64, 112, 112)], [(1, 64, 56, 56)]) == Cost(0, 64 * 112 * 112)


def test_binary_max_is_elementwise() -> None:
    assert cost("max", [(4, 5), (4, 5)], [(4, 5)]) == Cost(0, 20)
    assert cost("max", [(4, 5)], [(4,), (4,)], arg1=1) == Cost(0, 20)


# ---------------------------------------------------------------------------------------
# Robustness
# ---------------------------------------------------------------------------------------


def test_unknown_ops_cost_nothing() -> None:
    for op in ("frobnicate", "prim::Constant", "", "__foo__", "aten::"):
        assert cost(op, [(3, 4)], [(3, 4)]) == Cost()


def test_cost_addition() -> None:
    assert Cost(1, 2) + Cost(3, 4) == Cost(4, 6)
    assert sum((Cost(1, 1), Cost(2, 2)), Cost()) == Cost(3, 3)


shape_st = st.lists(st.integers(min_value=-2, max_value=9), max_size=5).map(tuple)
meta_st = st.one_of(
    st.none(),
    st.builds(T, shape_st, st.sampled_from(["float32", "int64", "bool"])),
)
attr_value_st: st.SearchStrategy[AttrValue] = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 9), st.floats(allow_nan=True),
    st.text(alphabet="ijkbhqd.,->, ", max_size=14),
    st.lists(st.integers(-2, 9), max_size=3).map(tuple),
)
attrs_st = st.dictionaries(
    st.sampled_from(["arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "kernel_size",
                     "transposed", "training", "is_causal", "equation", "hidden_size",
                     "input_size", "num_layers", "bidirectional", "proj_size", "has_bias",
                     "embed_dim", "num_heads", "kdim", "vdim", "batch_first"]),
    attr_value_st, max_size=6,
)
op_st = st.one_of(st.sampled_from(sorted(OP_RULES)), st.text(max_size=12),
                  st.sampled_from([n for n, _ in CANONICAL]))


def _valid(c: Cost) -> bool:
    return (type(c.macs) is int and type(c.flops) is int and c.macs >= 0 and c.flops >= 0
            and c.flops >= c.macs)


@settings(max_examples=400)
@given(op_st, st.lists(meta_st, max_size=8), st.lists(meta_st.filter(lambda m: m is not None),
                                                      max_size=3), attrs_st)
def test_rules_never_raise_and_stay_non_negative(
    op: str, inputs: list[TensorMeta | None], outputs: list[TensorMeta],
    attrs: dict[str, AttrValue],
) -> None:
    # the rules themselves, without op_cost's safety net
    c = stats._rule_cost(op, inputs, outputs, attrs)
    assert _valid(c)
    assert op_cost(op, inputs, outputs, attrs) == c


@settings(max_examples=200)
@given(st.sampled_from([*sorted(MODULE_RULES), "Linear"]),
       attrs_st, st.lists(meta_st.filter(lambda m: m is not None), max_size=4))
def test_module_cost_never_raises(name: str, attrs: dict[str, AttrValue],
                                  inputs: list[TensorMeta]) -> None:
    c = module_cost(name, attrs, inputs, [])
    assert c is None or _valid(c)


@given(st.lists(st.integers(0, 6), min_size=1, max_size=3).map(tuple),
       st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))
def test_matmul_property(batch: tuple[int, ...], n: int, k: int, m: int) -> None:
    """Batched matmul MACs are the output elements times the contracted size."""
    a, b, out = (*batch, n, k), (k, m), (*batch, n, m)
    c = cost("matmul", [a, b], [out])
    size = 1
    for d in out:
        size *= d
    assert c == Cost(size * k, 2 * size * k)


# ---------------------------------------------------------------------------------------
# Cross-checks against torch.utils.flop_counter.FlopCounterMode (only with torch)
# ---------------------------------------------------------------------------------------

small = st.integers(1, 5)


def _torch() -> Any:
    return importlib.import_module("torch")


def _meta(t: Any) -> TensorMeta:
    return T(tuple(t.shape), str(t.dtype).removeprefix("torch."))


def _flops(fn: Callable[[], Any]) -> tuple[int, Any]:
    torch = _torch()
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = fn()
    return int(counter.get_total_flops()), out


def _check(op: str, fn: Callable[[], Any], tensors: Sequence[Any],
           attrs: dict[str, AttrValue] | None = None) -> None:
    torch = _torch()
    flops, out = _flops(fn)
    outs = [out] if isinstance(out, torch.Tensor) else [o for o in out if o is not None]
    c = op_cost(op, [_meta(t) for t in tensors], [_meta(o) for o in outs], attrs or {})
    assert 2 * c.macs == flops


@settings(max_examples=15, deadline=None)
@given(small, small, small, small, st.integers(3, 9), st.integers(1, 3),
       st.sampled_from([1, 2, 3]), st.booleans())
def test_torch_conv(n: int, cin_g: int, cout_g: int, groups: int, size: int, k: int,
                    dims: int, transposed: bool) -> None:
    torch = _torch()
    import torch.nn.functional as F

    cin, cout = cin_g * groups, cout_g * groups
    k = min(k, size)
    x = torch.randn(n, cin, *([size] * dims))
    if transposed:
        w = torch.randn(cin, cout_g, *([k] * dims))
        fn = getattr(F, f"conv_transpose{dims}d")
        _check(f"conv_transpose{dims}d", lambda: fn(x, w, None, 2, groups=groups), [x, w])
    else:
        w = torch.randn(cout, cin_g, *([k] * dims))
        fn = getattr(F, f"conv{dims}d")
        _check(f"conv{dims}d", lambda: fn(x, w, None, 1, 0, 1, groups), [x, w])


@settings(max_examples=15, deadline=None)
@given(st.lists(small, max_size=3), small, small, st.booleans())
def test_torch_linear(lead: list[int], fin: int, fout: int, bias: bool) -> None:
    torch = _torch()
    import torch.nn.functional as F

    x, w, b = torch.randn(*lead, fin), torch.randn(fout, fin), torch.randn(fout)
    tensors = [x, w, b] if bias else [x, w]
    _check("linear", lambda: F.linear(*tensors), tensors)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from([1, 2, 3]), max_size=3),
       st.lists(st.sampled_from([1, 2, 3]), max_size=3), small, small, small)
def test_torch_matmul(batch_a: list[int], batch_b: list[int], n: int, k: int, m: int) -> None:
    """Matrix operands only: FlopCounterMode does not count aten.mv and aten.dot."""
    torch = _torch()
    a, b = torch.randn(*batch_a, n, k), torch.randn(*batch_b, k, m)
    try:
        torch.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    except RuntimeError:
        return
    _check("matmul", lambda: torch.matmul(a, b), [a, b])
    _check("__rmatmul__", lambda: b.__rmatmul__(a), [b, a])


@settings(max_examples=15, deadline=None)
@given(small, small, small, small)
def test_torch_addmm_bmm_baddbmm(batch: int, n: int, k: int, m: int) -> None:
    torch = _torch()
    a, b, bias = torch.randn(n, k), torch.randn(k, m), torch.randn(m)
    _check("addmm", lambda: torch.addmm(bias, a, b), [bias, a, b])
    ba, bb = torch.randn(batch, n, k), torch.randn(batch, k, m)
    _check("bmm", lambda: torch.bmm(ba, bb), [ba, bb])
    inp = torch.randn(batch, n, m)
    _check("baddbmm", lambda: torch.baddbmm(inp, ba, bb), [inp, ba, bb])


@settings(max_examples=15, deadline=None)
@given(small, small, small, small, st.integers(2, 5))
def test_torch_einsum(b: int, h: int, q: int, kv: int, d: int) -> None:
    """Contracted size >= 2: over a size-1 index torch multiplies, and FlopCounterMode
    counts nothing, where drawnet still counts the products as MACs."""
    torch = _torch()
    x, y = torch.randn(b, h, q, d), torch.randn(b, h, kv, d)
    _check("einsum", lambda: torch.einsum("bhqd,bhkd->bhqk", x, y), [x, y],
           {"arg0": "bhqd,bhkd->bhqk"})
    u, v = torch.randn(b, q, d), torch.randn(b, d, kv)
    _check("einsum", lambda: torch.einsum("bij,bjk->bik", u, v), [u, v],
           {"arg0": "bij,bjk->bik"})


@settings(max_examples=15, deadline=None)
@given(small, st.sampled_from([(4, 4), (4, 2), (6, 3), (4, 1)]), small, small, small, small)
def test_torch_sdpa(b: int, heads: tuple[int, int], q_len: int, kv_len: int, e: int,
                    ev: int) -> None:
    torch = _torch()
    import torch.nn.functional as F

    hq, hkv = heads
    q = torch.randn(b, hq, q_len, e)
    k, v = torch.randn(b, hkv, kv_len, e), torch.randn(b, hkv, kv_len, ev)

    def by_hand() -> Any:
        # SDPA's own math, written out: FlopCounterMode counts these matmuls on every torch
        # version, while its count for the fused SDPA op changed (0 on torch 2.14.1).
        kk = k.repeat_interleave(hq // hkv, dim=1)
        vv = v.repeat_interleave(hq // hkv, dim=1)
        weights = torch.softmax(q @ kk.transpose(-2, -1) / e**0.5, dim=-1)
        return weights @ vv

    flops, expected = _flops(by_hand)
    out = F.scaled_dot_product_attention(q, k, v, enable_gqa=hq != hkv)
    torch.testing.assert_close(out, expected)  # the math above is SDPA's
    c = op_cost("scaled_dot_product_attention", [_meta(q), _meta(k), _meta(v)], [_meta(out)],
                {})
    assert 2 * c.macs == flops
    fused, _ = _flops(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=hq != hkv))
    assert fused in (0, flops)  # torch either skips the fused op or agrees with the math


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["LSTM", "GRU", "RNN"]), small, small, st.integers(1, 8),
       st.integers(1, 3), st.booleans(), st.booleans(), st.integers(0, 3))
def test_torch_rnn_modules(kind: str, batch: int, steps: int, hidden: int, layers: int,
                           bidirectional: bool, batch_first: bool, proj: int) -> None:
    torch = _torch()

    proj = proj if kind == "LSTM" and proj < hidden else 0
    extra = {"proj_size": proj} if kind == "LSTM" else {}
    # FlopCounterMode sees the RNN's matmuls only in torch's decomposition, used on meta
    module = getattr(torch.nn, kind)(7, hidden, num_layers=layers, bidirectional=bidirectional,
                                     batch_first=batch_first, **extra).to("meta")
    x = torch.randn(batch, steps, 7, device="meta")
    flops, _ = _flops(lambda: module(x))
    attrs: dict[str, AttrValue] = {
        "input_size": 7, "hidden_size": hidden, "num_layers": layers,
        "bidirectional": bidirectional, "batch_first": batch_first, "proj_size": proj,
        "has_bias": True,
    }
    c = module_cost(kind, attrs, [_meta(x)], [])
    assert c is not None
    assert 2 * c.macs == flops


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["LSTMCell", "GRUCell", "RNNCell"]), small, small, small)
def test_torch_rnn_cells(kind: str, batch: int, fin: int, hidden: int) -> None:
    torch = _torch()
    cell = getattr(torch.nn, kind)(fin, hidden)
    x = torch.randn(batch, fin)
    flops, _ = _flops(lambda: cell(x))
    c = module_cost(kind, {"input_size": fin, "hidden_size": hidden, "has_bias": True},
                    [_meta(x)], [])
    assert c is not None
    assert 2 * c.macs == flops


@settings(max_examples=10, deadline=None)
@given(small, small, small, st.sampled_from([(8, 2), (12, 3), (4, 4)]), st.booleans(),
       st.booleans())
def test_torch_multihead_attention(batch: int, q_len: int, kv_len: int, dims: tuple[int, int],
                                   batch_first: bool, other_kv_dims: bool) -> None:
    torch = _torch()
    from torch.utils.flop_counter import FlopCounterMode

    e, heads = dims
    kdim, vdim = (5, 3) if other_kv_dims else (e, e)
    mha = torch.nn.MultiheadAttention(e, heads, kdim=kdim, vdim=vdim, batch_first=batch_first)
    mha.train()  # the Python path, whose products FlopCounterMode sees

    def shaped(length: int, d: int) -> Any:
        return torch.randn(batch, length, d) if batch_first else torch.randn(length, batch, d)

    q, k, v = shaped(q_len, e), shaped(kv_len, kdim), shaped(kv_len, vdim)
    counter = FlopCounterMode(display=False)
    with counter:
        # need_weights=True takes torch's explicit bmm path, whose products every torch
        # version counts (its count for the fused SDPA path is 0 on torch 2.14.1)
        mha(q, k, v, need_weights=True)
    attrs: dict[str, AttrValue] = {
        "embed_dim": e, "num_heads": heads, "kdim": kdim, "vdim": vdim,
        "batch_first": batch_first, "has_bias": True,
    }
    c = module_cost("MultiheadAttention", attrs, [_meta(q), _meta(k), _meta(v)], [])
    assert c is not None
    assert 2 * c.macs == counter.get_total_flops()
