"""The meta tracer on models that read tensor values, route tokens or recur over time.

Each model is drawn with ``tracer='meta'`` (no compute) and, where the values decide
something, compared with a real run (``tracer='eager'``): the same layers, shapes and
MACs, and notes that say what was read or assumed.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import drawnet
from drawnet import ir, stats
from drawnet.api import layer_graph
from drawnet.errors import OptionError, TraceError
from tests.fingerprint import assert_same, fingerprint

transformers = importlib.import_module("transformers")


def _same_drawing(a: ir.Graph, b: ir.Graph) -> None:
    la, lb = layer_graph(a, depth=None), layer_graph(b, depth=None)
    assert [n.id for n in la.nodes] == [n.id for n in lb.nodes]
    assert [[m.shape for m in n.outputs] for n in la.nodes] == [
        [m.shape for m in n.outputs] for n in lb.nodes]
    assert a.totals.macs == b.totals.macs
    assert a.totals.params == b.totals.params


def _notes(graph: ir.Graph) -> list[str]:
    return [v for k, v in graph.meta if k == "note"]


class MetaOps(TorchDispatchMode):
    """Counts the aten ops that run on meta tensors (meta kernels)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if any(isinstance(t, torch.Tensor) and t.device.type == "meta"
               for t in torch.utils._pytree.tree_leaves(out)):
            self.count += 1
        return out


# -- values computed from the inputs -----------------------------------------------------
def _gpt2() -> Any:
    return transformers.GPT2Model(transformers.GPT2Config(
        n_embd=32, n_layer=2, n_head=2, vocab_size=100, n_positions=64)).eval()


def _padded(n: int = 12, pad: int = 3) -> dict[str, Any]:
    ids = torch.arange(n).remainder(90).add(5).unsqueeze(0)
    mask = torch.ones(1, n, dtype=torch.long)
    mask[0, n - pad:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def test_attention_mask_is_computed_from_the_inputs_on_meta() -> None:
    model = _gpt2()
    before = fingerprint(model)
    meta = drawnet.trace_model(model, input_data=_padded(), tracer="auto")
    assert meta.get_meta("tracer") == "meta"
    assert meta.get_meta("tried") == ""
    _same_drawing(meta, drawnet.trace_model(model, input_data=_padded(), tracer="eager"))
    assert any(n.startswith("forward read ") and "computed from the inputs" in n
               for n in _notes(meta)), _notes(meta)
    assert_same(before, fingerprint(model))


def test_mask_with_and_without_padding_takes_the_path_a_real_run_takes() -> None:
    # transformers skips the explicit mask when no token is padded: the meta trace must
    # read the mask's values to know, and draw what a real run draws in both cases
    model = _gpt2()
    full = {**_padded(), "attention_mask": torch.ones(1, 12, dtype=torch.long)}
    ops = []
    for data in (_padded(), full):
        meta = drawnet.trace_model(model, input_data=data, tracer="meta")
        real = drawnet.trace_model(model, input_data=data, tracer="eager")
        # (a real run's Dropout hands back its input, which adds an "identity" op)
        ops.append([n.op for n in meta.nodes if n.op != "identity"])
        assert ops[-1] == [n.op for n in real.nodes if n.op != "identity"]
    assert ops[0] != ops[1]  # the padded mask is built and used; the full one is skipped


def test_encoder_decoder_with_item_calls_stays_on_meta() -> None:
    cfg = transformers.BartConfig(d_model=32, encoder_layers=1, decoder_layers=1,
                                  encoder_attention_heads=2, decoder_attention_heads=2,
                                  encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=100,
                                  max_position_embeddings=64)
    model = transformers.BartModel(cfg).eval()
    data = {"input_ids": torch.arange(3, 19).unsqueeze(0)}
    meta = drawnet.trace_model(model, input_data=data)
    assert meta.get_meta("tracer") == "meta"
    _same_drawing(meta, drawnet.trace_model(model, input_data=data, tracer="eager"))


class _MaskBuilder(nn.Module):
    """Builds a mask in place, reads it with .item() and .tolist(), indexes with it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("steps", torch.tensor([2, 1, 3]))

    def forward(self, x: Any, lengths: Any) -> Any:
        mask = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
        for i, n in enumerate(lengths.tolist()):
            mask[i, :n] = True
        kept = self.fc(x[mask])  # (sum(lengths), 4)
        extra = int(self.steps.sum().item())
        return kept, torch.zeros(extra, device=x.device)


def test_values_follow_in_place_writes_reads_and_mask_indexing() -> None:
    model = _MaskBuilder()
    before = fingerprint(model)
    data = (torch.randn(3, 5, 4), torch.tensor([5, 2, 4]))
    meta = drawnet.trace_model(model, input_data=data, tracer="meta")
    outs = {n.id: [m.shape for m in n.inputs] for n in meta.nodes if n.kind == "output"}
    assert outs == {"output.0": [(11, 4)], "output.1": [(6,)]}
    _same_drawing(meta, drawnet.trace_model(model, input_data=data, tracer="eager"))
    assert_same(before, fingerprint(model))  # the buffer's copy was read, not the buffer


# -- values that depend on the weights: assumed, and said -----------------------------
class _Selects(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: Any) -> Any:
        h = self.fc(x)
        return h[h > 0], torch.nonzero(h > 0)


def test_counts_that_depend_on_the_weights_are_assumed_and_noted() -> None:
    g = drawnet.trace_model(_Selects(), [2, 8])
    assert g.get_meta("tracer") == "meta"
    outs = {n.id: [m.shape for m in n.inputs] for n in g.nodes if n.kind == "output"}
    assert outs == {"output.0": [(16,)], "output.1": [(16, 2)]}  # every element selected
    notes = _notes(g)
    assert any(n.startswith("assumed every element selected (non-zero): nonzero in "
                            "_Selects.forward reads a 2×8 tensor") for n in notes), notes
    assert any("a boolean-mask index" in n for n in notes), notes


def test_branch_on_weight_values_is_never_guessed() -> None:
    class Branch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: Any) -> Any:
            h = self.fc(x)
            return h if h.mean() > 0 else -h

    with pytest.raises(TraceError, match="branches on tensor values"):
        drawnet.trace_model(Branch(), [1, 4], tracer="meta")


# -- mixture of experts ----------------------------------------------------------------
def _mixtral(impl: str) -> Any:
    cfg = transformers.MixtralConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2,
                                     num_local_experts=4, num_experts_per_tok=2,
                                     vocab_size=100)
    model = transformers.MixtralModel(cfg).eval()
    model.set_experts_implementation(impl)
    return model


TOKENS = 10
# per layer: every token through its 2 experts: gate_up 32 -> 2·48, down 48 -> 32
EXPERT_MACS = TOKENS * 2 * (32 * 96 + 48 * 32)


@pytest.mark.parametrize("impl", ["grouped_mm", "eager"])
def test_moe_experts_count_their_routed_tokens(impl: str) -> None:
    model = _mixtral(impl)
    data = {"input_ids": torch.arange(5, 5 + TOKENS).unsqueeze(0)}
    meta = drawnet.trace_model(model, input_data=data)
    assert meta.get_meta("tracer") == "meta"
    s = drawnet.summary(model, input_data=data, depth=None)
    experts = [r for r in s.layers if r.module_path.endswith("mlp.experts")]
    assert len(experts) == 2
    assert [r.inclusive_macs for r in experts] == [EXPERT_MACS] * 2
    assert "mixture of experts: expert MACs count each token once for each expert it is " \
        "routed to" in str(s)
    real = drawnet.trace_model(model, input_data=data, tracer="eager")
    assert meta.totals.macs == real.totals.macs
    notes = _notes(meta)
    if impl == "eager":  # the loop over experts reads the routing: assumed, and said
        assert any(n.startswith("routing assumed: top-2 of 4 in layers.0.mlp.gate") and
                   "(and 1 more like it)" in n for n in notes), notes
    else:  # grouped_mm never reads it
        assert not any("assumed" in n for n in notes), notes


def test_moe_boxes_say_how_many_experts() -> None:
    from drawnet.emit.labels import describe

    g = drawnet.trace_model(_mixtral("grouped_mm"), [1, 6], dtypes="long")
    info = {m.path: dict(m.attrs) for m in g.modules}
    assert info["layers.0.mlp.experts"]["num_experts"] == 4
    assert (info["layers.0.mlp.gate"]["top_k"], info["layers.0.mlp.gate"]["num_experts"]) == (2, 4)
    assert describe("MixtralTopKRouter", info["layers.0.mlp.gate"]) == "top-2 of 4 experts"
    assert describe("MixtralExperts", info["layers.0.mlp.experts"]) == "4 experts"


def test_grouped_mm_cost_counts_routed_rows() -> None:
    t = ir.TensorMeta
    cost = stats.op_cost("aten::_grouped_mm", [t((20, 32)), t((4, 32, 96)), t((4,), "int32")],
                         [t((20, 96))], {})
    assert cost == stats.Cost(20 * 32 * 96, 2 * 20 * 32 * 96)
    batched = stats.op_cost("_grouped_mm", [t((4, 5, 32)), t((4, 32, 8))], [t((4, 5, 8))], {})
    assert batched.macs == 4 * 5 * 32 * 8


# -- recurrences -----------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: nn.LSTM(30, 40, 2),
    lambda: nn.GRU(30, 20, 3, bidirectional=True),
    lambda: nn.RNN(30, 20, nonlinearity="relu"),
    lambda: nn.LSTM(30, 20, 2, proj_size=5, bidirectional=True),
], ids=["lstm", "gru-bidir", "rnn-relu", "lstm-proj"])
def test_recurrences_cost_the_same_on_meta_whatever_the_length(make: Any) -> None:
    rnn = make()
    counts = []
    for steps in (3, 200):
        spy = MetaOps()
        with spy:
            meta = drawnet.trace_model(rnn, [steps, 2, 30], tracer="meta")
        counts.append(spy.count)
        _same_drawing(meta, drawnet.trace_model(rnn, [steps, 2, 30], tracer="eager"))
    assert counts[0] == counts[1], counts  # no meta kernel loops over time


def test_packed_sequences_on_meta() -> None:
    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 16)
            self.rnn = nn.LSTM(16, 24, batch_first=True)
            self.head = nn.Linear(24, 3)

        def forward(self, ids: Any, lengths: Any) -> Any:
            packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths.cpu(),
                                                       batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
            return self.head(out)

    data = (torch.randint(0, 50, (3, 9)), torch.tensor([9, 4, 6]))
    meta = drawnet.trace_model(Tagger(), input_data=data)
    assert meta.get_meta("tracer") == "meta"
    _same_drawing(meta, drawnet.trace_model(Tagger(), input_data=data, tracer="eager"))


def test_rnn_size_mismatch_is_torch_own_error() -> None:
    with pytest.raises(TraceError, match=r"in 0 · LSTM .*input.size\(-1\) must be equal"):
        drawnet.trace_model(nn.Sequential(nn.LSTM(8, 4)), [5, 1, 6])


# -- fail fast -------------------------------------------------------------------------
def test_input_error_is_reported_by_the_meta_tracer_alone(monkeypatch: Any) -> None:
    import drawnet.trace as trace_pkg

    ran: list[str] = []
    real_run = trace_pkg._run
    monkeypatch.setattr(trace_pkg, "_run",
                        lambda name, *a: ran.append(name) or real_run(name, *a))
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(10, 2))
    with pytest.raises(TraceError, match=r"in 3 · Linear .*a real run stops there too"):
        drawnet.draw_model(net, [1, 3, 8, 8])
    assert ran == ["meta"]


def test_models_own_check_is_reported_at_once(monkeypatch: Any) -> None:
    import drawnet.trace as trace_pkg

    class Checks(nn.Module):
        def forward(self, x: Any) -> Any:
            if x.shape[-1] != 3:
                raise ValueError(f"expected 3 features, got {x.shape[-1]}")
            return x

    ran: list[str] = []
    real_run = trace_pkg._run
    monkeypatch.setattr(trace_pkg, "_run",
                        lambda name, *a: ran.append(name) or real_run(name, *a))
    with pytest.raises(TraceError, match="expected 3 features, got 4"):
        drawnet.trace_model(Checks(), [1, 4])
    assert ran == ["meta"]


def test_meta_only_failure_still_tries_the_next_tracer() -> None:
    class Equal(nn.Module):  # torch.equal has no meta kernel: not the model's fault
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: Any) -> Any:
            h = self.fc(x)
            return h * 2 if torch.equal(h, h) else h

    g = drawnet.trace_model(Equal(), [1, 4])
    assert g.get_meta("tracer") != "meta"
    assert g.get_meta("fallback").startswith("meta failed in Equal.forward")


# -- trace once ------------------------------------------------------------------------
def test_traced_model_draws_and_summarises_without_tracing_again(monkeypatch: Any) -> None:
    import drawnet.trace as trace_pkg

    net = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()),
                        nn.Sequential(nn.Conv2d(8, 8, 3), nn.ReLU()), nn.Flatten())
    calls: list[str] = []
    real_trace = trace_pkg.trace
    monkeypatch.setattr(trace_pkg, "trace", lambda *a, **k: calls.append("t") or
                        real_trace(*a, **k))
    t = drawnet.traced(net, [1, 3, 16, 16])
    shallow, deep = t.draw(depth=1), t.draw(depth=None, orientation="TB")
    s = t.summary(depth=2)
    assert calls == ["t"]
    assert shallow.source == drawnet.draw_model(net, [1, 3, 16, 16], depth=1).source
    assert deep.source == drawnet.draw_model(net, [1, 3, 16, 16], depth=None,
                                             orientation="TB").source
    assert str(s) == str(drawnet.summary(net, [1, 3, 16, 16], depth=2))
    assert t.stats()["macs"].sum() == t.graph.totals.macs
    assert drawnet.summary(t).total_params == sum(p.numel() for p in net.parameters())
    assert t.tracer == "meta"


def test_traced_model_refuses_new_inputs_or_tracer() -> None:
    t = drawnet.traced(nn.Linear(4, 2), [1, 4])
    with pytest.raises(OptionError, match="already traced with its inputs"):
        drawnet.draw_model(t, [1, 4])
    with pytest.raises(OptionError, match="traced with tracer='meta', not 'eager'"):
        drawnet.summary(t, tracer="eager")
    with pytest.raises(OptionError, match="already traced"):
        drawnet.traced(t)
