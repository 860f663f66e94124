"""Draw the sample gallery: eight models, both orientations, two depths.

Run from the repository root (no system Graphviz needed):

    python samples/gallery.py            # writes samples/gallery/*.png and samples/*.svg

Pictures are rendered by the pip-installed engine (graphviz-pure) even where a system
Graphviz exists, so they come out the same everywhere.

Every model is randomly initialised (a diagram needs no weights). The tutorial models
(resnet18, alexnet) and one transformer (BERT) are also written as SVG and PNG at the
top of samples/.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

import drawnet

HERE = Path(__file__).resolve().parent
GALLERY = HERE / "gallery"
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


def bert() -> nn.Module:
    from transformers import BertConfig, BertModel

    return BertModel(BertConfig())


def gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2Model

    return GPT2Model(GPT2Config())


IMAGE = {"input_size": [1, 3, 224, 224]}
TOKENS = {"input_size": [1, 128], "dtypes": "long"}

# name: (factory, inputs, overview options)
MODELS: dict[str, tuple[Callable[[], nn.Module], dict[str, Any], dict[str, Any]]] = {
    "alexnet": (torchvision.models.alexnet, IMAGE, {"depth": 1}),
    "resnet18": (torchvision.models.resnet18, IMAGE, {"depth": 1}),
    # depth 3 opens the dense blocks: every layer takes every earlier output, an honest
    # but unreadable picture; depth 1 is the other readable view.
    "densenet121": (torchvision.models.densenet121, IMAGE, {"depth": 1}),
    "mobilenet_v2": (torchvision.models.mobilenet_v2, IMAGE, {"depth": None}),
    "vit_b_16": (torchvision.models.vit_b_16, IMAGE, {"depth": 4, "collapse_repeats": True}),
    "bert": (bert, TOKENS, {"depth": None, "collapse_repeats": True}),
    "gpt2": (gpt2, TOKENS, {"depth": 3, "collapse_repeats": True}),
    "text_lstm": (TextLSTM, {"input_size": [1, 50], "dtypes": "long"}, {"show_params": True}),
}

TOP_LEVEL = {"resnet18": "LR", "alexnet": "LR", "bert": "TB"}


def _tag(options: dict[str, Any]) -> str:
    """A file-name tag for the second variant, e.g. ``depth1`` or ``full_collapsed``."""
    depth = options.get("depth", "auto")
    parts = ["full" if depth is None else f"depth{depth}"] if "depth" in options else []
    parts += [k.replace("collapse_repeats", "collapsed").replace("show_params", "params")
              for k, v in options.items() if k != "depth" and v is True]
    return "_".join(parts)


def main(names: list[str]) -> None:
    GALLERY.mkdir(exist_ok=True)
    for name in names or list(MODELS):
        factory, inputs, overview = MODELS[name]
        model = factory()
        for orientation in ("LR", "TB"):
            for tag, options in (("default", {}), (_tag(overview), overview)):
                d = drawnet.draw_model(model, **inputs, orientation=orientation, engine=ENGINE,
                                       **options)
                path = GALLERY / f"{name}_{tag}_{orientation}.png"
                d.save(path, dpi=DPI)
                print(f"{path.relative_to(HERE.parent)}: {d}")
        if name in TOP_LEVEL:
            d = drawnet.draw_model(model, **inputs, orientation=TOP_LEVEL[name], engine=ENGINE)
            for suffix in (".svg", ".png"):
                d.save(HERE / f"{name}{suffix}")


if __name__ == "__main__":
    main(sys.argv[1:])
