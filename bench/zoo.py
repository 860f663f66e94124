"""The models the benchmark draws, and the synthetic ones of the scaling runs.

Every entry gives a fresh model (random weights, nothing downloaded) and one input spec
that drawnet, torchview and torchinfo are all called with (``input_size`` + ``dtypes``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spec:
    name: str
    build: Callable[[], Any]
    input_size: tuple[int, ...]
    dtype: str = "float"  # "float" or "long" (token ids)

    @property
    def drawnet_dtypes(self) -> str | None:
        return "long" if self.dtype == "long" else None

    def peer_dtypes(self) -> list[Any]:
        import torch

        return [torch.long if self.dtype == "long" else torch.float]


def _torchvision(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import torchvision

        return getattr(torchvision.models, name)(weights=None).eval()

    return build


def _gpt2() -> Any:
    from transformers import GPT2Config, GPT2Model

    return GPT2Model(GPT2Config()).eval()  # GPT-2 small: 12 layers, 124 M parameters


IMAGE = (1, 3, 224, 224)
MODELS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("resnet18", _torchvision("resnet18"), IMAGE),
        Spec("resnet50", _torchvision("resnet50"), IMAGE),
        Spec("vit_b_16", _torchvision("vit_b_16"), IMAGE),
        Spec("densenet121", _torchvision("densenet121"), IMAGE),
        Spec("convnext_tiny", _torchvision("convnext_tiny"), IMAGE),
        Spec("gpt2", _gpt2, (1, 128), "long"),
    )
}

#: The models the targets of the issue are checked on.
TARGET_MODELS = ("resnet50", "vit_b_16", "densenet121")


def chain(n: int, width: int = 64) -> Any:
    """``n`` blocks of Linear+ReLU, each block its own ``nn.Sequential`` (input [1, width])."""
    from torch import nn

    return nn.Sequential(
        *[nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(n)]
    ).eval()


def gpt2_meta(n_layer: int) -> Any:
    """A GPT-2 small config with ``n_layer`` blocks, built on the meta device (no memory)."""
    import torch
    from transformers import GPT2Config, GPT2Model

    with torch.device("meta"):
        return GPT2Model(GPT2Config(n_layer=n_layer)).eval()


def size_of(model: Any) -> tuple[int, int]:
    """(number of modules, number of parameters)."""
    return sum(1 for _ in model.modules()), sum(p.numel() for p in model.parameters())
