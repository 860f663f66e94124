"""Values of the small integer buffers the meta tracer may read, never of the weights.

The meta tracer answers value reads (``.item()``, ``int(t)``, a padding amount passed to
``F.pad``) from real CPU copies of the tensors that do not depend on the weights
(:mod:`drawnet.trace.scalars`). Among those are a model's integer and boolean buffers:
position ids, masks, and the strides and kernel sizes that audio codecs keep as tensors
(EnCodec, Mimi: ``padding_total``). A model with real weights holds their values; one
built on the ``meta`` device (``with torch.device("meta")``, ``drawnet render hf:...``)
does not, and its trace would stop at the first read.

For such a model, a transformers model tells how it fills those buffers: its
``_init_weights(module)`` writes each non-persistent buffer (the same code that fills
them when weights are loaded onto an empty model). :func:`source_buffers` runs it on a
shallow copy of each module that holds one, with empty CPU tensors in place of the meta
buffers, twice, from zeros and from ones: a buffer counts only when both runs give the
same value (so a value the code did not write, or wrote at random, is never taken). The
weights stay on ``meta`` and nothing of the user's model is written.

Example:
    >>> import torch
    >>> net = torch.nn.Module()
    >>> net.register_buffer("lengths", torch.tensor([3, 4]))
    >>> sorted(source_buffers(net))
    ['lengths']
"""

from __future__ import annotations

import copy as copylib
from typing import Any

LIMIT = 1 << 16
"""Largest buffer (elements) whose value is recovered from the model's own init code."""


def source_buffers(model: Any) -> dict[str, Any]:
    """The model's integer and boolean buffers by name, with real values: those it holds,
    and, for a transformers model on ``meta``, those its init code fills (see the module
    docstring). Nothing is copied here; callers copy before use.

    Example:
        >>> import torch
        >>> with torch.device("meta"):
        ...     net = torch.nn.Module()
        ...     net.register_buffer("ids", torch.arange(3))
        >>> source_buffers(net)
        {}
    """
    found: dict[str, Any] = {}
    meta: list[str] = []
    for name, b in model.named_buffers():
        if b.dtype.is_floating_point or b.dtype.is_complex:
            continue
        if b.device.type != "meta":
            found[name] = b
        elif b.numel() <= LIMIT:
            meta.append(name)
    if meta:
        found.update(_from_init(model, meta))
    return found


def _from_init(model: Any, names: list[str]) -> dict[str, Any]:
    """The values ``model._init_weights`` gives the meta buffers ``names`` (or none)."""
    init = getattr(model, "_init_weights", None)
    if not callable(init) or not _is_transformers(model):
        return {}
    import torch

    owners: dict[str, list[str]] = {}
    for name in names:
        path, _, leaf = name.rpartition(".")
        owners.setdefault(path, []).append(leaf)
    out: dict[str, Any] = {}
    for path, leaves in owners.items():
        try:
            module = model.get_submodule(path)
        except AttributeError:
            continue
        runs = []
        for fill in (0, 1):
            shell = _shell(module, leaves, fill, torch)
            if shell is None:
                break
            try:
                with torch.no_grad(), torch.device("cpu"):
                    init(shell)
            except Exception:
                break
            runs.append({leaf: shell._buffers[leaf] for leaf in leaves})
        if len(runs) != 2:
            continue
        for leaf in leaves:
            a, b = runs[0][leaf], runs[1][leaf]
            if a.device.type == "cpu" and torch.equal(a, b):
                out[f"{path}.{leaf}" if path else leaf] = a
    return out


def _shell(module: Any, leaves: list[str], fill: int, torch: Any) -> Any:
    """A shallow copy of ``module`` whose buffers ``leaves`` are CPU tensors filled with
    ``fill``; its own containers are new, so setting attributes on it changes nothing of
    the model's."""
    try:
        shell = copylib.copy(module)
    except Exception:
        return None
    for key in ("_parameters", "_buffers", "_modules"):
        store = module.__dict__.get(key)
        if store is not None:
            shell.__dict__[key] = type(store)(store)
    for leaf in leaves:
        meta = module._buffers[leaf]
        value = torch.full(tuple(meta.shape), fill, dtype=meta.dtype)
        shell._buffers[leaf] = value
    return shell


def _is_transformers(model: Any) -> bool:
    return any(c.__name__ == "PreTrainedModel" and c.__module__.startswith("transformers")
               for c in type(model).__mro__)
