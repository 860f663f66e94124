"""The jit tracer against the eager recorder (``tracer='meta'``) on real models.

Both tracers must give the same module calls, the same op owners, the same data-flow
edges and the same MACs; the jit tracer must leave the model exactly as it found it.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import pytest

torch = importlib.import_module("torch")
torchvision = importlib.import_module("torchvision")
nn = torch.nn

from drawnet import ir  # noqa: E402
from drawnet.errors import TraceError  # noqa: E402
from drawnet.trace.eager import record  # noqa: E402
from drawnet.trace.inputs import parse_inputs  # noqa: E402
from drawnet.trace.jit import record_jit  # noqa: E402

_HOOK_DICTS = (
    "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_forward_hooks_with_kwargs",
    "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
)
ZOO: dict[str, Callable[[], Any]] = {
    "resnet18": torchvision.models.resnet18,
    "alexnet": torchvision.models.alexnet,
    "vgg11": torchvision.models.vgg11,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
}
LEAF_OPS = {"Conv2d", "BatchNorm2d", "ReLU", "ReLU6", "Linear", "MaxPool2d",
            "AdaptiveAvgPool2d", "Dropout"}


def _snapshot(model: Any) -> dict[str, Any]:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [(name, m.training) for name, m in model.named_modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
    }


def _assert_unchanged(model: Any, before: dict[str, Any]) -> None:
    state = model.state_dict()
    assert state.keys() == before["state"].keys()
    for k, v in state.items():
        assert torch.equal(v, before["state"][k]), f"{k} changed"
    assert [(name, m.training) for name, m in model.named_modules()] == before["training"]
    assert [p.requires_grad for p in model.parameters()] == before["requires_grad"]
    for name, m in model.named_modules():
        for attr in _HOOK_DICTS:
            assert not getattr(m, attr, {}), f"{attr} left on {name or 'the root'}"


def _owners(graph: ir.Graph) -> set[str]:
    return {n.scope[-1] if n.scope else "" for n in graph.nodes if n.kind == "function"}


def _same_op(node_id: str) -> str:
    # eager sees F.conv2d, jit sees aten::_convolution (canonical 'convolution')
    return node_id.replace(":conv2d", ":convolution")


@pytest.fixture(scope="module", params=sorted(ZOO))
def zoo(request: pytest.FixtureRequest) -> tuple[str, Any, ir.Graph, ir.Graph, dict[str, Any]]:
    name = request.param
    torch.manual_seed(0)
    model = ZOO[name]().eval()
    before = _snapshot(model)
    inputs = parse_inputs(model, input_size=(1, 3, 64, 64))
    graph = record_jit(model, inputs)
    _assert_unchanged(model, before)
    eager = record(model, inputs, tracer="meta")
    return name, model, graph, eager, before


def test_graph_is_valid(zoo: tuple[str, Any, ir.Graph, ir.Graph, dict[str, Any]]) -> None:
    _, _, graph, _, _ = zoo
    ir.validate(graph)
    assert graph.get_meta("tracer") == "jit"
    assert [n.id for n in graph.nodes if n.kind == "input"] == ["input.x"]
    assert [n.id for n in graph.nodes if n.kind == "output"] == ["output"]
    assert graph.node("output").inputs == (ir.TensorMeta((1, 1000)),)


def test_op_owners_match_eager(zoo: tuple[str, Any, ir.Graph, ir.Graph, dict[str, Any]]) -> None:
    _, _, graph, eager, _ = zoo
    assert _owners(graph) == _owners(eager)
    leaf_calls = {c.id for c in eager.calls if c.class_name in LEAF_OPS}
    assert leaf_calls  # the zoo has convs, norms, activations and linears
    assert leaf_calls <= _owners(graph)
    for n in graph.nodes:
        if n.kind == "function" and n.scope:
            assert n.module_path == n.scope[-1].split("@")[0]
            assert n.class_name == graph.class_of(n.module_path)


def test_calls_and_modules_match_eager(
    zoo: tuple[str, Any, ir.Graph, ir.Graph, dict[str, Any]],
) -> None:
    _, _, graph, eager, _ = zoo
    assert graph.calls == eager.calls
    assert graph.modules == eager.modules


def test_nodes_and_edges_match_eager(
    zoo: tuple[str, Any, ir.Graph, ir.Graph, dict[str, Any]],
) -> None:
    _, _, graph, eager, _ = zoo
    assert [n.id for n in graph.nodes] == [_same_op(n.id) for n in eager.nodes]
    edges = {(e.src, e.dst, e.tensor) for e in graph.edges}
    assert edges == {(_same_op(e.src), _same_op(e.dst), e.tensor) for e in eager.edges}
    for n, m in zip(graph.nodes, eager.nodes, strict=True):
        assert (n.inputs, n.outputs, n.scope, n.macs) == (m.inputs, m.outputs, m.scope, m.macs)


def test_no_plumbing_nodes(zoo: tuple[str, Any, ir.Graph, ir.Graph, dict[str, Any]]) -> None:
    _, _, graph, _, _ = zoo
    ops = {n.op for n in graph.nodes}
    assert not {o for o in ops if o.startswith("prim::")}
    assert not ops & {"size", "Int", "NumToTensor", "ListConstruct", "GetAttr", "Constant"}
    # weights are inputs of their op, never nodes or edge sources
    conv = next(n for n in graph.nodes if n.op == "convolution")
    assert len(conv.inputs) >= 2
    assert len(conv.inputs[1].shape) == 4
    assert len(graph.predecessors()[conv.id]) == 1


def test_total_macs_match_eager(zoo: tuple[str, Any, ir.Graph, ir.Graph, dict[str, Any]]) -> None:
    _, _, graph, eager, _ = zoo
    assert graph.totals.macs > 0
    assert graph.totals.macs == eager.totals.macs
    assert graph.totals.macs == sum(n.macs for n in graph.nodes)
    assert graph.totals.params == eager.totals.params


def test_model_left_unchanged(zoo: tuple[str, Any, ir.Graph, ir.Graph, dict[str, Any]]) -> None:
    _, model, _, _, before = zoo
    _assert_unchanged(model, before)


def test_resnet_residual_add_has_two_inputs() -> None:
    model = torchvision.models.resnet18().eval()
    graph = record_jit(model, parse_inputs(model, input_size=(1, 3, 64, 64)))
    preds = graph.predecessors()
    assert set(preds["layer1.0:add"]) == {"layer1.0.bn2:batch_norm", "maxpool:max_pool2d"}
    assert set(preds["layer2.0:add"]) == {"layer2.0.bn2:batch_norm",
                                          "layer2.0.downsample.1:batch_norm"}
    # BasicBlock calls its relu twice: two calls, each owning its own op
    assert preds["layer1.0.relu:relu"] == ["layer1.0.bn1:batch_norm"]
    assert preds["layer1.0.relu@2:relu"] == ["layer1.0:add"]
    call = next(c for c in graph.calls if c.id == "layer1.0.relu@2")
    assert (call.path, call.parent) == ("layer1.0.relu", "layer1.0")
    assert graph.module("layer1.0.relu").calls == 2  # type: ignore[union-attr]


def test_train_mode_keeps_buffers_rng_and_flags() -> None:
    model = torchvision.models.resnet18()
    model.fc = nn.Sequential(nn.Dropout(0.5), nn.Linear(512, 10))
    model.train()
    before = _snapshot(model)
    rng = torch.get_rng_state()
    graph = record_jit(model, parse_inputs(model, input_size=(2, 3, 64, 64)))
    _assert_unchanged(model, before)  # batch-norm statistics were updated, then put back
    assert torch.equal(rng, torch.get_rng_state())
    assert model.training
    bn = graph.node("bn1:batch_norm")
    assert bn.attr("arg5") is True  # traced in training mode


class _Pass(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: Any, y: Any) -> Any:
        return x, self.lin(y)


class _Toy(nn.Module):
    """Back-to-back calls, an Identity, a pass-through, shape maths, list plumbing."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.id = nn.Identity()
        self.p = _Pass()
        self.seq = nn.Sequential()
        self.lin = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(6)

    def forward(self, x: Any, mask: Any = None, flag: bool = False) -> Any:
        x = self.relu(self.relu(x.flatten(1)))
        x = self.id(x)
        a, b = self.p(x, x)
        c = self.seq(b.view(x.size(0) * 2 // 2, -1))
        p, q = torch.cat([a, c, self.lin(self.lin(a))], 1).chunk(2, dim=1)
        s = p + q if mask is None else p + q + mask
        out = self.bn(s)
        return {"out": out, "a": a} if flag else out


def test_toy_matches_eager_exactly() -> None:
    model = _Toy().eval()
    inputs = parse_inputs(model, input_size=(2, 4))
    graph = record_jit(model, inputs)
    eager = record(model, inputs, tracer="meta")
    ir.validate(graph)
    assert [n.id for n in graph.nodes] == [n.id for n in eager.nodes]
    assert {(e.src, e.dst) for e in graph.edges} == {(e.src, e.dst) for e in eager.edges}
    assert graph.calls == eager.calls
    ids = [c.id for c in graph.calls]
    assert ids == ["relu", "relu@2", "id", "p", "p.lin", "seq", "lin", "lin@2", "bn"]
    preds = graph.predecessors()
    assert preds["relu@2:relu"] == ["relu:relu"]
    assert preds["id:identity"] == ["relu@2:relu"]  # Identity: no aten op, still a node
    assert preds["p.lin:linear"] == ["id:identity"]
    assert preds["seq:identity"] == [":view"]  # x.size(0) * 2 // 2 is no node ...
    assert graph.node(":view").attr("arg1") == (2, -1)  # ... but its value is known
    assert set(preds[":cat"]) == {"id:identity", "seq:identity", "lin@2:linear"}
    assert preds[":add"] == [":chunk"]
    assert not {n.op for n in graph.nodes} & {"mul", "floor_divide", "size", "Int"}


def test_kwargs_extra_and_dict_output() -> None:
    model = _Toy().eval()
    inputs = parse_inputs(model, input_data={"x": torch.randn(2, 4)},
                          kwargs={"mask": torch.randn(1, 6), "flag": True})
    graph = record_jit(model, inputs)
    ir.validate(graph)
    assert [n.id for n in graph.nodes if n.kind == "input"] == ["input.x", "input.mask"]
    assert [n.id for n in graph.nodes if n.kind == "output"] == ["output.out", "output.a"]
    preds = graph.predecessors()
    assert preds["output.a"] == ["id:identity"]
    assert "input.mask" in preds[":add#2"]
    eager = record(model, inputs, tracer="meta")
    assert {(e.src, e.dst) for e in graph.edges} == {(e.src, e.dst) for e in eager.edges}


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: Any) -> Any:
        y = self.conv(x)
        if y.sum() > -1e9:  # a TracerWarning in torch.jit.trace
            y = y.relu()
        return y


def test_no_tracer_or_deprecation_warning_escapes() -> None:
    model = _Branchy().eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = record_jit(model, parse_inputs(model, input_size=(1, 3, 8, 8)))
    assert [n.id for n in graph.nodes] == ["input.x", "conv:convolution", ":relu", "output"]
    noisy = (DeprecationWarning, FutureWarning, torch.jit.TracerWarning)
    assert [str(w.message) for w in caught if issubclass(w.category, noisy)] == []
    # and the filters did not leak out of the call
    with pytest.warns(FutureWarning):
        warnings.warn("`torch.jit.trace` is deprecated", FutureWarning, stacklevel=1)


class _BadOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x: Any) -> Any:
        y = self.bn(x)
        return {"y": y, "pair": (y, y)}  # jit cannot type a dict of mixed values


def test_trace_failure_raises_trace_error_and_restores() -> None:
    model = _BadOutput().train()
    before = _snapshot(model)
    with pytest.raises(TraceError, match=r"^jit trace failed on the model's output") as info:
        record_jit(model, parse_inputs(model, input_size=(3, 4)))
    assert isinstance(info.value, RuntimeError)
    assert info.value.__cause__ is not None
    assert "tracer='meta'" in str(info.value)
    _assert_unchanged(model, before)


def test_failure_inside_a_module_names_it() -> None:
    model = nn.Sequential(nn.Linear(4, 5), nn.Linear(4, 2))
    with pytest.raises(TraceError, match=r"jit trace failed in 1 \(input 1×5\): RuntimeError"):
        record_jit(model, parse_inputs(model, input_size=(1, 4)))
    _assert_unchanged(model, _snapshot(model))


def test_meta_model_is_refused() -> None:
    model = nn.Linear(4, 2, device="meta")
    with pytest.raises(TraceError, match="meta device"):
        record_jit(model, parse_inputs(model, input_size=(1, 4)))


def _tiny(name: str) -> Any:
    transformers = importlib.import_module("transformers")
    if name == "bert":
        config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=64,
                                         vocab_size=100)
    else:
        config = transformers.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=100,
                                         n_positions=64, bos_token_id=0, eos_token_id=0)
    return transformers.AutoModel.from_config(config).eval()


def test_transformers_bert_matches_eager() -> None:
    model = _tiny("bert")
    inputs = parse_inputs(model, input_data={"input_ids": torch.zeros(1, 8, dtype=torch.long)})
    graph = record_jit(model, inputs)
    eager = record(model, inputs, tracer="meta")
    ir.validate(graph)
    outputs = [n.id for n in graph.nodes if n.kind == "output"]
    assert outputs == ["output.last_hidden_state", "output.pooler_output"]
    assert outputs == [n.id for n in eager.nodes if n.kind == "output"]
    assert _owners(graph) == _owners(eager)
    assert graph.calls == eager.calls
    assert graph.totals.macs == eager.totals.macs > 0


def test_transformers_cache_output_fails_with_hint() -> None:
    model = _tiny("gpt2")
    before = _snapshot(model)
    ids = {"input_ids": torch.zeros(1, 8, dtype=torch.long)}
    with pytest.raises(TraceError, match=r"^jit trace failed on the model's output.*"
                                         r"tracer='meta'"):
        record_jit(model, parse_inputs(model, input_data=ids))
    _assert_unchanged(model, before)
    graph = record_jit(model, parse_inputs(model, input_data=ids, kwargs={"use_cache": False}))
    assert graph.totals.macs == record(model, parse_inputs(model, input_data=ids, kwargs={
        "use_cache": False}), tracer="eager").totals.macs > 0
