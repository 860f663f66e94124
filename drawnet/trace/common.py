"""Pieces every tracer shares: the module table, output naming and failures."""

from __future__ import annotations

import dataclasses
import functools
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
    "window_size", "shift_size", "head_dim", "add_zero_attn", "num_experts", "top_k",
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
    state = module.__dict__
    cls: Any = type(module)
    on_class, plain_bias = _class_attrs(cls)
    rnn: bool | None = None
    for name in MODULE_ATTRS:
        # Plain attributes live in the instance dict; looking them up there avoids
        # nn.Module.__getattr__, which raises (slowly) for each of the ~30 missing names.
        # Parameters, buffers and submodules are never simple values, so skipping them
        # changes nothing; class attributes and properties still go through getattr.
        if name not in state and name not in on_class:
            continue
        if name in _RNN_ONLY:
            if rnn is None:
                rnn = hasattr(module, "_flat_weights") or hasattr(module, "weight_ih")
            if not rnn:
                continue  # elsewhere (e.g. in user modules) these names mean something else
        value = state[name] if name in state else getattr(module, name)
        if callable(value):
            continue
        ok, simple = simple_value(value)
        if ok:
            out[name] = simple
    params = state.get("_parameters") or {}
    if "bias_k" in params:  # MultiheadAttention(add_bias_kv=True): one more key position
        out["add_bias_kv"] = params["bias_k"] is not None
    bias = _plain_attr(state, "bias") if plain_bias else getattr(module, "bias", NotImplemented)
    if bias is not NotImplemented and not isinstance(bias, bool):
        out["has_bias"] = bias is not None
    elif isinstance(bias, bool):
        out["has_bias"] = bias
    return ir.attrs(**out)


@functools.lru_cache(maxsize=4096)
def _class_attrs(cls: Any) -> tuple[frozenset[str], bool]:
    """For a module class: which :data:`MODULE_ATTRS` it has as class attributes (or
    properties), and whether ``bias`` is found as ``nn.Module`` finds it (no class
    attribute of that name and no ``__getattr__`` of its own)."""
    import torch

    names = frozenset(n for n in MODULE_ATTRS if hasattr(cls, n))
    plain = (getattr(cls, "__getattr__", None) is torch.nn.Module.__getattr__
             and not hasattr(cls, "bias"))
    return names, plain


def _plain_attr(state: dict[str, Any], name: str) -> Any:
    """``getattr(module, name, NotImplemented)`` for a module whose class has no
    attribute ``name`` and keeps ``nn.Module``'s ``__getattr__``: its instance dict,
    then its parameters, buffers and submodules."""
    if name in state:
        return state[name]
    for store in ("_parameters", "_buffers", "_modules"):
        found = state.get(store)
        if found is not None and name in found:
            return found[name]
    return NotImplemented


_ID_ESCAPES = {"%": "%25", ":": "%3A", "@": "%40", "#": "%23"}


def id_part(text: str) -> str:
    """``text`` made safe inside a node id: the characters drawnet's ids are built with
    (``:`` before an op, ``@`` before a call count, ``#`` before an op count, and ``%``)
    are escaped, so a module named ``a:relu`` or ``blk@2`` cannot collide with an op or
    a second call.

    Example:
        >>> id_part("layer1.0.conv1"), id_part("a:relu"), id_part("blk@2")
        ('layer1.0.conv1', 'a%3Arelu', 'blk%402')
    """
    if not any(c in text for c in _ID_ESCAPES):
        return text
    return "".join(_ID_ESCAPES.get(c, c) for c in text)


def call_id(base: str, k: int) -> str:
    """The id of the ``k``-th call (from 1) of the module at path (or root name) ``base``.

    Example:
        >>> call_id("layer1.0.relu", 1), call_id("layer1.0.relu", 3), call_id("blk@2", 2)
        ('layer1.0.relu', 'layer1.0.relu@3', 'blk%402@2')
    """
    part = id_part(base)
    return part if k == 1 else f"{part}@{k}"


_MAX_ALIASES = 16  # paths kept per module object (a diamond of shared modules can blow up)
_MAX_PATHS = 200_000


def all_module_paths(model: Any) -> list[tuple[str, Any]]:
    """``(path, module)`` for every path of every module, aliases included, in
    registration order (``named_modules(remove_duplicate=False)``), without recursion;
    a module that contains itself is not entered again, and one module object keeps at
    most 16 paths.

    Example:
        >>> import torch
        >>> relu = torch.nn.ReLU()
        >>> net = torch.nn.Sequential(torch.nn.Sequential(relu), torch.nn.Sequential(relu))
        >>> [p for p, _ in all_module_paths(net)]
        ['', '0', '0.0', '1', '1.0']
    """
    import torch

    out: list[tuple[str, Any]] = []
    count: dict[int, int] = {}
    stack: list[tuple[str, Any, frozenset[int]]] = [("", model, frozenset())]
    while stack and len(out) < _MAX_PATHS:
        path, mod, above = stack.pop()
        n = count.get(id(mod), 0)
        if n >= _MAX_ALIASES:
            continue
        count[id(mod)] = n + 1
        out.append((path, mod))
        if n:
            continue  # an alias: its children are reached through the first path
        inside = above | {id(mod)}
        children = mod.__dict__.get("_modules") or {}
        for name, child in reversed(list(children.items())):
            if isinstance(child, torch.nn.Module) and id(child) not in inside:
                stack.append((f"{path}.{name}" if path else str(name), child, inside))
    return out


def module_index(model: Any) -> tuple[dict[int, tuple[str, ...]], dict[str, str],
                                      dict[str, bool]]:
    """For hooks: module object key -> its paths, path -> class name, path -> is a leaf.

    A module registered at two paths (``self.second = self.first``, a shared ReLU) has
    both; :func:`pick_path` chooses the one a call ran under. ``id`` keys are only
    looked up during one trace and never reach the output.
    """
    paths: dict[int, list[str]] = {}
    classes: dict[str, str] = {}
    leaf: dict[str, bool] = {}
    for path, mod in all_module_paths(model):
        paths.setdefault(id(mod), []).append(path)
        classes.setdefault(path, type(mod).__name__)
        leaf.setdefault(path, next(iter(mod.children()), None) is None)
    return {k: tuple(v) for k, v in paths.items()}, classes, leaf


def pick_path(paths: tuple[str, ...], parent: str | None) -> str:
    """The path a call of a module with ``paths`` ran under, given the path of the
    module call that made it (``parent``; None outside any call): the path directly
    under ``parent``, else one below it, else the first.

    Example:
        >>> pick_path(("0.1", "1.1"), "1"), pick_path(("0.1", "1.1"), "2")
        ('1.1', '0.1')
    """
    if len(paths) == 1 or parent is None:
        return paths[0]
    prefix = f"{parent}." if parent else ""
    below = [p for p in paths if p.startswith(prefix)]
    for p in below:
        if "." not in p[len(prefix):]:
            return p
    return below[0] if below else paths[0]


_METAS: dict[tuple[Any, Any], ir.TensorMeta] = {}
"""(shape, dtype) -> its IR metadata: a cache, as every op and module call asks (the
metadata is immutable, so one object serves every tensor of that shape and dtype)."""
_MAX_METAS = 1 << 16


def tensor_meta(t: Any) -> ir.TensorMeta:
    """Shape and dtype of a tensor as IR metadata."""
    shape, dtype = t.shape, t.dtype
    try:
        return _METAS[shape, dtype]
    except KeyError:
        pass
    except TypeError:  # symbolic sizes are not hashable
        return ir.TensorMeta(tuple(map(int, shape)), str(dtype).removeprefix("torch."))
    meta = ir.TensorMeta(tuple(map(int, shape)), str(dtype).removeprefix("torch."))
    if len(_METAS) >= _MAX_METAS:
        _METAS.clear()
    _METAS[shape, dtype] = meta
    return meta


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


def input_node(name: str, meta: ir.TensorMeta) -> ir.Node:
    """The input node of one tensor input, ``input.<name>`` (``images.0`` for the first
    image of a list), labelled with its name.

    Example:
        >>> input_node("images.0", ir.TensorMeta((3, 8, 8))).id
        'input.images.0'
    """
    return ir.Node(id=f"input.{id_part(name)}", kind="input", op="input", label=name,
                   outputs=(meta,))


def output_node(name: str, metas: tuple[ir.TensorMeta, ...], *, cache: bool = False) -> ir.Node:
    """The output node of one output group (``output`` for a bare tensor); a cache
    object's node carries the attribute ``cache=True``.

    Example:
        >>> output_node("logits", (ir.TensorMeta((1, 2)),)).id
        'output.logits'
    """
    return ir.Node(id=f"output.{id_part(name)}" if name else "output", kind="output",
                   op="output", label=name or "output", inputs=metas,
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


def is_uninitialized(t: Any) -> bool:
    """Whether ``t`` is a lazy module's parameter or buffer that has no size yet.

    Example:
        >>> import torch
        >>> is_uninitialized(torch.nn.LazyLinear(3).weight), is_uninitialized(torch.zeros(1))
        (True, False)
    """
    import torch

    mixin: Any = getattr(torch.nn.parameter, "UninitializedTensorMixin", ())
    return isinstance(t, mixin)


def module_table(model: Any) -> tuple[ir.ModuleInfo, ...]:
    """Every module path in registration order, with its own params counted once (tied
    once). A module reached under two paths has a row at each: the second holds its
    parameters as ``tied_params``.

    A parameter already counted at an earlier module (a tied weight) is in that module's
    ``params`` and in this one's ``tied_params``; a lazy module's uninitialised
    parameters count nothing until the module has run.
    """
    seen_tensors: set[int] = set()
    rows: list[ir.ModuleInfo] = []
    for path, mod in all_module_paths(model):
        params = trainable = pbytes = tied = 0
        for p in _own(mod, "_parameters"):
            if is_uninitialized(p):
                continue  # a lazy module before its first call: no size yet
            key = _storage_key(p)
            if key in seen_tensors:
                tied += p.numel()
                continue
            seen_tensors.add(key)
            params += p.numel()
            pbytes += p.numel() * p.element_size()
            if p.requires_grad:
                trainable += p.numel()
        buffers = bbytes = 0
        for b in _own(mod, "_buffers"):
            if is_uninitialized(b):
                continue
            key = _storage_key(b)
            if key in seen_tensors:
                continue
            seen_tensors.add(key)
            buffers += b.numel()
            bbytes += b.numel() * b.element_size()
        rows.append(ir.ModuleInfo(
            path=path, class_name=type(mod).__name__, params=params, trainable_params=trainable,
            buffers=buffers, param_bytes=pbytes, buffer_bytes=bbytes, tied_params=tied,
            is_leaf=next(iter(mod.children()), None) is None, attrs=module_attrs(mod),
        ))
    return tuple(rows)


def _own(mod: Any, store: str) -> list[Any]:
    """``mod.parameters(recurse=False)`` (``store="_parameters"``) or ``buffers``, read
    from the module's own dict when its class keeps ``nn.Module``'s accessors."""
    import torch

    cls = type(mod)
    if store == "_parameters" and cls.named_parameters is not torch.nn.Module.named_parameters:
        return list(mod.parameters(recurse=False))
    if store == "_buffers" and cls.named_buffers is not torch.nn.Module.named_buffers:
        return list(mod.buffers(recurse=False))
    out: list[Any] = []
    seen: set[int] = set()
    for t in (mod.__dict__.get(store) or {}).values():
        if t is not None and id(t) not in seen:  # each tensor once, as torch yields them
            seen.add(id(t))
            out.append(t)
    return out


def _storage_key(t: Any) -> int:
    # Parameters shared between modules are the same Python object; ``id`` is only used as
    # a lookup key during this call and never reaches the output.
    return id(t)
