"""Draw the sample gallery: the models people draw most, default pictures in both orientations.

Run from the repository root (no system Graphviz needed):

    python samples/gallery.py            # samples/gallery/*.png, samples/README.md, top SVGs
    python samples/gallery.py bert gpt2  # only these
    python samples/gallery.py --browser  # the SVGs in Chromium with only DejaVu fonts

Pictures are rendered by the pip-installed engine (graphviz-pure) even where a system
Graphviz exists, so they come out the same everywhere, at 96 dpi (the size a notebook
shows). Every model is built on the meta device from its default configuration: a
diagram needs no weights. ``samples/gallery/before/`` keeps the default pictures of
drawnet 0.1.0 for comparison (they are not regenerated).
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

import drawnet

HERE = Path(__file__).resolve().parent
GALLERY = HERE / "gallery"
BEFORE = GALLERY / "before"
DPI = 96
ENGINE = "pure"  # the pip-installed engine, so the pictures are the same on every machine


class TextLSTM(nn.Module):
    """A small LSTM text classifier: embedding, 2-layer LSTM, linear head."""

    def __init__(self, vocab: int = 10_000, dim: int = 128, hidden: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(hidden, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(tokens))
        return self.head(self.dropout(out[:, -1]))


def _hf(kind: str) -> nn.Module:
    import transformers as t

    if kind == "bert":
        return t.BertModel(t.BertConfig())
    if kind == "gpt2":
        return t.GPT2LMHeadModel(t.GPT2Config())
    return t.LlamaForCausalLM(t.LlamaConfig(num_hidden_layers=8))


IMAGE: dict[str, Any] = {"input_size": [1, 3, 224, 224]}


def _tokens(n: int = 128) -> dict[str, Any]:
    return {"input_data": {"input_ids": torch.zeros(1, n, dtype=torch.long, device="meta")}}


# name: (title, factory, inputs)
MODELS: dict[str, tuple[str, Callable[[], nn.Module], Callable[[], dict[str, Any]]]] = {
    "gpt2": ("GPT-2 with its LM head (transformers)", lambda: _hf("gpt2"), _tokens),
    "llama": ("Llama, 8 layers (transformers)", lambda: _hf("llama"), _tokens),
    "bert": ("BERT-base (transformers)", lambda: _hf("bert"), _tokens),
    "vit_b_16": ("ViT-B/16 (torchvision)", torchvision.models.vit_b_16, lambda: IMAGE),
    "swin_t": ("Swin-T (torchvision)", torchvision.models.swin_t, lambda: IMAGE),
    "convnext_tiny": ("ConvNeXt-T (torchvision)", torchvision.models.convnext_tiny,
                      lambda: IMAGE),
    "mobilenet_v2": ("MobileNetV2 (torchvision)", torchvision.models.mobilenet_v2,
                     lambda: IMAGE),
    "efficientnet_b0": ("EfficientNet-B0 (torchvision)", torchvision.models.efficientnet_b0,
                        lambda: IMAGE),
    "resnet50": ("ResNet-50 (torchvision)", torchvision.models.resnet50, lambda: IMAGE),
    "resnet18": ("ResNet-18 (torchvision)", torchvision.models.resnet18, lambda: IMAGE),
    "alexnet": ("AlexNet (torchvision)", torchvision.models.alexnet, lambda: IMAGE),
    "text_lstm": ("A small LSTM text classifier", TextLSTM,
                  lambda: {"input_size": [1, 50], "dtypes": "long"}),
}

# pictures also written at the top of samples/, for the README
TOP_LEVEL = {"gpt2": "TB", "resnet18": "LR", "alexnet": "LR", "bert": "TB"}


def _build(factory: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"):
        return factory().eval()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _smallest_text_px(svg: bytes) -> float:
    """The smallest text in pixels once the picture is shrunk to a 1000 px column."""
    root = ET.fromstring(svg)
    width = float(re.sub(r"[a-z]+", "", root.attrib["width"]))
    view = float(root.attrib["viewBox"].split()[2])
    sizes = [float(e.attrib["font-size"]) for e in root.iter()
             if e.attrib.get("font-size") and (e.text or "").strip()]
    shrink = min(1.0, 1000 / (width * 96 / 72))
    return min(sizes) * width / view * 96 / 72 * shrink


def draw(name: str) -> list[str]:
    """Draw one model; return its README section."""
    title, factory, inputs = MODELS[name]
    model = _build(factory)
    lines = [f"## {title}", ""]
    for orientation in ("LR", "TB"):
        d = drawnet.draw_model(model, **inputs(), orientation=orientation, engine=ENGINE)
        path = GALLERY / f"{name}_{orientation}.png"
        d.save(path, dpi=DPI)
        w, h = _png_size(path)
        small = _smallest_text_px(d.pipe("svg"))
        print(f"{path.relative_to(HERE.parent)}: {w}×{h}, {d}")
        notes = "".join(f"<br>*{n}*" for n in d.notes)
        lines += [f"**{orientation}**: {w}×{h} px, {len(d.graph.nodes)} boxes, smallest text "
                  f"{small:.1f} px in a 1000 px column{notes}", "",
                  f"![{name} {orientation}](gallery/{path.name})", ""]
        if name in TOP_LEVEL and TOP_LEVEL[name] == orientation:
            for suffix in (".svg", ".png"):
                d.save(HERE / f"{name}{suffix}", dpi=DPI)
    before = BEFORE / f"{name}_LR.png"
    if before.exists():
        w, h = _png_size(before)
        lines += [f"<details><summary>Before (drawnet 0.1.0, LR, {w}×{h} px)</summary>", "",
                  f"![{name} before](gallery/before/{before.name})", "", "</details>", ""]
    return lines


HEADER = """# Gallery

The default picture of each model, `drawnet.draw_model(model, inputs, orientation=...)`
with nothing else set, rendered at 96 dpi (the size a notebook shows) by the
pip-installed engine. Made by `python samples/gallery.py`; every model is built on the
meta device from its default configuration. Under each, the picture drawnet 0.1.0 drew by
default, for comparison.

What the defaults do: a run of identical blocks is drawn once, open, in a frame marked
×N; one block of each kind is opened down to its named layers and the others are boxes
that say what they hold; Dropout, Identity, indexing and cache outputs are left out
(the notes say what); a long flow is broken into rows (LR) or columns (TB) that fit a
1000 px column with text of 7 px or more. Pictures for a paper, at true size:
[paper/](paper/README.md). The SVGs embed their fonts: here are
[GPT-2](fonts/dejavu_only_gpt2.png) and [BERT](fonts/dejavu_only_bert.png) screenshotted
in Chromium with only DejaVu fonts installed (`python samples/gallery.py --browser`).
"""


def browser_shots(names: list[str]) -> None:
    """Screenshot default SVGs in Chromium that sees only DejaVu fonts (no Helvetica, Arial
    or Liberation), to check the embedded fonts: ``samples/fonts/dejavu_only_<name>.png``."""
    import os
    import shutil
    import tempfile

    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        sys.exit("needs a Chromium on PATH (apt-get install chromium)")
    home = Path(tempfile.mkdtemp(prefix="drawnet-dejavu-"))
    config = home / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        "<fontconfig><dir>/usr/share/fonts/truetype/dejavu</dir>"
        f"<cachedir>{home / 'fc'}</cachedir>"
        '<include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>\n',
        encoding="utf-8")
    env = {"FONTCONFIG_FILE": str(config), "HOME": str(home), "PATH": os.environ["PATH"],
           "XDG_CONFIG_HOME": str(home), "XDG_CACHE_HOME": str(home)}
    (HERE / "fonts").mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, env=env, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        for name in names:
            _, factory, inputs = MODELS[name]
            orientation = TOP_LEVEL.get(name, "TB")
            d = drawnet.draw_model(_build(factory), **inputs(), orientation=orientation,
                                   engine=ENGINE)
            svg = home / f"{name}.svg"
            svg.write_bytes(d.pipe("svg"))
            width, height = (round(float(v) * 4 / 3) + 1 for v in re.findall(
                rb'(?:width|height)="([\d.]+)pt"', svg.read_bytes())[:2])
            page = browser.new_page(viewport={"width": width, "height": height})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                ("file:", "data:")) else r.abort())
            page.goto(svg.as_uri())
            out = HERE / "fonts" / f"dejavu_only_{name}.png"
            page.screenshot(path=str(out))
            print(f"{out.relative_to(HERE.parent)}")
        browser.close()


def main(names: list[str]) -> None:
    if names[:1] == ["--browser"]:
        browser_shots(names[1:] or ["gpt2", "bert"])
        return
    GALLERY.mkdir(exist_ok=True)
    sections: list[str] = [HEADER]
    for name in names or list(MODELS):
        sections.extend(draw(name))
    if not names:
        (HERE / "README.md").write_text("\n".join(sections).rstrip() + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
