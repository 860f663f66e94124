"""A fingerprint of everything drawnet promises to leave untouched in a model.

:func:`fingerprint` records training flags, hooks, parameters and buffers (values,
device, dtype, grad flags), global torch settings, and, per module, every entry of its
``__dict__``: which keys there are, the identity of each value (so a child, a hook dict
or a list shared with the caller that gets replaced by a copy shows), and every tensor
reachable from it through lists, tuples, dicts and sets (so a tensor a forward stored on
``self``, or a weight left on ``meta``, shows). :func:`assert_same` compares two, and
:func:`assert_runs` checks that a plain forward still runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
              "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs",
              "_forward_hooks_always_called", "_backward_pre_hooks")
_MAX_DEPTH = 6


def _walk_tensors(value: Any, where: str, out: list[tuple[str, Any]], depth: int,
                  seen: set[int]) -> None:
    """Every tensor reachable from ``value`` through containers, with a dotted place."""
    if depth > _MAX_DEPTH or id(value) in seen:
        return
    if isinstance(value, torch.Tensor):
        out.append((where, value))
        return
    if isinstance(value, dict):
        seen.add(id(value))
        for k, v in list(value.items()):
            _walk_tensors(v, f"{where}[{k!r}]", out, depth + 1, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        seen.add(id(value))
        for i, v in enumerate(list(value)):
            _walk_tensors(v, f"{where}[{i}]", out, depth + 1, seen)


def _tensor_record(t: torch.Tensor, values: bool = True) -> tuple[Any, ...]:
    """Device, dtype, shape, grad flag and (for real tensors, if ``values``) a copy of
    the values."""
    from torch.nn.parameter import UninitializedTensorMixin  # type: ignore[attr-defined]

    if isinstance(t, UninitializedTensorMixin):
        return (type(t).__name__, t.device.type, t.dtype, "uninitialized", t.requires_grad,
                None)
    values = None if t.device.type == "meta" or not values else t.detach().clone()
    return (type(t).__name__, t.device.type, t.dtype, tuple(t.shape), t.requires_grad,
            values)


def module_state(model: torch.nn.Module) -> dict[str, Any]:
    """Per module path: its ``__dict__`` keys with the identity of each value, and every
    tensor reachable from its attributes (walking dicts, lists, tuples and sets)."""
    out: dict[str, Any] = {}
    for path, mod in model.named_modules(remove_duplicate=False):
        state = mod.__dict__
        tensors: list[tuple[str, Any]] = []
        seen: set[int] = set()
        for key, value in list(state.items()):
            _walk_tensors(value, key, tensors, 0, seen)
        out[path] = {
            "class": type(mod),
            "keys": {k: id(v) for k, v in state.items()},
            # parameters and buffers have their values compared in "params"/"buffers"
            "tensors": [(where, id(t), _tensor_record(t, values=not where.startswith(
                ("_parameters[", "_buffers[")))) for where, t in tensors],
        }
    return out


def fingerprint(model: torch.nn.Module) -> dict[str, Any]:
    """Training flags, hooks, parameters and buffers (values, device, dtype, grad flags),
    global torch settings, and every module's ``__dict__`` (see the module docstring)."""
    return {
        "training": [(name, m.training) for name, m in model.named_modules()],
        "hooks": [(name, tuple(len(getattr(m, h, {}) or {}) for h in HOOK_DICTS))
                  for name, m in model.named_modules()],
        "params": [(n, p.device.type, p.dtype, p.requires_grad, p.detach().clone()
                    if not _lazy(p) else None)
                   for n, p in model.named_parameters()],
        "buffers": [(n, b.device.type, b.dtype, b.detach().clone() if not _lazy(b) else None)
                    for n, b in model.named_buffers()],
        "grad_enabled": torch.is_grad_enabled(),
        "default_dtype": torch.get_default_dtype(),
        "modules": module_state(model),
    }


def _lazy(t: torch.Tensor) -> bool:
    from torch.nn.parameter import UninitializedTensorMixin  # type: ignore[attr-defined]

    return isinstance(t, UninitializedTensorMixin)


def _same_values(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if a.device.type == "meta":  # no values to compare; the shape must stay
        return bool(a.shape == b.shape)
    return bool(a.shape == b.shape and torch.equal(a, b))


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Fail with the first difference between two fingerprints."""
    for key in ("training", "hooks", "grad_enabled", "default_dtype"):
        assert before[key] == after[key], f"{key} changed"
    for kind in ("params", "buffers"):
        assert len(before[kind]) == len(after[kind]), f"number of {kind} changed"
        for b, a in zip(before[kind], after[kind], strict=False):
            assert b[:-1] == a[:-1], f"{kind} {b[0]} changed device/dtype/flags"
            assert _same_values(b[-1], a[-1]), f"{kind} {b[0]} changed value"
    assert_same_modules(before["modules"], after["modules"])


def assert_same_modules(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every module's ``__dict__`` has the same keys, the same objects, and the same
    tensors (same objects, devices, dtypes, shapes and values)."""
    assert list(before) == list(after), "module paths changed"
    for path, b in before.items():
        a = after[path]
        name = path or "<root>"
        assert b["class"] is a["class"], f"{name}: class changed"
        added = sorted(set(a["keys"]) - set(b["keys"]))
        removed = sorted(set(b["keys"]) - set(a["keys"]))
        assert not added, f"{name}: attributes added by the trace: {added}"
        assert not removed, f"{name}: attributes removed by the trace: {removed}"
        replaced = sorted(k for k in b["keys"] if b["keys"][k] != a["keys"][k])
        assert not replaced, f"{name}: attributes replaced by other objects: {replaced}"
        assert [w for w, _, _ in b["tensors"]] == [w for w, _, _ in a["tensors"]], (
            f"{name}: tensors reachable from attributes changed")
        for (where, ib, rb), (_, ia, ra) in zip(b["tensors"], a["tensors"], strict=True):
            assert ib == ia, f"{name}.{where}: tensor replaced"
            assert rb[:-1] == ra[:-1], f"{name}.{where}: {rb[:-1]} became {ra[:-1]}"
            assert _same_values(rb[-1], ra[-1]), f"{name}.{where}: values changed"


def no_meta_tensors(model: torch.nn.Module, allowed: bool = False) -> list[str]:
    """Places in ``model`` (every module's attributes, walked) holding a ``meta`` tensor;
    empty for a model with real weights. ``allowed``: the model is on meta by design."""
    if allowed:
        return []
    found = []
    for path, mod in model.named_modules(remove_duplicate=False):
        tensors: list[tuple[str, Any]] = []
        seen: set[int] = set()
        for key, value in list(mod.__dict__.items()):
            _walk_tensors(value, key, tensors, 0, seen)
        found += [f"{path}.{w}" if path else w for w, t in tensors if t.device.type == "meta"]
    return found


def assert_runs(model: torch.nn.Module, call: Callable[[torch.nn.Module], Any]) -> None:
    """A plain forward (``call(model)``) still runs, and leaves no meta tensor behind."""
    with torch.no_grad():
        call(model)
    assert not no_meta_tensors(model), no_meta_tensors(model)
