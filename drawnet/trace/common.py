"""Pieces every tracer shares: the module table, output naming, failures and the guard."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any, NamedTuple

from drawnet import ir
from drawnet.errors import TraceError

# Simple attributes worth keeping from a module: they label boxes and feed cost rules.
MODULE_ATTRS = (
    "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
    "in_features", "out_features", "num_features", "normalized_shape", "num_groups",
    "num_embeddings", "embedding_dim", "input_size", "hidden_size", "num_layers",
    "bidirectional", "batch_first", "proj_size", "embed_dim", "num_heads", "kdim", "vdim",
    "output_size", "scale_factor", "mode", "p", "nf", "nx", "negative_slope", "upscale_factor",
    "window_size", "shift_size", "head_dim", "num_experts", "top_k",
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
        # Plain attributes live in the instance dict; looking them up there avoids
        # nn.Module.__getattr__, which raises (slowly) for each of the ~30 missing names.
        # Parameters, buffers and submodules are never simple values, so skipping them
        # changes nothing; class attributes and properties still go through getattr.
        if name in module.__dict__:
            value = module.__dict__[name]
        elif hasattr(type(module), name):
            value = getattr(module, name)
        else:
            continue
        if callable(value):
            continue
        ok, simple = simple_value(value)
        if ok:
            out[name] = simple
    bias = getattr(module, "bias", NotImplemented)
    if bias is not NotImplemented and not isinstance(bias, bool):
        out["has_bias"] = bias is not None
    elif isinstance(bias, bool):
        out["has_bias"] = bias
    return ir.attrs(**out)


def module_index(model: Any) -> tuple[dict[int, str], dict[str, str], dict[str, bool]]:
    """For hooks: module object key -> path, path -> class name, path -> is a leaf.

    A module registered at two paths keeps its first. ``id`` keys are only looked up
    during one trace and never reach the output.
    """
    paths: dict[int, str] = {}
    classes: dict[str, str] = {}
    leaf: dict[str, bool] = {}
    for path, mod in model.named_modules():
        paths.setdefault(id(mod), path)
        classes.setdefault(path, type(mod).__name__)
        leaf.setdefault(path, next(iter(mod.children()), None) is None)
    return paths, classes, leaf


def tensor_meta(t: Any) -> ir.TensorMeta:
    """Shape and dtype of a tensor as IR metadata."""
    return ir.TensorMeta(tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch."))


def flatten_tensors(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every tensor inside ``value`` with a dotted name (tuples, lists, dicts, dataclasses).

    ``ModelOutput`` objects are dicts; dataclass fields and dict keys become names;
    sequence items get their index.
    """

    return [(g.name, g.tensors[0]) for g in _walk(value, prefix, group_caches=False)]


def is_cache(value: Any) -> bool:
    """Whether ``value`` is a key/value cache object (transformers' ``Cache`` classes).

    Example:
        >>> class DynamicCache: ...
        >>> is_cache(DynamicCache()), is_cache((1, 2))
        (True, False)
    """
    return any(c.__name__.endswith("Cache") for c in type(value).__mro__[:-1])


def _cache_tensors(value: Any) -> list[Any]:
    """Every tensor held by a cache object, in attribute order (``layers[i].keys``...)."""
    import torch

    out: list[Any] = []
    seen: set[int] = set()

    def walk(v: Any, depth: int) -> None:
        if depth > 6 or id(v) in seen:
            return
        seen.add(id(v))
        if isinstance(v, torch.Tensor):
            out.append(v)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item, depth + 1)
        elif isinstance(v, tuple | list):
            for item in v:
                walk(item, depth + 1)
        elif hasattr(v, "__dict__") and not isinstance(v, torch.nn.Module | type):
            for key, item in vars(v).items():
                if not key.startswith("_"):
                    walk(item, depth + 1)

    walk(value, 0)
    return out


class OutputGroup(NamedTuple):
    """One output of a model: its name, its tensors, and whether it is a cache object."""

    name: str
    tensors: list[Any]
    cache: bool = False


def output_groups(value: Any) -> list[OutputGroup]:
    """The model's outputs as named groups of tensors, in the order the model gives them.

    Each tensor is a group of its own, named as :func:`flatten_tensors` names it
    (``logits``, ``0``, ``1.0``, ``hidden_states.2``; ``""`` for a bare tensor); a
    cache object (transformers' ``DynamicCache``, ``EncoderDecoderCache``) is one group
    holding all its tensors, so a deep model's cache is one output rather than two per
    layer. That group is always named ``cache`` (``cache_2``, ... for further ones),
    whatever field holds it: transformers 4.x calls the field ``past_key_values`` and
    5.24 ``cache``, and a drawing should not change with that.

    Example:
        >>> import torch
        >>> out = {"logits": torch.zeros(1, 2), "pair": (torch.zeros(3), torch.zeros(4))}
        >>> [(name, [tuple(t.shape) for t in ts]) for name, ts, _ in output_groups(out)]
        [('logits', [(1, 2)]), ('pair.0', [(3,)]), ('pair.1', [(4,)])]
    """

    return _walk(value, "", group_caches=True)


def _walk(value: Any, prefix: str, *, group_caches: bool) -> list[OutputGroup]:
    """Named groups of tensors inside ``value``: one tensor a group, or with
    ``group_caches`` one group per cache object (see :func:`output_groups`)."""
    import torch

    out: list[OutputGroup] = []
    caches = 0

    def walk(v: Any, name: str, depth: int) -> None:
        nonlocal caches
        if depth > 8:
            return
        if isinstance(v, torch.Tensor):
            out.append(OutputGroup(name, [v]))
        elif group_caches and is_cache(v):
            tensors = _cache_tensors(v)
            if tensors:
                caches += 1
                out.append(OutputGroup("cache" if caches == 1 else f"cache_{caches}", tensors,
                                       cache=True))
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


def output_node(name: str, metas: tuple[ir.TensorMeta, ...], *, cache: bool = False) -> ir.Node:
    """The output node of one output group (``output`` for a bare tensor); a cache
    object's node carries the attribute ``cache=True``.

    Example:
        >>> output_node("logits", (ir.TensorMeta((1, 2)),)).id
        'output.logits'
    """
    return ir.Node(id=f"output.{name}" if name else "output", kind="output", op="output",
                   label=name or "output", inputs=metas,
                   attrs=ir.attrs(cache=True) if cache else ())


# -- failures ------------------------------------------------------------------------------
FailureKind = str
DATA_DEPENDENT = "data-dependent"
"""A failure caused by control flow on tensor values (``if x.sum() > 0``)."""
REJECTED = "rejected"
"""A failure a real run would hit too (a shape mismatch): no other tracer is tried."""

_DATA_MARKS = (
    "cannot be called on meta tensors", "data-dependent", "data dependent",
    "GuardOnDataDependentSymNode", "DataDependentOutputException",
    "Could not guard on data-dependent", "Could not extract specialized integer",
    "aten._local_scalar_dense", "item() cannot", "unbacked",
)


class TracerFailure(TraceError):
    """A tracer's failure, with what ``tracer='auto'`` needs to choose the next one.

    ``tracer`` failed ``place`` (``in layer1.0.conv1 · Conv2d (input 1×64×56×56)``)
    because of ``cause`` (``RuntimeError: ...``); ``kind`` is :data:`DATA_DEPENDENT` when
    the model branched on tensor values, :data:`REJECTED` when a real run would fail
    there too, else ``""``.
    """

    def __init__(self, message: str, *, tracer: str, place: str = "", cause: str = "",
                 kind: FailureKind = "") -> None:
        super().__init__(message)
        self.tracer = tracer
        self.place = place
        self.cause = cause
        self.kind = kind


def failure_kind(exc: BaseException) -> FailureKind:
    """:data:`DATA_DEPENDENT` if ``exc`` (or an exception it chains) comes from control flow
    on tensor values, which only a real run can follow; else ``""``.

    Example:
        >>> failure_kind(RuntimeError("Tensor.item() cannot be called on meta tensors"))
        'data-dependent'
        >>> failure_kind(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
        ''
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        text = f"{type(e).__name__}: {e}"
        if any(mark in text for mark in _DATA_MARKS):
            return DATA_DEPENDENT
        e = e.__cause__ or e.__context__
    return ""


def cause_text(e: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, cut short (torch quotes whole graphs).

    Example:
        >>> cause_text(ValueError("bad\\nmore"))
        'ValueError: bad'
    """
    text = str(e).strip()
    line = text.splitlines()[0].strip() if text else ""
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return f"{type(e).__name__}: {line}" if line else type(e).__name__


def place_text(path: str, class_name: str, shapes: tuple[ir.TensorMeta, ...],
               expects: str = "") -> str:
    """Where a trace stopped: ``in conv1 · Conv2d (input 1×3×224)``, and what the layer
    expects when that is known.

    Example:
        >>> place_text("conv1", "Conv2d", (ir.TensorMeta((1, 3, 224)),), "expects N×3×H×W")
        'in conv1 · Conv2d (input 1×3×224; expects N×3×H×W)'
    """
    got = ", ".join("×".join(str(d) for d in s.shape) for s in shapes) or "no tensors"
    inside = f"input {got}; {expects}" if expects else f"input {got}"
    return f"in {path} · {class_name} ({inside})" if class_name else f"in {path} ({inside})"


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
        if mode in ("eval", "train"):
            # torch.export's module refuses train(): it stays in its exported mode
            with contextlib.suppress(NotImplementedError):
                model.train(mode == "train")
        yield
    finally:
        restore_state(state)
