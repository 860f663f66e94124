"""Golden DOT files for small fixed models (update with ``pytest --update-golden``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import drawnet
from tests.models import Attention, TinyResNet, TwoInputs

CASES: dict[str, tuple[Callable[[], torch.nn.Module], object]] = {
    "tiny_resnet": (TinyResNet, [1, 3, 32, 32]),
    "two_inputs": (TwoInputs, [[1, 12], [1, 4]]),
    "attention": (Attention, [1, 5, 16]),
}


@pytest.mark.parametrize("orientation", ["LR", "TB"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_dot(name: str, orientation: str, golden: Callable[[str, str], None]) -> None:
    factory, size = CASES[name]
    torch.manual_seed(0)
    d = drawnet.draw_model(factory(), size, orientation=orientation)
    golden(f"{name}_{orientation}.dot", d.source)
