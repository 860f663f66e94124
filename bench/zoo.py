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
    data: Callable[[], dict[str, Any]] | None = None  # keyword tensors instead of a size

    @property
    def drawnet_dtypes(self) -> str | None:
        return "long" if self.dtype == "long" else None

    def peer_dtypes(self) -> list[Any]:
        import torch

        return [torch.long if self.dtype == "long" else torch.float]

    def drawnet_inputs(self) -> dict[str, Any]:
        """Keyword arguments giving drawnet this spec's inputs."""
        if self.data is not None:
            return {"input_data": self.data()}
        return {"input_size": list(self.input_size), "dtypes": self.drawnet_dtypes}

    def torchview_inputs(self) -> dict[str, Any]:
        if self.data is not None:
            return {"input_data": self.data()}
        return {"input_size": [tuple(self.input_size)], "dtypes": self.peer_dtypes()}

    def torchinfo_inputs(self) -> dict[str, Any]:
        if self.data is not None:
            return {"input_data": self.data()}
        return {"input_size": list(self.input_size), "dtypes": self.peer_dtypes()}


def _torchvision(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import torchvision

        return getattr(torchvision.models, name)(weights=None).eval()

    return build


def _gpt2() -> Any:
    from transformers import GPT2Config, GPT2Model

    return GPT2Model(GPT2Config()).eval()  # GPT-2 small: 12 layers, 124 M parameters


def _gpt2_4_layers() -> Any:
    from transformers import GPT2Config, GPT2Model

    return GPT2Model(GPT2Config(n_layer=4)).eval()


def _padded_tokens() -> dict[str, Any]:
    """128 token ids and an attention mask whose last 8 positions are padding."""
    import torch

    ids = torch.randint(0, 50257, (1, 128), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(1, 128, dtype=torch.long)
    mask[0, -8:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _bart_base() -> Any:
    from transformers import BartConfig, BartModel

    # facebook/bart-base's shape: 6 + 6 layers, width 768, 140 M parameters
    return BartModel(BartConfig(d_model=768, encoder_layers=6, decoder_layers=6,
                                encoder_attention_heads=12, decoder_attention_heads=12,
                                encoder_ffn_dim=3072, decoder_ffn_dim=3072)).eval()


def _tokens(vocab: int) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        import torch

        g = torch.Generator().manual_seed(0)
        return {"input_ids": torch.randint(3, vocab, (1, 128), generator=g)}

    return make


def _small_mixtral() -> Any:
    from transformers import MixtralConfig, MixtralModel

    # 4 layers of 8 experts, top-2; width 256 (the default experts kernel, grouped_mm)
    return MixtralModel(MixtralConfig(
        hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=8,
        num_key_value_heads=4, num_local_experts=8, num_experts_per_tok=2,
        vocab_size=1000)).eval()


def _lstm() -> Any:
    from torch import nn

    return nn.LSTM(300, 512, 2).eval()


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
        Spec("gpt2_4l_mask", _gpt2_4_layers, (1, 128), "long", _padded_tokens),
        Spec("bart_base", _bart_base, (1, 128), "long", _tokens(50265)),
        Spec("mixtral_small", _small_mixtral, (1, 128), "long", _tokens(1000)),
        Spec("lstm_200_steps", _lstm, (200, 1, 300)),
    )
}

#: The models the targets of the issue are checked on.
TARGET_MODELS = ("resnet50", "vit_b_16", "densenet121")
#: Models that used to leave the no-compute path (attention masks, ``.item()``, experts,
#: long recurrences): drawnet must take at most half torchview's time on them (half
#: torchinfo's where torchview fails).
VALUE_MODELS = ("gpt2_4l_mask", "bart_base", "mixtral_small", "lstm_200_steps")


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
