"""Tracing: the only part of drawnet that imports torch.

``trace(model, inputs, tracer=...)`` returns an op-level :class:`drawnet.ir.Graph`.
Tracers:

=========  =====================================================================
``meta``   eager run on ``meta`` stand-ins for weights and inputs: no compute, no
           allocation, any model size; fails on data-dependent control flow.
``eager``  a real forward pass (the model's own weights, cloned buffers).
``jit``    ``torch.jit.trace`` (real compute; deprecated by torch since 2.9).
``auto``   ``meta``, then ``eager``, then ``jit``: the first that works. The one used
           is recorded in ``graph.meta`` as ``tracer``.
=========  =====================================================================
"""

from __future__ import annotations

from typing import Any

from drawnet import ir
from drawnet.errors import ModelTypeError, TraceError, choices

TRACERS = ("auto", "meta", "eager", "jit")
MODES = ("eval", "train", "same")


def check_model(model: Any) -> None:
    """Raise :class:`ModelTypeError` unless ``model`` is an ``nn.Module`` instance."""
    import torch

    if isinstance(model, type) and issubclass(model, torch.nn.Module):
        raise ModelTypeError(
            f"got the class {model.__name__}, not a model: pass an instance, "
            f"e.g. {model.__name__}()"
        )
    if not isinstance(model, torch.nn.Module):
        raise ModelTypeError(
            f"model must be a torch.nn.Module instance, got {type(model).__name__}"
        )


def trace(model: Any, inputs: Any, *, tracer: str = "auto", mode: str = "eval") -> ir.Graph:
    """Trace ``model`` on ``inputs`` (a :class:`~drawnet.trace.inputs.ModelInputs`).

    The model comes back as it was: training flags, ``requires_grad``, hooks, weights
    and device, whether the trace works or raises.
    """
    from drawnet.trace.common import guarded

    if tracer not in TRACERS:
        raise choices(tracer, TRACERS, "tracer")
    if mode not in MODES:
        raise choices(mode, MODES, "mode")
    check_model(model)
    order = ("meta", "eager", "jit") if tracer == "auto" else (tracer,)
    if tracer == "auto" and _on_meta(model):
        order = ("meta",)
    errors: list[TraceError] = []
    for name in order:
        try:
            with guarded(model, mode=mode):
                return _run(name, model, inputs)
        except TraceError as e:
            errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    tried = "; ".join(str(e) for e in errors)
    raise TraceError(f"every tracer failed: {tried}") from errors[0]


def _run(name: str, model: Any, inputs: Any) -> ir.Graph:
    if name == "jit":
        from drawnet.trace.jit import record_jit

        return record_jit(model, inputs)
    from drawnet.trace.eager import record

    return record(model, inputs, tracer=name)


def _on_meta(model: Any) -> bool:
    for t in model.parameters():
        return str(t.device) == "meta"
    return False
