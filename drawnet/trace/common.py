"""Pieces every tracer shares: the module table, output naming, and the model guard."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from drawnet import ir

# Simple attributes worth keeping from a module: they label boxes and feed cost rules.
MODULE_ATTRS = (
    "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
    "in_features", "out_features", "num_features", "normalized_shape", "num_groups",
    "num_embeddings", "embedding_dim", "input_size", "hidden_size", "num_layers",
    "bidirectional", "batch_first", "proj_size", "embed_dim", "num_heads", "kdim", "vdim",
    "output_size", "scale_factor", "mode", "p", "nf", "nx", "negative_slope", "upscale_factor",
)
_RNN_ONLY = frozenset({"input_size", "hidden_size", "num_layers"})


def simple_value(value: Any) -> tuple[bool, ir.AttrValue]:
    """``(True, value)`` if ``value`` fits an IR attribute (scalar, str, None, int tuple)."""
    if isinstance(value, bool | int | float | str) or value is None:
        return True, value
    if isinstance(value, tuple | list) and value and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return True, tuple(int(v) for v in value)
    return False, None


def module_attrs(module: Any) -> tuple[tuple[str, ir.AttrValue], ...]:
    """The simple configuration attributes of one module, sorted."""
    out: dict[str, ir.AttrValue] = {}
    for name in MODULE_ATTRS:
        if name in _RNN_ONLY and not (
            hasattr(module, "_flat_weights") or hasattr(module, "weight_ih")
        ):
            continue  # elsewhere (e.g. in user modules) these names mean something else
        if not hasattr(module, name) or callable(getattr(module, name)):
            continue
        ok, simple = simple_value(getattr(module, name))
        if ok:
            out[name] = simple
    bias = getattr(module, "bias", NotImplemented)
    if bias is not NotImplemented and not isinstance(bias, bool):
        out["has_bias"] = bias is not None
    elif isinstance(bias, bool):
        out["has_bias"] = bias
    return ir.attrs(**out)


def tensor_meta(t: Any) -> ir.TensorMeta:
    """Shape and dtype of a tensor as IR metadata."""
    return ir.TensorMeta(tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch."))


def flatten_tensors(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every tensor inside ``value`` with a dotted name (tuples, lists, dicts, dataclasses).

    ``ModelOutput`` objects are dicts; dataclass fields and dict keys become names;
    sequence items get their index.
    """
    import torch

    out: list[tuple[str, Any]] = []

    def walk(v: Any, name: str, depth: int) -> None:
        if depth > 8:
            return
        if isinstance(v, torch.Tensor):
            out.append((name, v))
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(item, f"{name}.{k}" if name else str(k), depth + 1)
        elif isinstance(v, tuple | list):
            for i, item in enumerate(v):
                walk(item, f"{name}.{i}" if name else str(i), depth + 1)
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            for f in dataclasses.fields(v):
                walk(getattr(v, f.name), f"{name}.{f.name}" if name else f.name, depth + 1)
        elif hasattr(v, "to_tuple") and hasattr(v, "keys"):
            for k in v:
                walk(v[k], f"{name}.{k}" if name else str(k), depth + 1)

    walk(value, prefix, 0)
    return out


def module_table(model: Any) -> tuple[ir.ModuleInfo, ...]:
    """Every module in registration order, with its own params counted once (tied once)."""
    seen_tensors: set[int] = set()
    rows: list[ir.ModuleInfo] = []
    for path, mod in model.named_modules():
        params = trainable = pbytes = 0
        for p in mod.parameters(recurse=False):
            key = _storage_key(p)
            if key in seen_tensors:
                continue
            seen_tensors.add(key)
            params += p.numel()
            pbytes += p.numel() * p.element_size()
            if p.requires_grad:
                trainable += p.numel()
        buffers = bbytes = 0
        for b in mod.buffers(recurse=False):
            key = _storage_key(b)
            if key in seen_tensors:
                continue
            seen_tensors.add(key)
            buffers += b.numel()
            bbytes += b.numel() * b.element_size()
        rows.append(ir.ModuleInfo(
            path=path, class_name=type(mod).__name__, params=params, trainable_params=trainable,
            buffers=buffers, param_bytes=pbytes, buffer_bytes=bbytes,
            is_leaf=next(iter(mod.children()), None) is None, attrs=module_attrs(mod),
        ))
    return tuple(rows)


def _storage_key(t: Any) -> int:
    # Parameters shared between modules are the same Python object; ``id`` is only used as
    # a lookup key during this call and never reaches the output.
    return id(t)


@dataclasses.dataclass
class ModelState:
    """What drawnet must give back: training flags, requires_grad, hooks and grad mode."""

    training: list[tuple[Any, bool]]
    requires_grad: list[tuple[Any, bool]]
    hook_counts: list[tuple[Any, tuple[int, ...]]]
    grad_enabled: bool


_HOOK_DICTS = (
    "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_forward_hooks_with_kwargs",
    "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
)


def _hook_sizes(mod: Any) -> tuple[int, ...]:
    return tuple(len(getattr(mod, name, {}) or {}) for name in _HOOK_DICTS)


def capture_state(model: Any) -> ModelState:
    """Record the parts of the model and of torch that a trace could disturb."""
    import torch

    mods = list(model.modules())
    return ModelState(
        training=[(m, m.training) for m in mods],
        requires_grad=[(p, p.requires_grad) for p in model.parameters()],
        hook_counts=[(m, _hook_sizes(m)) for m in mods],
        grad_enabled=torch.is_grad_enabled(),
    )


def restore_state(state: ModelState) -> None:
    """Put back what :func:`capture_state` recorded."""
    import torch

    for m, flag in state.training:
        if m.training != flag:
            m.training = flag
    for p, flag in state.requires_grad:
        if p.requires_grad != flag:
            p.requires_grad_(flag)
    torch.set_grad_enabled(state.grad_enabled)


@contextlib.contextmanager
def guarded(model: Any, *, mode: str) -> Iterator[None]:
    """Run a trace with the model in ``mode`` ('eval', 'train' or 'same'), then restore it.

    The training flag of every submodule, ``requires_grad`` and grad mode come back as they
    were, whether the trace succeeds or raises.
    """
    state = capture_state(model)
    try:
        if mode == "eval":
            model.train(False)
        elif mode == "train":
            model.train(True)
        yield
    finally:
        restore_state(state)
