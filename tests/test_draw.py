"""End-to-end: real torchvision models drawn to DOT, SVG, PNG and PDF."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
import torchvision

import drawnet
from drawnet.api import layer_graph
from tests.fingerprint import assert_same, fingerprint
from tests.models import Branchy, TinyResNet, TwoInputs, WeightBranchy


def svg_text(svg: bytes) -> str:
    """All text content of an SVG document (it must be well-formed XML)."""
    root = ET.fromstring(svg)
    return " ".join(t for el in root.iter() for t in (el.text,) if t)


@pytest.fixture(scope="module")
def resnet18() -> torch.nn.Module:
    return torchvision.models.resnet18()


@pytest.fixture(scope="module")
def resnet18_svg(resnet18: torch.nn.Module) -> bytes:
    return drawnet.draw_model(resnet18, [1, 3, 224, 224], orientation="LR").pipe("svg")


def test_resnet18_svg_names_layers_and_shapes(resnet18_svg: bytes) -> None:
    text = svg_text(resnet18_svg)
    for name in ("conv1", "layer1", "layer2", "layer3", "layer4", "fc"):
        assert name in text, name
    assert "1×64×112×112" in text
    assert "1×64×56×56" in text
    assert "1×1000" in text


def test_resnet18_boxes_follow_the_model(resnet18: torch.nn.Module) -> None:
    g = layer_graph(drawnet.trace_model(resnet18, [1, 3, 224, 224]))
    ids = [n.id for n in g.nodes]
    assert ids[0] == "input.x"
    assert ids[-1] == "output"
    assert ids.index("conv1") < ids.index("layer1.0.conv1") < ids.index("fc")
    # No parameters, constants or bookkeeping ops are drawn.
    ops = {n.op for n in g.nodes if n.kind == "function"}
    assert ops <= {"add", "flatten"}, ops
    # A residual add has the block input and the block branch as predecessors.
    preds = g.predecessors()
    assert len(preds["layer2.0:add"]) == 2


@pytest.mark.parametrize("orientation", ["LR", "TB"])
def test_orientation(resnet18: torch.nn.Module, orientation: str) -> None:
    d = drawnet.draw_model(resnet18, [1, 3, 64, 64], orientation=orientation)
    assert f'rankdir="{orientation}"' in d.source
    assert d.pipe("svg").lstrip().startswith(b"<?xml")


def test_identical_calls_give_identical_dot(resnet18: torch.nn.Module) -> None:
    a = drawnet.draw_model(resnet18, [1, 3, 224, 224]).source
    b = drawnet.draw_model(torchvision.models.resnet18(), [1, 3, 224, 224]).source
    assert a == b


@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf", ".dot"])
def test_save_every_format(tmp_path: Path, suffix: str) -> None:
    d = drawnet.draw_model(TinyResNet(), [1, 3, 32, 32])
    path = d.save(tmp_path / f"tiny{suffix}")
    data = path.read_bytes()
    magic = {".svg": b"<?xml", ".png": b"\x89PNG", ".pdf": b"%PDF", ".dot": b"digraph"}[suffix]
    assert data.startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"tiny{suffix}"]


def test_save_rejects_unknown_suffix(tmp_path: Path) -> None:
    d = drawnet.draw_model(TinyResNet(), [1, 3, 32, 32])
    with pytest.raises(ValueError, match="unknown format: 'jpg'"):
        d.save(tmp_path / "x.jpg")


def test_jupyter_repr_is_svg() -> None:
    bundle = drawnet.draw_model(TinyResNet(), [1, 3, 32, 32])._repr_mimebundle_()
    svg = bundle["image/svg+xml"]
    assert isinstance(svg, str)
    assert "stem.0" in svg_text(svg.encode())


@pytest.mark.parametrize("name", ["alexnet", "vgg11", "mobilenet_v2", "resnet18"])
def test_torchvision_models_draw_every_leaf(name: str) -> None:
    model = getattr(torchvision.models, name)()
    d = drawnet.draw_model(model, [1, 3, 224, 224], depth=None, collapse_repeats=False,
                           hide=())
    # With nothing hidden or collapsed, every leaf module that ran is drawn: as its own box
    # or folded into one (Conv·BN·ReLU).
    drawn = {op_id.split(":", 1)[0].split("@", 1)[0]
             for n in d.graph.nodes if n.kind == "module" for op_id in n.folded}
    for path, mod in model.named_modules():
        if path and next(iter(mod.children()), None) is None:
            assert path in drawn, path
    assert svg_text(d.pipe("svg"))


def test_model_left_untouched_after_success() -> None:
    model = torchvision.models.resnet18()
    model.train()
    model.layer1.register_forward_hook(lambda *a: None)
    model.fc.weight.requires_grad_(False)
    before = fingerprint(model)
    drawnet.draw_model(model, [2, 3, 64, 64], tracer="eager", mode="train")
    drawnet.draw_model(model, [2, 3, 64, 64])
    assert_same(before, fingerprint(model))


def test_model_left_untouched_after_failure() -> None:
    model = torchvision.models.resnet18()
    before = fingerprint(model)
    with pytest.raises(drawnet.TraceError, match=r"conv1 · Conv2d"):
        drawnet.draw_model(model, [1, 3, 224])
    assert_same(before, fingerprint(model))


def test_branch_on_input_values_is_followed_without_compute() -> None:
    d = drawnet.draw_model(Branchy(), [1, 4], tracer="meta")
    real = drawnet.draw_model(Branchy(), [1, 4], tracer="eager")
    taken = {n.module_path for n in d.graph.nodes if n.kind == "module"}
    assert taken == {n.module_path for n in real.graph.nodes if n.kind == "module"}
    assert len(taken) == 1
    assert any(n.startswith("forward read 1 tensor value") for n in d.notes), d.notes


def test_tracer_fallback_for_weight_dependent_branch() -> None:
    with pytest.raises(drawnet.TraceError, match="tracer='eager'"):
        drawnet.draw_model(WeightBranchy(), [1, 4], tracer="meta")
    d = drawnet.draw_model(WeightBranchy(), [1, 4])
    assert d.tracer == "eager"
    assert {n.module_path for n in d.graph.nodes if n.kind == "module"} <= {"a", "b"}


def test_two_inputs_and_dict_output() -> None:
    d = drawnet.draw_model(TwoInputs(), [[1, 12], [1, 4]])
    ids = {n.id for n in d.graph.nodes}
    assert {"input.image", "input.meta", "output.logits", "output.features"} <= ids
    preds = d.graph.predecessors()
    assert sorted(preds[":cat"]) == ["image", "meta"]


def test_input_data_and_kwargs() -> None:
    x = torch.zeros(1, 12)
    d = drawnet.draw_model(TwoInputs(), input_data=(x,), kwargs={"meta": torch.zeros(1, 4)})
    assert {"input.image", "input.meta"} <= {n.id for n in d.graph.nodes}


def test_bad_options_are_value_errors() -> None:
    expected = r"unknown orientation: 'XY' \(must be one of 'LR', 'TB'\)"
    with pytest.raises(ValueError, match=expected):
        drawnet.draw_model(TinyResNet(), [1, 3, 32, 32], orientation="XY")
    with pytest.raises(drawnet.OptionError, match="unknown tracer"):
        drawnet.draw_model(TinyResNet(), [1, 3, 32, 32], tracer="onnx")
    with pytest.raises(TypeError, match="pass an instance"):
        drawnet.draw_model(TinyResNet, [1, 3, 32, 32])
    with pytest.raises(ValueError, match="must be positive"):
        drawnet.draw_model(TinyResNet(), [1, 3, 0, 32])
