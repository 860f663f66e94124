"""A fingerprint of everything drawnet promises to leave untouched in a model."""

from __future__ import annotations

from typing import Any

import torch

HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
              "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs",
              "_forward_hooks_always_called", "_backward_pre_hooks")


def fingerprint(model: torch.nn.Module) -> dict[str, Any]:
    """Training flags, hooks, parameters and buffers (values, device, dtype, grad flags)."""
    return {
        "training": [(name, m.training) for name, m in model.named_modules()],
        "hooks": [(name, tuple(len(getattr(m, h, {}) or {}) for h in HOOK_DICTS))
                  for name, m in model.named_modules()],
        "params": [(n, p.device.type, p.dtype, p.requires_grad, p.detach().clone())
                   for n, p in model.named_parameters()],
        "buffers": [(n, b.device.type, b.dtype, b.detach().clone())
                    for n, b in model.named_buffers()],
        "grad_enabled": torch.is_grad_enabled(),
        "default_dtype": torch.get_default_dtype(),
    }


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Fail with the first difference between two fingerprints."""
    for key in ("training", "hooks", "grad_enabled", "default_dtype"):
        assert before[key] == after[key], f"{key} changed"
    for kind in ("params", "buffers"):
        assert len(before[kind]) == len(after[kind]), f"number of {kind} changed"
        for b, a in zip(before[kind], after[kind], strict=False):
            assert b[:-1] == a[:-1], f"{kind} {b[0]} changed device/dtype/flags"
            if b[-1].device.type == "meta":  # no values to compare; shape must stay
                assert b[-1].shape == a[-1].shape, f"{kind} {b[0]} changed shape"
            else:
                assert torch.equal(b[-1], a[-1]), f"{kind} {b[0]} changed value"
