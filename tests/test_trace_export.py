"""The torch.export tracer against the eager recorder (``tracer='meta'``).

Both must give the same module calls (``path@k`` for the k-th call), the same op owners,
the same data-flow edges and MACs, up to aten's names for a few ops; neither may compute
or change the model, and a failure must say where and why.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

import drawnet
from drawnet import ir
from drawnet.errors import TraceError
from drawnet.trace.eager import record
from drawnet.trace.export import record_export
from drawnet.trace.inputs import parse_inputs
from tests.fingerprint import assert_same, fingerprint
from tests.models import Branchy, TwoInputs
from tests.test_inputs_outputs import Spy, assert_untouched
from tests.test_trace_jit import _Toy

# aten's name for an op where the eager recorder sees the Python-level call
ATEN_NAMES = {":select": ":getitem", ":slice": ":getitem"}


def _canon(node_id: str) -> str:
    """A node id with aten's op names mapped to eager's (and their counts dropped)."""
    for aten, eager in (*ATEN_NAMES.items(), (":getitem", ":getitem")):
        if aten in node_id:
            return node_id.split("#")[0].replace(aten, eager)
    return node_id


class _Maybe(nn.Module):
    def forward(self, x: Any, skip: bool = False) -> Any:
        return x if skip else x * 2


class _Calls(nn.Module):
    """Op-less calls (Identity, a skipped call), repeated calls, a grad-mode block."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.id = nn.Identity()
        self.lin = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.1)
        self.maybe = _Maybe()

    def forward(self, x: Any) -> Any:
        x = self.id(x)
        x = self.relu(self.relu(x))
        x = self.id(x)
        x = self.maybe(self.maybe(self.maybe(x), skip=True))
        x = self.drop(x)
        with torch.enable_grad():  # a wrap_with_set_grad_enabled sub-graph in export
            y = self.lin(self.lin(x))
        return {"y": y, "x": x}


def _same_graph(a: ir.Graph, b: ir.Graph) -> None:
    assert [n.id for n in a.nodes] == [n.id for n in b.nodes]
    assert {(e.src, e.dst, e.tensor) for e in a.edges} == {(e.src, e.dst, e.tensor)
                                                           for e in b.edges}
    assert a.calls == b.calls
    assert a.modules == b.modules
    assert a.totals == b.totals
    for n, m in zip(a.nodes, b.nodes, strict=True):
        assert (n.inputs, n.outputs, n.scope, n.macs) == (m.inputs, m.outputs, m.scope, m.macs)


@pytest.mark.parametrize("case", ["toy", "toy_kwargs", "calls", "leaf_root"])
def test_small_models_match_meta_exactly(case: str) -> None:
    model: nn.Module
    if case == "toy":
        model = _Toy().eval()
        inputs = parse_inputs(model, input_size=(2, 4))
    elif case == "toy_kwargs":
        model = _Toy().eval()
        inputs = parse_inputs(model, input_data={"x": torch.randn(2, 4)},
                              kwargs={"mask": torch.randn(1, 6), "flag": True})
    elif case == "calls":
        model = _Calls().eval()
        inputs = parse_inputs(model, input_size=(2, 4))
    else:
        model = nn.Linear(4, 2)
        inputs = parse_inputs(model, input_size=(2, 4))
    graph = record_export(model, inputs)
    ir.validate(graph)
    assert graph.get_meta("tracer") == "export"
    _same_graph(graph, record(model, inputs, tracer="meta"))


def test_calls_without_ops_and_repeated_calls() -> None:
    model = _Calls().eval()
    graph = record_export(model, parse_inputs(model, input_size=(2, 4)))
    assert [c.id for c in graph.calls] == ["id", "relu", "relu@2", "id@2", "maybe", "maybe@2",
                                          "maybe@3", "drop", "lin", "lin@2"]
    preds = graph.predecessors()
    assert preds["id:identity"] == ["input.x"]
    assert preds["relu:relu"] == ["id:identity"]  # later users read the identity's output
    assert preds["id@2:identity"] == ["relu@2:relu"]
    assert preds["maybe@2:identity"] == ["maybe:mul"]  # the call that skipped its work
    assert preds["maybe@3:mul"] == ["maybe@2:identity"]
    assert preds["lin:linear"] == ["drop:dropout"]  # read in line from the sub-graph
    assert preds["output.x"] == ["drop:dropout"]


@pytest.fixture(scope="module", params=["resnet18", "mobilenet_v3_small", "efficientnet_b0",
                                        "vit_b_16"])
def pair(request: pytest.FixtureRequest) -> tuple[ir.Graph, ir.Graph]:
    with torch.device("meta"):
        model = getattr(torchvision.models, request.param)().eval()
    size = 224 if request.param == "vit_b_16" else 64
    inputs = parse_inputs(model, input_size=(1, 3, size, size))
    return record_export(model, inputs), record(model, inputs, tracer="meta")


def test_torchvision_calls_modules_and_costs_match(pair: tuple[ir.Graph, ir.Graph]) -> None:
    exported, meta = pair
    ir.validate(exported)
    assert exported.calls == meta.calls
    assert exported.modules == meta.modules
    assert exported.totals == meta.totals
    assert exported.totals.macs > 0


def test_torchvision_layer_graphs_match(pair: tuple[ir.Graph, ir.Graph]) -> None:
    from drawnet.api import layer_graph

    for depth in (None, 2):
        a, b = (layer_graph(g, depth=depth) for g in pair)
        assert [(_canon(n.id), n.inputs, n.outputs, n.params, n.macs) for n in a.nodes] == [
            (_canon(n.id), n.inputs, n.outputs, n.params, n.macs) for n in b.nodes]
        assert {(_canon(e.src), _canon(e.dst)) for e in a.edges} == {
            (_canon(e.src), _canon(e.dst)) for e in b.edges}


def test_torchvision_nodes_and_edges_match(pair: tuple[ir.Graph, ir.Graph]) -> None:
    # Inside nn.MultiheadAttention the meta tracer sees one fused call and export sees its
    # aten ops; that module is drawn as one box either way, so compare everything else.
    exported, meta = (_without_fused_attention(g) for g in pair)
    assert [_canon(n.id) for n in exported.nodes] == [_canon(n.id) for n in meta.nodes]
    assert {(_canon(e.src), _canon(e.dst)) for e in exported.edges} == {
        (_canon(e.src), _canon(e.dst)) for e in meta.edges}
    for n, m in zip(exported.nodes, meta.nodes, strict=True):
        assert (n.outputs, n.scope, n.macs) == (m.outputs, m.scope, m.macs), n.id


def _without_fused_attention(g: ir.Graph) -> ir.Graph:
    gone = {n.id for n in g.nodes if n.class_name == "MultiheadAttention"}
    return g.replace(nodes=tuple(n for n in g.nodes if n.id not in gone),
                     edges=tuple(e for e in g.edges if e.src not in gone and e.dst not in gone))


def _tiny_transformer(kind: str) -> Any:
    transformers = importlib.import_module("transformers")
    if kind == "bert":
        config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=64,
                                         vocab_size=100)
        return transformers.BertModel(config).eval()
    config = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2,
                                      vocab_size=100)
    return transformers.LlamaModel(config).eval()


@pytest.mark.parametrize("kind", ["bert", "llama"])
def test_transformers_match_meta_at_the_layer_level(kind: str) -> None:
    from drawnet.api import layer_graph

    model = _tiny_transformer(kind)
    inputs = parse_inputs(model, [1, 8], dtypes="long")
    exported = record_export(model, inputs)
    meta = record(model, inputs, tracer="meta")
    # transformers builds an explicit attention mask under export (None in eager mode), so
    # the call *inputs* of the layers differ, and the mask's ops add a few FLOPs; the
    # module boxes, their flow and the MACs do not
    assert [c.id for c in exported.calls] == [c.id for c in meta.calls]
    assert (exported.totals.params, exported.totals.macs) == (meta.totals.params,
                                                              meta.totals.macs)
    a, b = layer_graph(exported, depth=None), layer_graph(meta, depth=None)
    assert [_canon(n.id) for n in a.nodes] == [_canon(n.id) for n in b.nodes]
    assert {(_canon(e.src), _canon(e.dst)) for e in a.edges} == {
        (_canon(e.src), _canon(e.dst)) for e in b.edges}
    outputs = [n.id for n in a.nodes if n.kind == "output"]
    assert outputs == ["output.last_hidden_state", "output.cache"] if kind == "llama" \
        else ["output.last_hidden_state", "output.pooler_output"]


def test_cache_output_is_one_named_output() -> None:
    model = _tiny_transformer("llama")
    graph = record_export(model, parse_inputs(model, [1, 8], dtypes="long"))
    cache = graph.node("output.cache")
    assert cache.label == "cache"
    assert [m.shape for m in cache.inputs] == [(1, 2, 8, 8)] * 4  # keys, values × 2 layers
    assert len(graph.predecessors()["output.cache"]) == 4


@pytest.mark.parametrize("tracer", ["meta", "export"])
def test_real_model_traced_without_compute_comes_back_unchanged(tracer: str) -> None:
    model = torchvision.models.resnet18()
    model.train()
    model.layer1.register_forward_hook(lambda *a: None)
    model.fc.weight.requires_grad_(False)
    model.layer2.half()
    model.layer2.float()
    before = fingerprint(model)
    spy = Spy()
    with spy:
        graph = drawnet.trace_model(model, [2, 3, 64, 64], tracer=tracer, mode="eval")
    assert graph.get_meta("tracer") == tracer
    # nothing computed: at most the uninitialised input tensor export traces from
    assert set(spy.real) <= {"aten.empty.memory_format"}, spy.real[:5]
    assert_same(before, fingerprint(model))
    assert model.training
    assert not model.fc.weight.requires_grad


def test_meta_model_exports() -> None:
    with torch.device("meta"):
        model = torchvision.models.resnet18()
    before = fingerprint(model)
    d = drawnet.draw_model(model, [1, 3, 64, 64], tracer="export")
    assert d.tracer == "export"
    assert "1×64×16×16" in d.source
    assert_untouched(before, fingerprint(model))


def test_data_dependent_branch_fails_with_place_tracer_and_hint() -> None:
    model = Branchy()
    before = fingerprint(model)
    with pytest.raises(TraceError) as info:
        drawnet.trace_model(model, [1, 4], tracer="export")
    message = str(info.value)
    assert message.startswith("export trace failed in Branchy.forward (input 1×4): ")
    assert "branches on tensor values" in message
    assert "tracer='eager'" in message
    assert info.value.__cause__ is not None  # torch's own exception, chained
    assert_same(before, fingerprint(model))


class _Mismatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 5), nn.Linear(4, 2))

    def forward(self, x: Any) -> Any:
        return self.body(x)


def test_failure_inside_a_module_names_path_class_and_shapes() -> None:
    model = _Mismatch()
    before = fingerprint(model)
    with pytest.raises(TraceError, match=r"^export trace failed in body\.1 · Linear "
                                         r"\(input 1×5; expects …×4 \(last dimension 4\)\): "
                                         r"RuntimeError") as info:
        drawnet.trace_model(model, [1, 4], tracer="export")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert_same(before, fingerprint(model))


def test_export_stays_quiet_and_restores_logging(capfd: pytest.CaptureFixture[str]) -> None:
    levels = {name: logging.getLogger(name).level
              for name in ("torch.export", "torch.fx.experimental.symbolic_shapes")}
    with pytest.raises(TraceError):
        drawnet.trace_model(Branchy(), [1, 4], tracer="export")
    out, err = capfd.readouterr()
    assert "def forward" not in out + err  # torch prints the partial graph on failure
    assert {name: logging.getLogger(name).level for name in levels} == levels


def test_two_inputs_kwargs_and_extra() -> None:
    model = TwoInputs()
    graph = drawnet.trace_model(model, input_data=(torch.zeros(1, 12),),
                                kwargs={"meta": torch.zeros(1, 4)}, tracer="export")
    assert [n.id for n in graph.nodes if n.kind == "input"] == ["input.image", "input.meta"]
    assert [n.id for n in graph.nodes if n.kind == "output"] == ["output.logits",
                                                               "output.features"]
    assert sorted(graph.predecessors()[":cat"]) == ["image:linear", "meta:linear"]
