"""The model zoo: real torchvision, torch.nn and transformers models, drawn and summarised.

Every torchvision classification model is in the zoo; one per family runs by default,
the rest under ``-m slow``. Models are built on the meta device where their builder
allows it (the weights are never allocated), so even ``vit_h_14`` or ``regnet_y_128gf``
costs seconds. Each must draw and summarise with ``tracer='auto'`` and come back
untouched; on the models every tracer handles, the layer-level diagrams of all tracers
must agree.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

import drawnet
from drawnet import ir
from drawnet.api import layer_graph
from drawnet.trace.inputs import materialize, parse_inputs
from tests.fingerprint import assert_same_modules, fingerprint, no_meta_tensors
from tests.test_inputs_outputs import assert_untouched

transformers = importlib.import_module("transformers")


@dataclass(frozen=True)
class Case:
    """How to build one zoo model and feed it; ``outputs`` are the expected output ids."""

    build: Callable[[], nn.Module]
    inputs: dict[str, Any] = field(default_factory=lambda: {"input_size": [1, 3, 224, 224]})
    outputs: tuple[str, ...] = ("output",)
    slow: bool = False
    on_meta: bool = True  # build under torch.device("meta") (falls back to real weights)


# one of each torchvision family by default; the rest are slow
DEFAULT_VISION = frozenset({
    "alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "efficientnet_v2_s",
    "googlenet", "inception_v3", "maxvit_t", "mnasnet0_5", "mobilenet_v2",
    "mobilenet_v3_small", "regnet_x_400mf", "resnet18", "resnext50_32x4d",
    "shufflenet_v2_x0_5", "squeezenet1_0", "swin_t", "vgg11_bn", "vit_b_16",
    "wide_resnet50_2",
})
SIZES = {"inception_v3": 299}


def _vision(name: str) -> Case:
    size = SIZES.get(name, 224)
    return Case(build=lambda: torchvision.models.get_model(name),
                inputs={"input_size": [1, 3, size, size]}, slow=name not in DEFAULT_VISION)


def _tiny(kind: str) -> nn.Module:
    t = transformers
    if kind == "bert":
        return t.BertModel(t.BertConfig(hidden_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, intermediate_size=64,
                                        vocab_size=100))
    if kind == "gpt2":
        return t.GPT2LMHeadModel(t.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=100,
                                              n_positions=64, bos_token_id=0, eos_token_id=0))
    if kind == "t5":
        return t.T5Model(t.T5Config(d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16,
                                    vocab_size=100, decoder_start_token_id=0))
    if kind == "llama":
        return t.LlamaForCausalLM(t.LlamaConfig(hidden_size=32, intermediate_size=64,
                                                num_hidden_layers=2, num_attention_heads=4,
                                                num_key_value_heads=2, vocab_size=100))
    return t.ViTModel(t.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, image_size=32, patch_size=8))


TOKENS = {"input_size": [1, 8], "dtypes": "long"}
ZOO: dict[str, Case] = {
    **{name: _vision(name) for name in torchvision.models.list_models(module=torchvision.models)},
    "fcn_resnet50": Case(
        lambda: torchvision.models.segmentation.fcn_resnet50(weights_backbone=None,
                                                             aux_loss=True),
        {"input_size": [1, 3, 64, 64]}, ("output.out", "output.aux")),
    "lraspp_mobilenet_v3_large": Case(
        lambda: torchvision.models.segmentation.lraspp_mobilenet_v3_large(
            weights_backbone=None), {"input_size": [1, 3, 64, 64]}, ("output.out",), slow=True),
    "r3d_18": Case(torchvision.models.video.r3d_18, {"input_size": [1, 3, 8, 64, 64]}),
    "mvit_v2_s": Case(torchvision.models.video.mvit_v2_s, {"input_size": [1, 3, 16, 224, 224]},
                      slow=True),
    "s3d": Case(torchvision.models.video.s3d, {"input_size": [1, 3, 16, 224, 224]}, slow=True),
    "lstm": Case(lambda: nn.LSTM(8, 16, num_layers=2, batch_first=True),
                 {"input_size": [2, 5, 8]}, ("output.0", "output.1.0", "output.1.1")),
    "gru": Case(lambda: nn.GRU(8, 16, bidirectional=True), {"input_size": [5, 2, 8]},
                ("output.0", "output.1")),
    "transformer": Case(
        lambda: nn.Transformer(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                               dim_feedforward=32, batch_first=True),
        {"input_size": [[2, 5, 16], [2, 3, 16]]}),
    "multihead_attention": Case(lambda: nn.MultiheadAttention(16, 2, batch_first=True),
                                {"input_size": [[2, 5, 16], [2, 7, 16], [2, 7, 16]]},
                                ("output.0", "output.1")),
    "bert": Case(lambda: _tiny("bert"), TOKENS,
                 ("output.last_hidden_state", "output.pooler_output")),
    "gpt2": Case(lambda: _tiny("gpt2"), TOKENS, ("output.logits", "output.cache")),
    "t5": Case(lambda: _tiny("t5"),
               {"input_size": {"input_ids": [1, 8], "decoder_input_ids": [1, 4]},
                "dtypes": "long"},
               ("output.last_hidden_state", "output.cache",
                "output.encoder_last_hidden_state")),
    "llama": Case(lambda: _tiny("llama"), TOKENS, ("output.logits", "output.cache")),
    "vit": Case(lambda: _tiny("vit"), {"input_size": [1, 3, 32, 32]},
                ("output.last_hidden_state", "output.pooler_output")),
}


def _build(case: Case) -> nn.Module:
    torch.manual_seed(0)
    if case.on_meta:
        try:
            with torch.device("meta"):
                return case.build().eval()
        except (NotImplementedError, RuntimeError):
            pass  # e.g. RegNet computes its widths with tensors while it is built
    return case.build().eval()


def _unique_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _zoo_params() -> list[Any]:
    return [pytest.param(name, marks=pytest.mark.slow) if case.slow else name
            for name, case in ZOO.items()]


@pytest.mark.parametrize("name", _zoo_params())
def test_zoo_model_draws_and_summarises(name: str) -> None:
    case = ZOO[name]
    model = _build(case)
    before = fingerprint(model)
    d = drawnet.draw_model(model, **case.inputs)
    assert d.tracer == "meta", d.graph.meta
    ir.validate(d.graph)
    outputs = tuple(n.id for n in d.graph.nodes if n.kind == "output")
    # a KV cache is left out of the default picture, and the notes say so
    assert outputs == tuple(o for o in case.outputs if o != "output.cache")
    assert ("output.cache" in case.outputs) == any("cache output" in n for n in d.notes)
    assert [n.id for n in d.graph.nodes if n.kind == "input"]
    assert sum(1 for n in d.graph.nodes if n.kind in ("module", "block")) >= 1
    assert "digraph" in d.source
    s = drawnet.summary(model, **case.inputs)
    assert s.total_params == _unique_params(model)
    assert s.total_macs > 0
    assert str(s)
    assert_untouched(before, fingerprint(model))
    assert_same_modules(before["modules"], fingerprint(model)["modules"])
    # a plain forward still runs (on meta for a model built there), and no meta tensor
    # was left in a model with real weights
    on_meta = next(model.parameters()).device.type == "meta"
    if on_meta or _unique_params(model) < 50_000_000:  # the giant RegNets: their siblings
        args, kwargs = materialize(parse_inputs(model, **case.inputs),
                                   "meta" if on_meta else "cpu", fill=not on_meta)
        with torch.no_grad():
            model(*args, **kwargs)
    assert not no_meta_tensors(model, allowed=on_meta)


# -- tracers agree -------------------------------------------------------------------------
# models every tracer handles; real weights (eager and jit run them), small inputs
AGREE: dict[str, Case] = {
    "resnet18": Case(torchvision.models.resnet18, {"input_size": [1, 3, 64, 64]}),
    "mobilenet_v3_small": Case(torchvision.models.mobilenet_v3_small,
                               {"input_size": [1, 3, 64, 64]}),
    "efficientnet_b0": Case(torchvision.models.efficientnet_b0, {"input_size": [1, 3, 64, 64]}),
    "squeezenet1_0": Case(torchvision.models.squeezenet1_0, {"input_size": [1, 3, 64, 64]}),
    "googlenet": Case(lambda: torchvision.models.googlenet(init_weights=False,
                                                           aux_logits=False),
                      {"input_size": [1, 3, 64, 64]}),
    "bert": ZOO["bert"],
    "fcn_resnet50": ZOO["fcn_resnet50"],
}
# the same op under the Python name (meta, eager) and aten's (export, jit)
ATEN_NAMES = {"convolution": "conv2d", "upsample_bilinear2d": "interpolate",
              "upsample_nearest2d": "interpolate"}
# indexing is one getitem in Python and select/slice chains in aten: compared bypassed
INDEXING = frozenset({"getitem", "select", "slice"})


def _canon(node_id: str) -> str:
    call, _, op = node_id.partition(":")
    if not op:
        return node_id
    name, _, count = op.partition("#")
    return f"{call}:{ATEN_NAMES.get(name, name)}" + (f"#{count}" if count else "")


def _layers(graph: ir.Graph, depth: int | None) -> tuple[Any, ...]:
    """What a layer-level diagram shows: boxes with their main input and outputs, the
    ops between them, and the flow (indexing ops bypassed)."""
    lg = layer_graph(graph, depth=depth)
    gone = {n.id for n in lg.nodes if n.kind == "function" and n.op in INDEXING}
    preds = lg.predecessors()

    def sources(node_id: str) -> set[str]:
        out: set[str] = set()
        for p in preds.get(node_id, []):
            out |= sources(p) if p in gone else {_canon(p)}
        return out

    nodes = tuple(
        (_canon(n.id), n.kind, n.class_name, n.inputs[:1] if n.kind != "function" else (),
         n.outputs if n.kind != "function" else (), n.params, n.repeat)
        for n in lg.nodes if n.id not in gone)
    edges = frozenset((s, _canon(n.id)) for n in lg.nodes if n.id not in gone
                      for s in sources(n.id))
    return nodes, edges


@pytest.mark.parametrize("name", sorted(AGREE))
def test_tracers_agree_at_the_layer_level(name: str) -> None:
    case = AGREE[name]
    torch.manual_seed(0)
    model = case.build().eval()
    before = fingerprint(model)
    graphs = {tracer: drawnet.trace_model(model, **case.inputs, tracer=tracer)
              for tracer in ("meta", "export", "eager", "jit")}
    for depth in (None, 1):
        reference = _layers(graphs["meta"], depth)
        for tracer, graph in graphs.items():
            assert _layers(graph, depth) == reference, (tracer, depth)
    macs = {tracer: g.totals.macs for tracer, g in graphs.items()}
    assert len(set(macs.values())) == 1, macs
    assert_untouched(before, fingerprint(model))


# -- a 70 B-parameter Llama on the meta device ------------------------------------------------
LLAMA_70B = textwrap.dedent("""
    import resource, time
    import torch, transformers, drawnet
    with torch.device("meta"):
        config = transformers.LlamaConfig(
            hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
            num_attention_heads=64, num_key_value_heads=8, vocab_size=128256)
        model = transformers.LlamaModel(config)
    start = time.perf_counter()
    s = drawnet.summary(model, [1, 16], dtypes="long")
    d = drawnet.draw_model(model, [1, 16], dtypes="long", collapse_repeats=True)
    svg = d.pipe("svg")
    seconds = time.perf_counter() - start
    # peak RSS of this process: VmHWM (ru_maxrss would include the parent's peak at fork)
    try:
        with open("/proc/self/status") as status:
            rss = next(int(line.split()[1]) * 1024 for line in status
                       if line.startswith("VmHWM:"))
    except OSError:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    repeats = sorted(c.repeat for c in d.graph.calls if c.repeat > 1)
    print(s.total_params, d.tracer, repeats, len(svg) > 1000, round(seconds, 1), rss)
""")


@pytest.mark.slow
def test_llama_70b_on_meta_is_summarised_and_drawn_within_limits() -> None:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    run = subprocess.run([sys.executable, "-c", LLAMA_70B], capture_output=True, text=True,
                         timeout=300, env=env, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    params, tracer, repeats, svg_ok, seconds, rss = run.stdout.strip().splitlines()[-1].rsplit(
        " ", 5)
    assert f"{int(params) / 1e9:.2f}" == "69.50"  # LlamaModel: no LM head
    assert tracer == "meta"
    assert repeats == "[80]"  # the 80 decoder layers drawn once, marked ×80
    assert svg_ok == "True"
    assert float(seconds) < 120
    assert int(rss) < 4 * 2**30
