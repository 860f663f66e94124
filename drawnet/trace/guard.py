"""Trace a stand-in copy of the model, never the model itself, and put torch's state back.

Why a copy: a forward may write to ``self`` (``self.cache = x``), register hooks or
buffers, add or delete children, replace ``.data``, or flip flags; a no-compute trace
would also have to swap every weight for a ``meta`` stand-in. Undoing all of that on the
user's objects means knowing every way a forward can change them, restoring each one in
``finally``, and surviving a second Ctrl-C during that clean-up; and while a trace runs,
another thread using the model sees stand-ins. drawnet avoids the whole problem: each
tracer runs on :func:`stand_in`, a copy of the module tree made for that one trace.
The user's modules, parameters, buffers, hooks, attributes and the containers they hold
are only read, never written, so they come back exactly as they were whether the trace
works, fails or is interrupted, and any number of threads may draw one model at once.

The copy is cheap: module objects and the containers in their ``__dict__`` are new, and
the tensors depend on the tracer:

==========  ========================================================================
``meta``    every parameter and buffer becomes an empty ``meta`` tensor of the same
            shape, dtype, strides and ``requires_grad`` (no memory); a lazy
            module's uninitialised parameter stays uninitialised, on ``meta``.
``export``  the same tensor objects: ``torch.export`` swaps each for a fake tensor
            while it runs the forward, so writes land on the fakes; no memory. A model
            with weights partly on ``meta`` (built under ``torch.device("meta")`` by
            code with legacy constructors) gets all-``meta`` stand-ins instead.
``eager``,  parameters and buffers are cloned (a real run may write into them, through
``jit``     ``.data`` or in-place ops), so a real run costs the weights' memory once
            more; if that clone runs out of memory, storage is shared instead.
==========  ========================================================================

Aliases stay aliases: tensors are mapped per *object*, so tied weights, a module reached
under two names (``self.second = self.first``) and a batch-norm shared by two branches
keep pointing at one stand-in. Tensors that are plain attributes are copied (cloned) as
``copy.deepcopy`` would; objects that cannot be copied (locks, C handles) are shared,
which is safe because nothing of the user's is written by drawnet.

Global torch state that a forward may change (default dtype and device, grad mode,
deterministic algorithms, anomaly mode, matmul precision, threads) is restored by
:func:`torch_state_kept`, with Ctrl-C deferred while it is put back; the RNG is kept by
each tracer (``torch.random.fork_rng``).

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 4))
    >>> net.alias = net[0]
    >>> copy = stand_in(net, "meta")
    >>> copy[0].weight.device.type, copy.alias is copy[0], net[0].weight.device.type
    ('meta', True, 'cpu')
"""

from __future__ import annotations

import contextlib
import copy as copylib
import functools
import signal
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from drawnet import ir
from drawnet.trace.common import is_uninitialized

__all__ = ["has_lazy", "prepared", "settle_lazy", "stand_in", "torch_state_kept"]

# Shared as they are: immutable values, classes, functions, and exceptions (a model may
# hold one to raise; its identity is what the caller catches).
_ATOMIC = (type(None), bool, int, float, complex, str, bytes, type, range,
           types.FunctionType, types.BuiltinFunctionType, BaseException)
_SCALARS = frozenset({type(None), bool, int, float, str})
_MISSING = object()


def stand_in(model: Any, tracer: str) -> Any:
    """A copy of ``model`` for one trace by ``tracer`` (see the module docstring).

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(2, 2)
        >>> c = stand_in(net, "eager")
        >>> c is net, c.weight is net.weight, torch.equal(c.weight, net.weight)
        (False, False, True)
    """
    import torch

    memo: dict[int, Any] = {}
    keep: list[Any] = []
    memo[id(memo)] = keep  # copy.deepcopy's keep-alive convention
    modules = _all_modules(model)
    make = _TENSOR_POLICIES.get(tracer, _share)
    if tracer == "export" and _partly_on_meta(modules):
        # a model built under torch.device("meta") whose legacy constructors still made
        # some CPU tensors (torch.Tensor(n)): fake tensors cannot mix the two devices,
        # and there are no values to keep, so export traces an all-meta copy
        make = _meta
    for mod in modules:
        for store in (mod.__dict__.get("_parameters"), mod.__dict__.get("_buffers")):
            for t in (store or {}).values():
                if isinstance(t, torch.Tensor) and id(t) not in memo:
                    keep.append(t)
                    try:
                        memo[id(t)] = make(t)
                    except Exception:  # an exotic tensor subclass: use it as it is
                        memo[id(t)] = t
    copier = _Copier(memo, keep)
    for mod in modules:  # shells first, so references between modules need no recursion
        # object.__new__, not the class's own __new__ (GraphModule's makes a new class)
        shell = object.__new__(type(mod))
        memo[id(mod)] = shell
        keep.append(mod)
    copy = copier.copy
    for mod in modules:
        shell = memo[id(mod)]
        state = shell.__dict__
        for key, value in mod.__dict__.items():
            kind = type(value)
            if kind in _SCALARS:
                state[key] = value
            elif kind is OrderedDict and not value and id(value) not in memo:
                state[key] = memo[id(value)] = OrderedDict()  # an empty hook dict
            else:
                state[key] = copy(value)
        if _is_lazy(mod):
            # keep the class (LazyLinear) after the copy infers its sizes, so ids, labels
            # and rows name the class the user wrote
            state["cls_to_become"] = None
    from drawnet.trace.eager import SOURCE_BUFFERS, SOURCE_ON_META, on_meta

    copy = memo[id(model)]
    copy.__dict__[SOURCE_ON_META] = bool(getattr(model, SOURCE_ON_META, on_meta(model)))
    if tracer == "meta":
        from drawnet.trace.buffers import source_buffers

        copy.__dict__[SOURCE_BUFFERS] = model.__dict__.get(SOURCE_BUFFERS) or \
            source_buffers(model)
    return copy


def _partly_on_meta(modules: list[Any]) -> bool:
    """Whether some parameters or buffers are on ``meta`` and others on a real device."""
    import torch

    devices = {t.device.type for mod in modules
               for store in (mod.__dict__.get("_parameters"), mod.__dict__.get("_buffers"))
               for t in (store or {}).values() if isinstance(t, torch.Tensor)}
    return "meta" in devices and len(devices) > 1


def _all_modules(model: Any) -> list[Any]:
    """Every module object reachable through ``_modules``, once, without recursion."""
    import torch

    seen: set[int] = set()
    out: list[Any] = []
    stack = [model]
    while stack:
        mod = stack.pop()
        if id(mod) in seen:
            continue
        seen.add(id(mod))
        out.append(mod)
        children = mod.__dict__.get("_modules") or {}
        stack.extend(reversed([c for c in children.values()
                               if isinstance(c, torch.nn.Module)]))
    return out


def _is_lazy(mod: Any) -> bool:
    from torch.nn.modules.lazy import LazyModuleMixin

    return isinstance(mod, LazyModuleMixin)


def has_lazy(model: Any) -> bool:
    """Whether any module of ``model`` still has uninitialised (lazy) parameters.

    Example:
        >>> import torch
        >>> has_lazy(torch.nn.LazyLinear(3)), has_lazy(torch.nn.Linear(2, 3))
        (True, False)
    """
    return any(
        is_uninitialized(t)
        for mod in _all_modules(model)
        for store in (mod.__dict__.get("_parameters"), mod.__dict__.get("_buffers"))
        for t in (store or {}).values()
    )


# -- tensors ---------------------------------------------------------------------------------
def _uninitialized(t: Any, device: Any) -> Any:
    import torch

    cls: Any = (torch.nn.UninitializedParameter if isinstance(t, torch.nn.Parameter)
                else torch.nn.UninitializedBuffer)
    return cls(requires_grad=t.requires_grad, device=device, dtype=t.dtype)


def _as_original(t: Any, data: Any) -> Any:
    """``data`` as a parameter if ``t`` is one, with ``t``'s ``requires_grad``."""
    import torch

    if isinstance(t, torch.nn.Parameter):
        return torch.nn.Parameter(data, requires_grad=t.requires_grad)
    if t.requires_grad and (data.is_floating_point() or data.is_complex()):
        data.requires_grad_(True)
    return data


def _meta(t: Any) -> Any:
    import torch

    if is_uninitialized(t):
        return _uninitialized(t, "meta")
    return _as_original(t, torch.empty_like(t, device="meta"))  # same shape and strides


def _share(t: Any) -> Any:
    if is_uninitialized(t):
        return _uninitialized(t, "meta")
    # torch.export swaps every parameter and buffer for a fake tensor while it runs the
    # forward, so the copy may hold the user's tensor objects: nothing writes to them
    return t


def _clone(t: Any) -> Any:
    import torch

    if is_uninitialized(t):
        return _uninitialized(t, t.device)
    try:
        data = t.detach().clone()
    except torch.OutOfMemoryError:
        data = t.detach()  # no room for a second copy: share storage (documented)
    return _as_original(t, data)


_TENSOR_POLICIES: dict[str, Callable[[Any], Any]] = {
    "meta": _meta, "export": _share, "eager": _clone, "jit": _clone,
}


# -- everything else ---------------------------------------------------------------------------
class _Copier:
    """Copies the values in a module's ``__dict__``: containers, bound methods, hook
    handles and weak references are remade around the copies; other objects go through
    ``copy.deepcopy`` with the same memo, or are shared when they cannot be copied.

    Every value comes from a module of the live model, so none is freed while copying
    and ``id`` keys stay unique.
    """

    def __init__(self, memo: dict[int, Any], keep: list[Any]) -> None:
        self.memo = memo
        self.keep = keep

    def copy(self, value: Any) -> Any:
        kind = type(value)
        if kind in _SCALARS:
            return value
        memo = self.memo
        found = memo.get(id(value), _MISSING)
        if found is not _MISSING:
            return found
        if kind is OrderedDict or kind is dict:
            out: Any = kind()
            memo[id(value)] = out
            if value:
                copy = self.copy
                for k, v in value.items():
                    out[k] = copy(v)
            return out
        if kind is list:
            items: list[Any] = []
            memo[id(value)] = items
            items.extend([self.copy(v) for v in value])
            return items
        if kind is tuple:
            copied = tuple([self.copy(v) for v in value])
            memo[id(value)] = copied
            return copied
        if kind is set or kind is frozenset:
            result = kind([self.copy(v) for v in value])
            memo[id(value)] = result
            return result
        if isinstance(value, _ATOMIC):
            return value
        if kind is types.MethodType:
            method = types.MethodType(value.__func__, self.copy(value.__self__))
            memo[id(value)] = method
            return method
        if kind is functools.partial:
            part = functools.partial(self.copy(value.func),
                                     *[self.copy(a) for a in value.args],
                                     **{k: self.copy(v) for k, v in value.keywords.items()})
            memo[id(value)] = part
            return part
        if kind is weakref.ref:
            target = value()
            ref = value if target is None else weakref.ref(self.copy(target))
            memo[id(value)] = ref
            return ref
        if _is_handle(value):
            return self._handle(value)
        try:
            result = copylib.deepcopy(value, memo)
        except Exception:
            result = value  # cannot be copied: shared, and never written by drawnet
        memo[id(value)] = result
        return result

    def _handle(self, handle: Any) -> Any:
        """A hook handle of the copy, removing from the copy's hook dicts."""
        from torch.utils.hooks import RemovableHandle

        state = handle.__getstate__()
        new = RemovableHandle.__new__(RemovableHandle)
        mapped = (self.copy(state[0]) if state[0] is not None else None, state[1],
                  *((tuple(self.copy(d) for d in state[2] if d is not None),)
                    if len(state) > 2 and state[2] is not None else ()))
        new.__setstate__(mapped)
        self.memo[id(handle)] = new
        return new


def _is_handle(value: Any) -> bool:
    from torch.utils.hooks import RemovableHandle

    return type(value) is RemovableHandle


# -- the copy a tracer runs on -----------------------------------------------------------------
def prepared(model: Any, tracer: str, inputs: Any, mode: str) -> tuple[Any, bool]:
    """The stand-in ``tracer`` runs on, in ``mode``, and whether it holds lazy modules.

    A lazy module (``nn.LazyLinear``) learns its sizes from its first input; the
    recorders cannot watch that first call (it allocates the weights inside their
    hooks), so a model with lazy modules is run once first, unrecorded: on ``meta``
    inputs for the no-compute tracers (``export`` then traces that meta-weight copy),
    for real for ``eager`` and ``jit``. The user's modules stay lazy.

    Example:
        >>> import torch
        >>> from drawnet.trace.inputs import parse_inputs
        >>> net = torch.nn.Sequential(torch.nn.LazyLinear(3))
        >>> copy, lazy = prepared(net, "meta", parse_inputs(net, [1, 4]), "eval")
        >>> tuple(copy[0].weight.shape), lazy, has_lazy(net)
        ((3, 4), True, True)
    """
    import torch

    from drawnet.trace.common import TracerFailure
    from drawnet.trace.inputs import materialize

    lazy = has_lazy(model)
    if not lazy:
        return _in_mode(stand_in(model, tracer), mode), False
    if tracer in ("meta", "export"):
        first = _in_mode(stand_in(model, "meta"), mode)
        device: Any = "meta"
    else:
        first = _in_mode(stand_in(model, tracer), mode)
        from drawnet.trace.eager import _model_device

        device = _model_device(first)
    args, kwargs = materialize(inputs, device, fill=device != "meta")
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            first(*args, **kwargs)
    except Exception as e:
        raise TracerFailure(
            f"{tracer} trace failed while the lazy modules inferred their sizes: "
            f"{type(e).__name__}: {e}; check the input shapes", tracer=tracer) from e
    if tracer == "export":
        return _in_mode(stand_in(first, "export"), mode), True
    return first, True


def _in_mode(copy: Any, mode: str) -> Any:
    if mode in ("eval", "train"):
        # torch.export's module refuses train(): it stays in its exported mode
        with contextlib.suppress(NotImplementedError):
            copy.train(mode == "train")
    return copy


# -- lazy modules ------------------------------------------------------------------------------
def settle_lazy(graph: ir.Graph, traced: Any) -> ir.Graph:
    """``graph`` with the parameter counts and attributes the trace inferred for lazy
    modules, read from ``traced`` (the stand-in that ran); class names are unchanged.

    Example:
        >>> import torch
        >>> from drawnet.trace import trace
        >>> from drawnet.trace.inputs import parse_inputs
        >>> net = torch.nn.Sequential(torch.nn.LazyLinear(10))
        >>> trace(net, parse_inputs(net, [1, 4])).totals.params
        50
    """
    import dataclasses

    from drawnet.trace.common import module_table

    fresh = {m.path: m for m in module_table(traced)}
    modules = []
    for m in graph.modules:
        f = fresh.get(m.path)
        if f is not None:
            m = dataclasses.replace(
                m, params=f.params, trainable_params=f.trainable_params,
                buffers=f.buffers, param_bytes=f.param_bytes, buffer_bytes=f.buffer_bytes,
                tied_params=f.tied_params, attrs=f.attrs)
        modules.append(m)
    totals = dataclasses.replace(
        graph.totals,
        params=sum(m.params for m in modules),
        trainable_params=sum(m.trainable_params for m in modules),
        buffers=sum(m.buffers for m in modules),
        param_bytes=sum(m.param_bytes for m in modules),
        buffer_bytes=sum(m.buffer_bytes for m in modules),
    )
    return graph.replace(modules=tuple(modules), totals=totals)


# -- global torch state ------------------------------------------------------------------------
def _state_items() -> list[tuple[Callable[[], Any], Callable[[Any], None]]]:
    """(get, set) pairs for the global torch settings a forward may change."""
    import torch

    items: list[tuple[Callable[[], Any], Callable[[Any], None]]] = [
        (torch.get_default_dtype, torch.set_default_dtype),
        (torch.is_grad_enabled, _set_grad_enabled),
        (torch.get_num_threads, torch.set_num_threads),
        (torch.is_anomaly_enabled, torch.set_anomaly_enabled),
        (torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
        (lambda: (torch.are_deterministic_algorithms_enabled(),
                  torch.is_deterministic_algorithms_warn_only_enabled()),
         lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1])),
    ]
    get_device = getattr(torch, "get_default_device", None)
    if get_device is not None:
        items.append((get_device, torch.set_default_device))
    # Not here: the RNG (every tracer runs under torch.random.fork_rng), and the cudnn and
    # mkldnn flags, which torch.export itself switches off while it runs: a snapshot taken
    # in another thread at that moment would put them back switched off.
    return items


def _set_grad_enabled(flag: Any) -> None:
    import torch

    torch.set_grad_enabled(bool(flag))


def _snapshot() -> list[tuple[Callable[[Any], None], Any, Any]]:
    out = []
    for get, put in _state_items():
        try:
            value = get()
        except Exception:
            continue
        out.append((put, value, get))
    return out


def _put_back(saved: list[tuple[Callable[[Any], None], Any, Any]]) -> None:
    import torch

    for put, value, get in saved:
        try:
            now = get()
            same = torch.equal(now, value) if isinstance(value, torch.Tensor) else now == value
            if not same:
                put(value)
        except Exception:
            continue


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block is done, then deliver it; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    try:
        old = signal.signal(signal.SIGINT, lambda sig, frame: got.append(sig))
    except (ValueError, OSError, TypeError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if got and callable(old):
            old(signal.SIGINT, None)


def _restore(saved: list[tuple[Callable[[Any], None], Any, Any]]) -> None:
    """Put the settings back, even if Ctrl-C arrives while doing it (then re-raised)."""
    pending: BaseException | None = None
    for _ in range(3):
        try:
            with _interrupts_deferred():
                _put_back(saved)
            break
        except KeyboardInterrupt as e:  # before the handler was in place, or delivered
            pending = e
    if pending is not None:
        raise pending


@contextlib.contextmanager
def torch_state_kept() -> Iterator[None]:
    """Run a block, then restore the global torch settings a forward may have changed.

    Example:
        >>> import torch
        >>> with torch_state_kept():
        ...     torch.set_default_dtype(torch.float64)
        >>> torch.get_default_dtype()
        torch.float32
    """
    saved = _snapshot()
    try:
        yield
    finally:
        _restore(saved)
