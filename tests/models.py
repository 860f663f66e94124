"""Small fixed models for golden files and edge cases (real torch modules)."""

from __future__ import annotations

import torch
from torch import nn


class TinyResNet(nn.Module):
    """A stem, one residual block with a 1×1 shortcut, pooling and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.conv_a = nn.Conv2d(8, 16, 3, padding=1)
        self.bn_a = nn.BatchNorm2d(16)
        self.shortcut = nn.Conv2d(8, 16, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = torch.relu(self.bn_a(self.conv_a(x)) + self.shortcut(x))
        return self.fc(torch.flatten(self.pool(y), 1))


class TwoInputs(nn.Module):
    """Two named inputs merged by concatenation, and a dict output."""

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Linear(12, 8)
        self.meta = nn.Linear(4, 8)
        self.head = nn.Linear(16, 2)

    def forward(self, image: torch.Tensor, meta: torch.Tensor) -> dict[str, torch.Tensor]:
        z = torch.cat([self.image(image), self.meta(meta)], dim=1)
        return {"logits": self.head(z), "features": z}


class Attention(nn.Module):
    """Single-head self-attention written with matmul and softmax between modules."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.q(x) @ self.k(x).transpose(1, 2) / 4.0
        return self.norm(torch.softmax(scores, dim=-1) @ self.v(x) + x)


class Branchy(nn.Module):
    """Branches on a tensor value: needs a real run."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.a(x)
        return self.b(x)


class WeightBranchy(nn.Module):
    """Branches on a value that depends on the weights: only a real run can follow it."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.a(x).sum() > 0:
            return self.a(x)
        return self.b(x)


class ResidualMLP(nn.Module):
    """A pre-norm residual MLP block: x + fc2(gelu(fc1(norm(x))))."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


def residual_mlp_stack(n: int = 12, dim: int = 32) -> nn.Sequential:
    """``n`` identical residual MLP blocks in a Sequential."""
    return nn.Sequential(*(ResidualMLP(dim) for _ in range(n)))


def tiny_bert() -> nn.Module:
    """A 2-layer BERT with small widths (random weights); feed it ``[1, 8]`` long token ids."""
    import transformers

    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, vocab_size=100)
    return transformers.BertModel(config).eval()


def llama_70b_on_meta() -> nn.Module:
    """``LlamaModel`` with the 70 B configuration (80 layers), built on the meta device."""
    import transformers

    with torch.device("meta"):
        config = transformers.LlamaConfig(
            hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
            num_attention_heads=64, num_key_value_heads=8, vocab_size=128256)
        return transformers.LlamaModel(config).eval()
