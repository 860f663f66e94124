"""Errors raised by the model's own code are told apart from torch rejecting a shape."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import drawnet

LINE = "raised by the model's own code at "


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)


class _NameError(_Net):
    def forward(self, x: Any) -> Any:
        return self.fc(x) + scale  # type: ignore[name-defined]  # noqa: F821


class _Misspelt(_Net):
    def forward(self, x: Any) -> Any:
        return self.fc2(x)


class _Raises(_Net):
    def forward(self, x: Any) -> Any:
        if x.shape[-1] != 3:
            raise ValueError(f"expected 3 features, got {x.shape[-1]}")
        return self.fc(x)


class _BadMatmul(_Net):
    def forward(self, x: Any) -> Any:
        return x @ torch.ones(3, 3, device=x.device)  # torch rejects the shapes


class _Branches(_Net):
    def forward(self, x: Any) -> Any:
        # needs values computed from the weights: the meta tracer cannot tell (the inputs'
        # own values it computes, as a real run does)
        assert self.fc(x).abs().sum() >= 0
        return self.fc(x)


@pytest.mark.parametrize(("model", "cause"), [
    (_NameError(), "NameError: name 'scale' is not defined"),
    (_Misspelt(), "AttributeError: '_Misspelt' object has no attribute 'fc2'"),
    (_Raises(), "ValueError: expected 3 features, got 4"),
], ids=["name-error", "misspelt-submodule", "explicit-raise"])
def test_the_models_code_is_named_with_file_and_line(model: nn.Module, cause: str) -> None:
    with pytest.raises(drawnet.TraceError) as info:
        drawnet.draw_model(model, [1, 4], tracer="meta")
    message = str(info.value)
    assert f"{cause}; {LINE}" in message
    assert "test_blame.py line " in message
    assert "check the input shapes" not in message
    assert "tracer='export'" not in message  # no other tracer can help with the code


def test_the_source_line_is_quoted() -> None:
    with pytest.raises(drawnet.TraceError) as info:
        drawnet.draw_model(_NameError(), [1, 4], tracer="meta")
    assert "(return self.fc(x) + scale  # type: ignore" in str(info.value)


def test_a_name_error_stops_auto_at_the_first_tracer() -> None:
    with pytest.raises(drawnet.TraceError) as info:
        drawnet.draw_model(_NameError(), [1, 4])
    assert str(info.value).startswith("meta trace failed in _NameError.forward (input 1×4): "
                                      "NameError")


def test_torch_rejecting_a_shape_keeps_the_shape_advice() -> None:
    with pytest.raises(drawnet.TraceError) as info:
        drawnet.draw_model(_BadMatmul(), [1, 4], tracer="meta")
    message = str(info.value)
    assert "RuntimeError" in message
    assert "own code" not in message


def test_code_that_needs_values_is_not_blamed() -> None:
    with pytest.raises(drawnet.TraceError) as info:
        drawnet.draw_model(_Branches(), [1, 4], tracer="meta")
    message = str(info.value)
    assert "branches on tensor values" in message
    assert "own code" not in message
