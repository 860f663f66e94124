"""What the picture shows: folding, depth, clusters, repeats, themes, page shape."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import torch
import torchvision
from transformers import BertConfig, BertModel

import drawnet
from drawnet import ir
from drawnet.passes.fold import CHAINS, Chain, fold_chains
from tests.models import residual_mlp_stack


def boxes(d: drawnet.Diagram) -> list[ir.Node]:
    return [n for n in d.graph.nodes if n.kind in ("module", "block")]


def svg_size(svg: bytes) -> tuple[float, float]:
    root = ET.fromstring(svg)
    return (float(re.sub(r"[a-z]+", "", root.attrib["width"])),
            float(re.sub(r"[a-z]+", "", root.attrib["height"])))


@pytest.fixture(scope="module")
def resnet18() -> torch.nn.Module:
    return torchvision.models.resnet18()


def test_resnet18_default_box_count(resnet18: torch.nn.Module) -> None:
    d = drawnet.draw_model(resnet18, [1, 3, 224, 224])
    assert 12 <= len(boxes(d)) <= 45
    stem = d.graph.node("conv1")
    assert stem.attr("fused") == "BatchNorm2d,ReLU"
    assert "Conv2d · 7×7 /2, 3→64 · BN · ReLU" in d.source


def test_resnet18_depth_1(resnet18: torch.nn.Module) -> None:
    d = drawnet.draw_model(resnet18, [1, 3, 224, 224], depth=1)
    names = [n.id for n in boxes(d)]
    assert 6 <= len(names) <= 14
    assert {"layer1", "layer2", "layer3", "layer4", "fc"} <= set(names)
    layer1 = d.graph.node("layer1")
    assert layer1.kind == "block"
    assert layer1.params == sum(p.numel() for p in resnet18.layer1.parameters())
    assert "layer1 · Sequential" not in d.source  # a box, not a cluster
    assert "subgraph cluster" not in d.source


def test_resnet18_depth_2_has_clusters(resnet18: torch.nn.Module) -> None:
    d = drawnet.draw_model(resnet18, [1, 3, 224, 224], depth=2)
    assert "subgraph cluster" in d.source
    assert "layer2.0" in {n.id for n in boxes(d)}
    assert "label=<layer2>" in d.source  # a container's frame: its path, no class name
    assert "Sequential" not in d.source


def test_no_fold_keeps_every_leaf(resnet18: torch.nn.Module) -> None:
    folded = drawnet.draw_model(resnet18, [1, 3, 224, 224], depth=None)
    unfolded = drawnet.draw_model(resnet18, [1, 3, 224, 224], depth=None, fold=False)
    assert len(boxes(unfolded)) > len(boxes(folded))
    assert "bn1" in {n.id for n in boxes(unfolded)}
    assert sum(n.macs for n in folded.graph.nodes) == sum(n.macs for n in unfolded.graph.nodes)


def test_collapse_repeated_residual_blocks() -> None:
    model = residual_mlp_stack(12)
    d = drawnet.draw_model(model, [1, 10, 32], collapse_repeats=True)
    assert len(boxes(d)) <= 8
    assert "×12" in d.source
    kept = [c for c in d.graph.calls if c.repeat > 1]
    assert [(c.path, c.repeat, c.last_path) for c in kept] == [("0", 12, "11")]
    assert "0–11 · ResidualMLP ×12" in d.source
    plain = drawnet.draw_model(model, [1, 10, 32], depth=None, collapse_repeats=False)
    assert len(boxes(plain)) == 12 * len(boxes(d))


def test_collapse_bert_layers() -> None:
    cfg = BertConfig(num_hidden_layers=12, hidden_size=64, num_attention_heads=4,
                     intermediate_size=128)
    d = drawnet.draw_model(BertModel(cfg), [1, 16], dtypes="long", collapse_repeats=True,
                           depth=3)
    assert "encoder.layer.0–11" in d.source
    assert "BertLayer" in d.source
    assert "×12" in d.source
    assert len(boxes(d)) <= 15


def test_collapse_needs_same_shapes() -> None:
    # Blocks with different widths are not the same structure.
    model = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU()),
                                torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU()))
    d = drawnet.draw_model(model, [1, 8], collapse_repeats=True)
    assert not any(c.repeat > 1 for c in d.graph.calls)


def _sample(step: object) -> str:
    """A class or op name a chain step accepts (a set's first name, or one for a pattern)."""
    if isinstance(step, re.Pattern):
        return "LayerNorm"
    return sorted(step)[0]  # type: ignore[call-overload,no-any-return]


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c.name)
def test_every_fold_rule(chain: Chain) -> None:
    t = ir.TensorMeta((1, 4))
    names = [_sample(step) for step in chain.steps]
    nodes = tuple(
        ir.Node(id=f"m{i}", kind="function" if c[:1].islower() else "module", op=c,
                class_name="" if c[:1].islower() else c, outputs=(t,), macs=i + 1)
        for i, c in enumerate(names))
    edges = tuple(ir.Edge(f"m{i}", f"m{i + 1}", t) for i in range(len(nodes) - 1))
    out = fold_chains(ir.Graph(nodes=nodes, edges=edges), (chain,))
    kept = nodes[chain.keep].id
    assert [n.id for n in out.nodes] == [kept]
    others = [n for i, n in enumerate(names) if i != chain.keep % len(names)]
    assert out.nodes[0].attr("fused" if chain.keep == 0 else "lead") == ",".join(others)
    assert out.nodes[0].macs == sum(range(1, len(names) + 1))


def test_fold_respects_single_consumer() -> None:
    t = ir.TensorMeta((1, 4))
    conv = ir.Node(id="c", kind="module", op="Conv2d", class_name="Conv2d", outputs=(t,))
    bn = ir.Node(id="b", kind="module", op="BatchNorm2d", class_name="BatchNorm2d")
    other = ir.Node(id="o", kind="function", op="add")
    g = ir.Graph(nodes=(conv, bn, other), edges=(ir.Edge("c", "b", t), ir.Edge("c", "o", t)))
    assert [n.id for n in fold_chains(g).nodes] == ["c", "b", "o"]


def test_print_theme_changes_output(resnet18: torch.nn.Module) -> None:
    a = drawnet.draw_model(resnet18, [1, 3, 64, 64]).source
    b = drawnet.draw_model(resnet18, [1, 3, 64, 64], theme="print").source
    assert a != b
    assert 'fontname="Tinos"' in b
    assert "#cfe2f3" in a
    assert "#cfe2f3" not in b


def test_custom_theme(resnet18: torch.nn.Module) -> None:
    mine = drawnet.Theme(name="mine", fontname="Courier", fills=(("conv", "#123456"),))
    src = drawnet.draw_model(resnet18, [1, 3, 64, 64], theme=mine).source
    assert 'fontname="Courier"' in src
    assert "#123456" in src


def test_legend_lists_families_present(resnet18: torch.nn.Module) -> None:
    src = drawnet.draw_model(resnet18, [1, 3, 64, 64]).source
    # the colour key is the graph's label (above the drawing, never in the flow)
    legend = next(line for line in src.splitlines() if line.lstrip().startswith("graph ["))
    for fam in ("conv", "linear", "pool"):
        assert f">{fam}<" in legend
    assert ">attention<" not in legend
    plain = drawnet.draw_model(resnet18, [1, 3, 64, 64], legend=False).source
    assert ">conv<" not in plain


def test_cost_shading_and_figures(resnet18: torch.nn.Module) -> None:
    d = drawnet.draw_model(resnet18, [1, 3, 224, 224], color_by="macs", show_params=True,
                           show_macs=True)
    # conv1 folded with bn1: 7·7·3·64 + 2·64 = 9,536 params; 118,013,952 MACs
    assert "9.54K params · 118M MACs" in d.source
    fills = set(re.findall(r'fillcolor="(#[0-9a-f]{6})"', d.source))
    assert len(fills) > 5  # a gradient, not family colours
    with pytest.raises(ValueError, match="unknown color_by"):
        drawnet.draw_model(resnet18, [1, 3, 64, 64], color_by="speed")


def test_wrap_off_gives_one_row(resnet18: torch.nn.Module) -> None:
    d = drawnet.draw_model(resnet18, [1, 3, 224, 224], wrap=False)
    assert '"%row' not in d.source
    w, h = svg_size(d.pipe("svg"))
    assert w / h > 4  # the ribbon wrapping exists to avoid


def test_automatic_depth_is_said() -> None:
    d = drawnet.draw_model(torchvision.models.resnet50(), [1, 3, 224, 224])
    assert d.graph.get_meta("depth") == "auto"
    assert any("drawn as one box each" in n for n in d.notes)
    assert "drawn as one box each" in repr(d)
    full = drawnet.draw_model(torchvision.models.resnet50(), [1, 3, 224, 224], depth=None)
    assert not any("drawn as one box" in n for n in full.notes)
    assert len(full.graph.nodes) > 45


def test_long_chains_collapse_and_say_so() -> None:
    chain = torch.nn.Sequential(*(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU())
                                  for _ in range(200)))
    d = drawnet.draw_model(chain, [1, 8])
    assert len(d.graph.nodes) <= 45
    assert "×200" in d.source
    full = drawnet.draw_model(chain, [1, 8], depth=None, wrap=False, collapse_repeats=False)
    assert len(full.graph.nodes) > 200
