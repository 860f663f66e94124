"""The default picture of the models people draw most, against what a paper figure shows.

For each model, in both orientations, the default ``draw_model`` must: draw at most 45
boxes; mark every run of three or more identical blocks ×N with the right N; open the
repeated block down to its named layers; draw no Dropout or Identity; give no node more
than 6 incoming edges; and fit a 1000 px notebook column with its smallest text at 7 px
or more, at most 4000 px tall. ``fit='page'`` and ``fit='column'`` must give a true-size
picture within 468 × 648 pt (text >= 6 pt) and 240 pt wide (text >= 5 pt).

The expected runs and names come from the model itself (its modules' ``repr`` and
names), not from drawnet. Models are built on the meta device: no weights are allocated.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
import torch
import torchvision
import transformers as T
from torch import nn

import drawnet

TOKENS = {"input_ids": torch.zeros(1, 128, dtype=torch.long, device="meta")}
IMAGE = {"input_size": [1, 3, 224, 224]}


def _tokens() -> dict[str, Any]:
    return {"input_data": TOKENS}


MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[], dict[str, Any]]]] = {
    "vit_b_16": (torchvision.models.vit_b_16, lambda: IMAGE),
    "bert-base": (lambda: T.BertModel(T.BertConfig()), _tokens),
    "gpt2-lm-head": (lambda: T.GPT2LMHeadModel(T.GPT2Config()), _tokens),
    "llama-8-layers": (lambda: T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=8)), _tokens),
    "mobilenet_v2": (torchvision.models.mobilenet_v2, lambda: IMAGE),
    "efficientnet_b0": (torchvision.models.efficientnet_b0, lambda: IMAGE),
    "swin_t": (torchvision.models.swin_t, lambda: IMAGE),
    "resnet50": (torchvision.models.resnet50, lambda: IMAGE),
}
TRANSFORMERS = ("vit_b_16", "bert-base", "gpt2-lm-head", "llama-8-layers")


@cache
def model(name: str) -> nn.Module:
    build, _ = MODELS[name]
    with torch.device("meta"):
        return build().eval()


@cache
def diagram(name: str, orientation: str, fit: str = "notebook") -> tuple[drawnet.Diagram, bytes]:
    d = drawnet.draw_model(model(name), **MODELS[name][1](), orientation=orientation, fit=fit)
    return d, d.pipe("svg")


def svg_facts(svg: bytes) -> tuple[float, float, float, str]:
    """(width pt, height pt, smallest text pt as shown, all text) of an SVG."""
    root = ET.fromstring(svg)
    w = float(re.sub(r"[a-z]+", "", root.attrib["width"]))
    h = float(re.sub(r"[a-z]+", "", root.attrib["height"]))
    view = [float(v) for v in root.attrib["viewBox"].split()]
    unit = w / view[2]  # points per viewBox unit (below 1 when scaled to fit)
    sizes = [float(e.attrib["font-size"]) for e in root.iter()
             if e.attrib.get("font-size") and (e.text or "").strip()]
    text = " ".join(t for e in root.iter() for t in (e.text,) if t)
    return w, h, min(sizes) * unit, text


def identical_runs(root: nn.Module) -> Iterator[tuple[str, list[str]]]:
    """Runs of three or more consecutive sibling modules with the same ``repr`` (dropout
    rates aside, which differ per block in EfficientNet but draw nothing)."""
    for path, parent in root.named_modules():
        kids = list(parent.named_children())
        i = 0
        while i < len(kids):
            j = i + 1
            key = re.sub(r"p=[\d.e-]+", "", repr(kids[i][1]))
            while j < len(kids) and re.sub(r"p=[\d.e-]+", "", repr(kids[j][1])) == key:
                j += 1
            if j - i >= 3 and next(kids[i][1].children(), None) is not None:
                yield path, [f"{path}.{k}" if path else k for k, _ in kids[i:j]]
            i = j


@pytest.mark.parametrize("orientation", ["LR", "TB"])
@pytest.mark.parametrize("name", list(MODELS))
def test_default_picture(name: str, orientation: str) -> None:
    d, svg = diagram(name, orientation)
    g = d.graph
    assert len(g.nodes) <= 45, len(g.nodes)
    assert not [n.id for n in g.nodes if n.class_name in ("Dropout", "Identity")]
    indegree: dict[str, int] = {}
    for e in g.edges:
        indegree[e.dst] = indegree.get(e.dst, 0) + 1
    assert max(indegree.values()) <= 6
    width, height, smallest, text = svg_facts(svg)
    shrink = min(1.0, 750 / width)  # a 1000 px column is 750 pt
    assert smallest * shrink >= 7 * 72 / 96, (width, smallest)
    assert height * shrink <= 4000 * 72 / 96
    # every run of identical blocks is drawn once, marked with its length
    runs = list(identical_runs(model(name)))
    repeats = {c.path: c.repeat for c in g.calls if c.repeat > 1}
    repeats |= {n.module_path: n.repeat for n in g.nodes if n.repeat > 1}
    for _, paths in runs:
        assert repeats.get(paths[0]) == len(paths), (paths[0], repeats)
        assert f"×{len(paths)}" in text
    if name in TRANSFORMERS:
        assert runs, "a transformer repeats its block"


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_the_repeated_block_shows_its_layers_by_name(name: str) -> None:
    d, _ = diagram(name, "TB")
    _, paths = max(identical_runs(model(name)), key=lambda run: len(run[1]))
    block = model(name).get_submodule(paths[0])
    drawn = {i.split(":", 1)[0] for n in d.graph.nodes for i in (n.folded or (n.id,))}
    drawn |= {n.module_path for n in d.graph.nodes}
    # every projection and MLP layer of the block (its Linear-like leaves) is drawn
    layers = [f"{paths[0]}.{p}" for p, m in block.named_modules()
              if p and not any(m.children()) and type(m).__name__ in (
                  "Linear", "Conv1D", "NonDynamicallyQuantizableLinear")]
    assert layers
    opaque = {n.module_path for n in d.graph.nodes if n.kind == "module"}
    for path in layers:
        assert path in drawn or any(path.startswith(o + ".") for o in opaque), path


@pytest.mark.parametrize(("fit", "max_width", "max_height", "min_text"),
                         [("page", 468, 648, 6), ("column", 240, 648, 5)])
@pytest.mark.parametrize("name", ["vit_b_16", "bert-base", "resnet50"])
def test_fit_a_paper(name: str, fit: str, max_width: float, max_height: float,
                     min_text: float) -> None:
    d = drawnet.draw_model(model(name), **MODELS[name][1](), fit=fit, theme="print")
    width, height, smallest, _ = svg_facts(d.pipe("svg"))
    assert width <= max_width + 0.5, (width, height)
    assert height <= max_height + 0.5, (width, height)
    assert smallest >= min_text - 0.05, smallest
    assert any(n.startswith(f"fit={fit!r}") for n in d.notes)


def test_everything_hidden_comes_back() -> None:
    gpt2 = model("gpt2-lm-head")
    d, _ = diagram("gpt2-lm-head", "LR")
    assert "output.cache" not in {n.id for n in d.graph.nodes}
    assert any("cache output" in n and "Dropout" in n for n in d.notes)
    full = drawnet.draw_model(gpt2, input_data=TOKENS, hide=(), collapse_repeats=False,
                              depth=None)
    classes = {n.class_name for n in full.graph.nodes}
    assert "Dropout" in classes
    assert "output.cache" in {n.id for n in full.graph.nodes}
    blocks = {n.module_path.split(".")[2] for n in full.graph.nodes
              if n.module_path.startswith("transformer.h.")}
    assert len(blocks) == gpt2.config.n_layer  # every copy, not one marked ×12
