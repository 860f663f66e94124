"""Several inputs, keyword inputs, per-input dtypes; every kind of output, named and drawn.

Every case runs under each tracer that can run it (``meta``, ``export``, ``eager``) and
must give the same input and output nodes.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections import OrderedDict
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import drawnet
from drawnet import ir
from drawnet.errors import InputError, OptionError, TraceError
from tests.fingerprint import assert_same_modules, fingerprint
from tests.models import Branchy, TwoInputs, WeightBranchy

TRACERS = ("meta", "export", "eager")


def assert_untouched(before: dict[str, Any], after: dict[str, Any]) -> None:
    """:func:`tests.fingerprint.assert_same`, also for models on the meta device (whose
    tensors have no values to compare)."""
    for key in ("training", "hooks", "grad_enabled", "default_dtype"):
        assert before[key] == after[key], f"{key} changed"
    for kind in ("params", "buffers"):
        assert len(before[kind]) == len(after[kind]), f"number of {kind} changed"
        for b, a in zip(before[kind], after[kind], strict=True):
            assert b[:-1] == a[:-1], f"{kind} {b[0]} changed device/dtype/flags"
            if b[-1].device.type != "meta":
                assert torch.equal(b[-1], a[-1]), f"{kind} {b[0]} changed value"
    assert_same_modules(before["modules"], after["modules"])


class Spy(TorchDispatchMode):
    """Notes every op that runs on real tensors (not meta, not fake)."""

    def __init__(self) -> None:
        super().__init__()
        self.real: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves(out):
            if type(t) is torch.Tensor and t.device.type != "meta":
                self.real.append(str(func))
        return out


def _io(graph: ir.Graph) -> tuple[list[tuple[str, str, tuple[Any, ...]]], ...]:
    ins = [(n.id, n.label, tuple((m.shape, m.dtype) for m in n.outputs))
           for n in graph.nodes if n.kind == "input"]
    outs = [(n.id, n.label, tuple((m.shape, m.dtype) for m in n.inputs))
            for n in graph.nodes if n.kind == "output"]
    return ins, outs


# -- inputs ------------------------------------------------------------------------------
class _TokensAndMask(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.proj = nn.Linear(4, 4)

    def forward(self, ids: Any, mask: Any, *, scale: float = 1.0, bias: Any = None) -> Any:
        x = self.proj(self.embed(ids)) * mask.unsqueeze(-1) * scale
        return x if bias is None else x + bias


@pytest.mark.parametrize("tracer", TRACERS)
def test_list_of_shapes_with_per_input_dtypes(tracer: str) -> None:
    model = _TokensAndMask()
    for dtypes in (["long", "float"], {"ids": "long"}, {"ids": torch.int64, "mask": None}):
        graph = drawnet.trace_model(model, [[2, 5], [2, 5]], dtypes=dtypes, tracer=tracer)
        ins, outs = _io(graph)
        assert ins == [("input.ids", "ids", (((2, 5), "int64"),)),
                       ("input.mask", "mask", (((2, 5), "float32"),))]
        assert outs == [("output", "output", (((2, 5, 4), "float32"),))]
        assert graph.predecessors()["embed:embedding"] == ["input.ids"]


@pytest.mark.parametrize("tracer", TRACERS)
def test_keyword_shapes_tensors_and_extra_kwargs(tracer: str) -> None:
    model = _TokensAndMask()
    graph = drawnet.trace_model(
        model, {"ids": [1, 3], "mask": [1, 3]}, dtypes={"ids": "long"}, tracer=tracer,
        kwargs={"scale": 2.0, "bias": torch.zeros(4)},
    )
    ins, _ = _io(graph)
    assert [name for name, _, _ in ins] == ["input.ids", "input.mask", "input.bias"]
    assert "input.bias" in graph.predecessors()[":add"]
    tuple_graph = drawnet.trace_model(
        model, input_data=(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 3)), tracer=tracer)
    assert _io(tuple_graph)[0][:2] == ins[:2]
    dict_graph = drawnet.trace_model(
        model, input_data={"ids": torch.zeros(1, 3, dtype=torch.long), "mask": torch.ones(1, 3)},
        tracer=tracer)
    assert _io(dict_graph)[0] == ins[:2]


def test_input_mistakes_are_named() -> None:
    model = _TokensAndMask()
    with pytest.raises(OptionError, match=r"dtypes names unknown inputs: 'idz' \(inputs are "
                                          r"'ids', 'mask'\)"):
        drawnet.trace_model(model, [[1, 3], [1, 3]], dtypes={"idz": "long"})
    with pytest.raises(OptionError, match="input 'mask' is given twice"):
        drawnet.trace_model(model, [[1, 3], [1, 3]], kwargs={"mask": torch.ones(1, 3)})
    with pytest.raises(InputError, match="input_size is an empty dict"):
        drawnet.trace_model(model, {})
    with pytest.raises(InputError, match=r"input_size\['ids'\]: dimension 0"):
        drawnet.trace_model(model, {"ids": [1, 0]})


def test_two_inputs_draw_with_named_inputs_and_outputs() -> None:
    d = drawnet.draw_model(TwoInputs(), [[1, 12], [1, 4]])
    for text in ("input: image", "input: meta", "output: logits", "output: features", "1×2",
                 "1×16"):
        assert text in d.source, text


# -- outputs -----------------------------------------------------------------------------
@dataclasses.dataclass
class _Out:
    logits: Any
    hidden: Any
    extra: Any = None


class _Outputs(nn.Module):
    """Returns the same two tensors as a tensor, tuple, list, dict, dataclass, nested..."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 2)

    def forward(self, x: Any) -> Any:
        a, b = self.a(x), self.b(x)
        if self.kind == "tensor":
            return a
        if self.kind == "tuple":
            return a, b
        if self.kind == "list":
            return [a, b]
        if self.kind == "dict":
            return {"logits": a, "hidden": b}
        if self.kind == "dataclass":
            return _Out(a, b)
        if self.kind == "ordered":
            return OrderedDict(logits=a, hidden=b)
        return {"logits": a, "more": (b, [a * 2, {"deep": b + 1}])}  # nested


OUTPUT_NAMES = {
    "tensor": [("output", (1, 3))],
    "tuple": [("output.0", (1, 3)), ("output.1", (1, 2))],
    "list": [("output.0", (1, 3)), ("output.1", (1, 2))],
    "dict": [("output.logits", (1, 3)), ("output.hidden", (1, 2))],
    "dataclass": [("output.logits", (1, 3)), ("output.hidden", (1, 2))],
    "ordered": [("output.logits", (1, 3)), ("output.hidden", (1, 2))],
    "nested": [("output.logits", (1, 3)), ("output.more.0", (1, 2)),
               ("output.more.1.0", (1, 3)), ("output.more.1.1.deep", (1, 2))],
}


@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize("kind", sorted(OUTPUT_NAMES))
def test_every_output_kind_is_named(kind: str, tracer: str) -> None:
    graph = drawnet.trace_model(_Outputs(kind), [1, 4], tracer=tracer)
    outs = [(n.id, n.inputs[0].shape) for n in graph.nodes if n.kind == "output"]
    assert outs == OUTPUT_NAMES[kind]
    preds = graph.predecessors()
    for node_id, _ in outs:
        assert len(preds[node_id]) == 1, node_id  # each output is wired to its maker
    d = drawnet.draw_model(_Outputs(kind), [1, 4], tracer=tracer)
    for node_id, shape in outs:
        name = node_id.removeprefix("output").removeprefix(".") or None
        assert (f"output: {name}" if name else "output") in d.source
        assert "×".join(map(str, shape)) in d.source


def _tiny_llama() -> Any:
    transformers = importlib.import_module("transformers")
    config = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2,
                                      vocab_size=100)
    return transformers.LlamaModel(config).eval()


@pytest.mark.parametrize("tracer", TRACERS)
def test_model_output_with_cache(tracer: str) -> None:
    model = _tiny_llama()
    graph = drawnet.trace_model(model, [1, 8], dtypes="long", tracer=tracer)
    outs = {n.id: n for n in graph.nodes if n.kind == "output"}
    assert list(outs) == ["output.last_hidden_state", "output.cache"]
    assert outs["output.last_hidden_state"].inputs == (ir.TensorMeta((1, 8, 32)),)
    # a DynamicCache is one output: keys and values of both layers
    assert [m.shape for m in outs["output.cache"].inputs] == [(1, 2, 8, 8)] * 4
    # without a cache, transformers checks the position ids for packed sequences with
    # `.all()` unless it sees a tracer: the meta tracer computes that check from the
    # inputs, as a real run does, and says so
    without = drawnet.trace_model(model, [1, 8], dtypes="long", kwargs={"use_cache": False},
                                  tracer="auto" if tracer == "meta" else tracer)
    assert [n.id for n in without.nodes if n.kind == "output"] == ["output.last_hidden_state"]
    if tracer == "meta":
        assert without.get_meta("tracer") == "meta"
        assert without.get_meta("note").startswith("forward read ")


def test_encoder_decoder_with_decoder_ids() -> None:
    transformers = importlib.import_module("transformers")
    config = transformers.T5Config(d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16,
                                   vocab_size=100, decoder_start_token_id=0)
    model = transformers.T5Model(config).eval()
    d = drawnet.draw_model(model, {"input_ids": [1, 8], "decoder_input_ids": [1, 4]},
                           dtypes="long", depth=2, hide=())
    ins, outs = _io(d.graph)
    assert [i[0] for i in ins] == ["input.input_ids", "input.decoder_input_ids"]
    assert [o[0] for o in outs] == ["output.last_hidden_state", "output.cache",
                                    "output.encoder_last_hidden_state"]
    assert outs[0][2] == (((1, 4, 32), "float32"),)  # the decoder's length
    assert outs[2][2] == (((1, 8, 32), "float32"),)  # the encoder's
    for text in ("input: input_ids", "input: decoder_input_ids", "output: last_hidden_state",
                 "output: encoder_last_hidden_state", "1×4×32", "1×8×32"):
        assert text in d.source, text
    preds = d.graph.predecessors()
    assert preds["decoder.block.0"] == ["decoder.dropout", "encoder.dropout@2"]  # cross-attn
    s = drawnet.summary(model, {"input_ids": [1, 8], "decoder_input_ids": [1, 4]},
                        dtypes="long")
    assert s.total_params == sum(p.numel() for p in model.parameters())


# -- data-dependent control flow ---------------------------------------------------------
@pytest.mark.parametrize(("sign", "branch"), [(1.0, "a"), (-1.0, "b")])
def test_value_dependent_branch_draws_the_branch_that_ran(sign: float, branch: str) -> None:
    # the branch reads the input's values: the meta tracer computes them as a real run does
    model = Branchy()
    before = fingerprint(model)
    d = drawnet.draw_model(model, input_data=torch.full((1, 4), sign))
    assert d.tracer == "meta"
    assert "the drawing follows the path these inputs take" in d.graph.get_meta("note")
    assert {n.module_path for n in d.graph.nodes if n.kind == "module"} == {branch}
    assert_untouched(before, fingerprint(model))


@pytest.mark.parametrize(("sign", "branch"), [(1.0, "a"), (-1.0, "b")])
def test_weight_dependent_branch_draws_the_branch_that_ran(sign: float, branch: str) -> None:
    model = WeightBranchy()
    with torch.no_grad():
        model.a.weight.fill_(sign)
        model.a.bias.zero_()
    before = fingerprint(model)
    d = drawnet.draw_model(model, input_data=torch.ones(1, 4))
    assert d.tracer == "eager"
    assert d.graph.get_meta("tried") == "meta, export"
    assert "branch taken for these inputs" in d.graph.get_meta("note")
    # ``a`` runs in the condition itself
    assert {n.module_path for n in d.graph.nodes if n.kind == "module"} == {"a", branch}
    assert_untouched(before, fingerprint(model))


def test_value_dependent_branch_on_meta_says_what_to_do() -> None:
    model = WeightBranchy().to("meta")
    before = fingerprint(model)
    with pytest.raises(TraceError) as info:
        drawnet.draw_model(model, [1, 4])
    message = str(info.value)
    assert message.startswith("meta and export traces failed in WeightBranchy.forward "
                              "(input 1×4)")
    assert "branches on tensor values" in message
    assert "weights are on the meta device" in message
    assert "tracer='eager'" in message
    assert info.value.__cause__ is not None
    assert_untouched(before, fingerprint(model))


def test_input_mistake_stops_auto_before_any_real_run() -> None:
    import torchvision

    model = torchvision.models.resnet18()
    before = fingerprint(model)
    spy = Spy()
    with spy, pytest.raises(TraceError) as info:
        drawnet.draw_model(model, [1, 3, 224])
    message = str(info.value)
    # the first tracer to see it reports it: conv2d refuses these shapes on CPU too
    assert message.startswith("meta trace failed in conv1 · Conv2d "
                              "(input 1×3×224; expects N×3×H×W or 3×H×W): ")
    assert "a real run stops there too: check the input shapes" in message
    assert isinstance(info.value.__cause__, RuntimeError)  # torch's own error
    # the model never ran for real: only conv1's checks were replayed, on zeros
    assert not [op for op in spy.real if not op.startswith(
        ("aten.empty", "aten.zeros", "aten.zero_", "aten.fill_", "aten.unsqueeze",
         "aten.view"))], spy.real
    assert_untouched(before, fingerprint(model))


class _MakesCpuTensors(nn.Module):
    """Makes a tensor on the CPU inside forward: it joins the meta run as a meta tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: Any) -> Any:
        return self.fc(x) * torch.tensor([1.0, 2.0, 3.0, 4.0])


def test_cpu_tensors_made_in_forward_join_the_meta_run() -> None:
    model = _MakesCpuTensors()
    spy = Spy()
    with spy:
        d = drawnet.draw_model(model, [2, 4])
    assert d.tracer == "meta"
    assert d.graph.get_meta("note") == ""
    exported = drawnet.draw_model(model, [2, 4], tracer="export")
    assert d.graph.totals == exported.graph.totals
    assert [n.id for n in d.graph.nodes] == [n.id for n in exported.graph.nodes]
    # the model's own CPU tensor is the only real work
    assert set(spy.real) <= {"aten.lift_fresh.default", "aten._to_copy.default",
                             "aten.empty.memory_format"}, spy.real


class _ChecksUnlessTracing(nn.Module):
    """Checks its activations for NaN, as transformers' code does, unless it is traced."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: Any) -> Any:
        h = self.fc(x)
        if not torch.compiler.is_compiling() and bool(h.isnan().any()):
            raise ValueError("NaN in the activations")
        return h


def test_auto_falls_back_to_export_without_compute() -> None:
    spy = Spy()
    with spy:
        d = drawnet.draw_model(_ChecksUnlessTracing(), [2, 4])
    assert d.tracer == "export"
    assert d.graph.get_meta("tried") == "meta"
    assert d.graph.get_meta("fallback").startswith("meta failed in _ChecksUnlessTracing.forward")
    assert d.graph.get_meta("note") == ""  # nothing ran for real
    assert not [op for op in spy.real if "empty" not in op and "lift" not in op
                and "_to_copy" not in op], spy.real
