"""Tracing: the only part of drawnet that imports torch.

``trace(model, inputs, tracer=...)`` returns an op-level :class:`drawnet.ir.Graph`.
Tracers:

==========  ====================================================================
``meta``    eager run on ``meta`` stand-ins for weights and inputs (a stand-in copy
            of the model, :mod:`drawnet.trace.guard`): no compute, no allocation, any
            model size; torch's shape checks kept (:mod:`drawnet.trace.checks`);
            fails on data-dependent control flow and on tensors the model makes on a
            real device inside ``forward`` (``x * torch.tensor([1., 2.])``).
``export``  ``torch.export.export`` on fake tensors: no compute, no allocation;
            module calls from ``nn_module_stack``, shapes from ``meta['val']``;
            handles tensors made inside ``forward``; fails on data-dependent
            control flow.
``eager``   a real forward pass (the model's own weights, cloned buffers); follows
            any control flow, drawing the branch these inputs took.
``jit``     ``torch.jit.trace`` (real compute; deprecated by torch since 2.9).
``auto``    ``meta``, then ``export``, then ``eager``, then ``jit``: the first that
            works (a model on the meta device: ``meta``, then ``export``). The one used
            is recorded in ``graph.meta`` as ``tracer``; when a real run had to be
            used because the model branches on tensor values, ``graph.meta`` also has
            a ``note`` saying the drawing shows the branch taken for these inputs.
==========  ====================================================================

Why this order (measured on 2 CPU threads, torch 2.15, best of 3): ``meta`` is the
fastest by far (resnet18 at 1×3×224×224: 0.04 s; vit_b_16: 0.17 s; BERT-base at 1×128:
0.23 s; a 70 B-parameter Llama on the meta device: 2-3 s) and traces every model of the
test zoo (all 80 torchvision classification models, segmentation, video, RNNs,
transformers' BERT/GPT-2/T5/Llama/ViT). ``export`` takes 0.44, 1.1 and 1.2 s on those
three and also computes nothing, so it comes next: it rescues models that make tensors
on a real device inside ``forward`` (the meta stand-ins cannot mix with them) and code
that branches on values only when it does not see a tracer (transformers' packed-sequence
check when ``use_cache=False``). Only then a real run: ``eager`` (0.24, 0.81 and 0.72 s,
and real memory) before ``jit`` (0.9, 1.5 and 2.2 s; deprecated, and it cannot trace
outputs such as transformers' ``ModelOutput`` with a cache).

A failure that is the model's or the inputs' own (a shape mismatch: every tracer would
stop at the same place) ends ``auto`` at once rather than running the model for real:
when the meta trace stops in a torch op that raises on CPU too, or in the model's own
Python checks, no other tracer runs (``failfast.py``); otherwise when ``meta`` and
``export`` stop at the same place. When a later tracer draws the model, ``graph.meta``
says why the earlier ones failed (``fallback`` entries).

The meta tracer reads tensor values that do not depend on the weights (attention masks,
lengths, positions) from real CPU copies computed beside the run, and answers
``nonzero`` and mixture-of-experts routing of weight-dependent tensors with stated
assumptions (``scalars.py``); recurrences and grouped expert products are answered from
shapes (``recurrent.py``, ``moe.py``).
"""

from __future__ import annotations

import threading
from typing import Any

from drawnet import ir
from drawnet.errors import ModelTypeError, TraceError, choices

TRACERS = ("auto", "meta", "export", "eager", "jit")
MODES = ("eval", "train", "same")
NO_COMPUTE = ("meta", "export")
"""Tracers that compute nothing and allocate no weight or activation."""


def check_model(model: Any) -> None:
    """Raise :class:`ModelTypeError` unless ``model`` is an ``nn.Module`` instance.

    Example:
        >>> import torch
        >>> check_model(torch.nn.Linear(2, 2))
        >>> check_model(torch.nn.Linear)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        drawnet.errors.ModelTypeError: got the class Linear, not a model: pass an instance, ...
    """
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
    if isinstance(model, torch.jit.ScriptModule):
        raise ModelTypeError(
            f"{type(model).__name__} is a TorchScript module (torch.jit.script or "
            "torch.jit.load), which takes no forward hooks, so drawnet cannot trace it: "
            "draw the Python nn.Module it was made from"
        )


def auto_order(model: Any) -> tuple[str, ...]:
    """The tracers ``tracer='auto'`` tries, in order (see the module docstring).

    Example:
        >>> import torch
        >>> auto_order(torch.nn.Linear(2, 2)), auto_order(torch.nn.Linear(2, 2, device="meta"))
        (('meta', 'export', 'eager', 'jit'), ('meta', 'export'))
    """
    from drawnet.trace.eager import on_meta

    return NO_COMPUTE if on_meta(model) else ("meta", "export", "eager", "jit")


def trace(model: Any, inputs: Any, *, tracer: str = "auto", mode: str = "eval") -> ir.Graph:
    """Trace ``model`` on ``inputs`` (a :class:`~drawnet.trace.inputs.ModelInputs`).

    The model comes back as it was, whether the trace works, raises or is interrupted:
    every tracer runs on a stand-in copy (:func:`drawnet.trace.guard.stand_in`), so the
    user's modules, weights, hooks and attributes are only read; global torch settings a
    forward changes are put back.

    Example:
        >>> import torch
        >>> from drawnet.trace.inputs import parse_inputs
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2))
        >>> trace(net, parse_inputs(net, [1, 4])).get_meta("tracer")
        'meta'
    """
    from drawnet.trace.stack import room_for

    if tracer not in TRACERS:
        raise choices(tracer, TRACERS, "tracer")
    if mode not in MODES:
        raise choices(mode, MODES, "mode")
    check_model(model)
    with room_for(model) as depth:
        return _trace(model, inputs, tracer, mode, depth)


def _trace(model: Any, inputs: Any, tracer: str, mode: str, depth: int) -> ir.Graph:
    order = auto_order(model) if tracer == "auto" else (tracer,)
    errors: list[TraceError] = []
    for name in order:
        try:
            graph = _run_on_stand_in(name, model, inputs, mode)
        except RecursionError as e:
            raise TraceError(
                f"{name} trace ran out of Python stack: the model nests modules {depth} "
                "levels deep, more than drawnet can follow; draw an inner part of it"
            ) from e
        except TraceError as e:
            errors.append(e)
            if tracer == "auto" and (_own_fault(errors) or _rejected(e)):
                break
            continue
        except (MemoryError, RuntimeError) as e:
            if not out_of_memory(e):
                raise
            errors.append(_memory_error(name, e))
            continue
        if errors:
            graph = graph.replace(meta=(*graph.meta, *_fallback_meta(name, errors)))
        from drawnet.trace.moe import notes as moe_notes

        return graph.replace(meta=(*graph.meta, *moe_notes(graph)))
    if len(errors) == 1:
        missing = _missing_inputs(errors, model, inputs)
        if missing:
            error = TraceError(f"{errors[0]}; {missing}")
            error.partial = errors[0].partial
            raise error from errors[0]
        raise errors[0]
    combined = _combined(errors, model)
    missing = _missing_inputs(errors, model, inputs)
    if missing:
        combined = TraceError(f"{combined}; {missing}")
    combined.partial = _furthest(errors)
    raise combined from _most_telling(errors)


_NOT_INPUTS = frozenset({"return_dict", "use_cache", "labels", "return_loss", "cache_position",
                         "past_key_values", "output_attentions", "output_hidden_states",
                         "interpolate_pos_encoding"})


def _missing_inputs(errors: list[TraceError], model: Any, inputs: Any) -> str:
    """A hint when the model's forward used ``None`` for something (``'NoneType' object
    has no attribute ...``): it probably needs an input that was not given; names the
    ones ``forward`` takes that were not passed."""
    if not any("'NoneType' object" in str(e) for e in errors):
        return ""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return ""
    given = {s.name.split(".")[0] for s in inputs.specs} | set(inputs.extra)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in params if p.kind in kinds and p.name not in given
             and p.name not in _NOT_INPUTS and not p.name.startswith("output_")]
    if not names:
        return ""
    listed = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    return (f"the model's forward used None where it needed a value: it may need an input "
            f"that was not given (forward also takes {listed}); pass it with input_size "
            "as a dict of shapes, input_data or kwargs")


def _furthest(errors: list[TraceError]) -> Any:
    """The partial graph of the failed tracer that got furthest (most ops), or None."""
    graphs = [e.partial for e in errors if isinstance(e.partial, ir.Graph)]
    return max(graphs, key=lambda g: sum(1 for n in g.nodes if n.kind == "function"),
               default=None)


def _rejected(error: TraceError) -> bool:
    """The tracer found an error a real run would raise too (see ``failfast.py``)."""
    from drawnet.trace.common import REJECTED, TracerFailure

    return isinstance(error, TracerFailure) and error.kind == REJECTED


def out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` says memory ran out (Python's ``MemoryError``, torch's allocators).

    Example:
        >>> out_of_memory(MemoryError()), out_of_memory(RuntimeError("shape mismatch"))
        (True, False)
    """
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        return True
    text = str(e).lower()
    return "can't allocate memory" in text or "out of memory" in text


def _memory_error(name: str, e: BaseException) -> TraceError:
    text = str(e).strip().splitlines()
    cause = f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
    error = TraceError(
        f"{name} trace ran out of memory ({cause[:200]}): a real run needs memory for the "
        "weights and activations; use tracer='meta' (no compute, no memory) or smaller inputs"
    )
    error.__cause__ = e
    return error


def _own_fault(errors: list[TraceError]) -> bool:
    """The two no-compute tracers stopped in the same module, and not because of tensor
    values or the meta device: a real run would stop there too (a shape mismatch), so
    ``auto`` ends rather than run the model for real."""
    from drawnet.trace.blame import is_final
    from drawnet.trace.common import DATA_DEPENDENT, TracerFailure

    if len(errors) == 1 and errors[0].__cause__ is not None:
        return is_final(errors[0].__cause__)  # a NameError in the model's code: no tracer helps
    if len(errors) != 2:
        return False
    a, b = errors
    return (
        isinstance(a, TracerFailure) and isinstance(b, TracerFailure)
        and (a.tracer, b.tracer) == NO_COMPUTE and DATA_DEPENDENT not in (a.kind, b.kind)
        and bool(a.place) and a.place == b.place and "meta" not in a.cause.lower()
    )


def _most_telling(errors: list[TraceError]) -> TraceError:
    """The failure to chain: the last no-compute one (export's message is torch's own)."""
    from drawnet.trace.common import TracerFailure

    for e in reversed(errors):
        if isinstance(e, TracerFailure) and e.tracer in NO_COMPUTE:
            return e
    return errors[0]


def _combined(errors: list[TraceError], model: Any) -> TraceError:
    """One error for several failed tracers: where, why, and what may work instead."""
    from drawnet.trace.blame import MODEL_CODE, model_code
    from drawnet.trace.common import DATA_DEPENDENT, TracerFailure
    from drawnet.trace.eager import hint

    failures = [e for e in errors if isinstance(e, TracerFailure)]
    names = " and ".join(e.tracer for e in failures) if len(failures) == 2 else ", ".join(
        e.tracer for e in failures)
    if len(failures) == len(errors):
        last = _most_telling(errors)
        assert isinstance(last, TracerFailure)
        if all(e.kind == DATA_DEPENDENT for e in failures):
            return TraceError(f"{names} traces failed {last.place}: {last.cause}; "
                              f"{hint(last.tracer, DATA_DEPENDENT, model)}")
        advice = model_code(last.__cause__) if last.__cause__ is not None else ""
        if _own_fault(errors):
            return TraceError(
                f"{names} traces failed {last.place}: {last.cause}; " + (advice or (
                    "a real run would stop there too: check the input shapes and dtypes"))
            )
        if len({(e.place, e.cause) for e in failures}) == 1:
            return TraceError(f"every tracer ({names}) failed {last.place}: {last.cause}; "
                              + (advice or "check the input shapes and dtypes"))
    parts = "; ".join(
        f"{e.tracer} {e.place}: {e.cause}" if isinstance(e, TracerFailure) else str(e)
        for e in errors
    )
    blamed = [e.__cause__ for e in failures if e.kind == MODEL_CODE and e.__cause__]
    tail = f"; {model_code(blamed[0])}" if blamed else ""
    return TraceError(f"every tracer failed: {parts}{tail}")


def _fallback_meta(name: str, errors: list[TraceError]) -> tuple[tuple[str, str], ...]:
    """``graph.meta`` facts for a graph made after other tracers failed."""
    from drawnet.trace.common import DATA_DEPENDENT, TracerFailure

    failed = [e for e in errors if isinstance(e, TracerFailure)]
    tried = ", ".join(e.tracer for e in failed)
    facts: list[tuple[str, str]] = [("tried", tried)] if tried else []
    facts += [("fallback", f"{e.tracer} failed {e.place}: {e.cause}") for e in failed]
    if name in ("eager", "jit") and any(e.kind == DATA_DEPENDENT for e in failed):
        facts.append(("note", (
            "the model branches on tensor values: drawn from a real run, so this is the "
            "branch taken for these inputs"
        )))
    elif name in ("eager", "jit") and failed:
        facts.append(("note", (
            f"drawn from a real run ({name}): the no-compute tracers failed "
            f"({failed[0].tracer}: {failed[0].cause})"
        )))
    return tuple(facts)


def _run_on_stand_in(name: str, model: Any, inputs: Any, mode: str) -> ir.Graph:
    """Run tracer ``name`` on a stand-in copy of ``model`` (see :mod:`drawnet.trace.guard`),
    in ``mode``, with torch's global settings put back afterwards."""
    from drawnet.trace.common import TracerFailure
    from drawnet.trace.guard import prepared, settle_lazy, torch_state_kept

    with torch_state_kept():
        try:
            copy, lazy = prepared(model, name, inputs, mode)
        except TraceError:
            raise
        except Exception as e:
            if out_of_memory(e):
                raise  # no room for a copy of the weights: reported as such by _trace
            raise TracerFailure(
                f"{name} trace could not copy the model to trace it: "
                f"{type(e).__name__}: {e}", tracer=name) from e
        graph = _run(name, copy, inputs)
        return settle_lazy(graph, copy) if lazy else graph


ONE_AT_A_TIME = threading.Lock()
"""Held while ``torch.export`` or ``torch.jit.trace`` runs.

Both keep their tracing state process-wide (torch's dispatch-mode stack, the jit tracing
state), and the export tracer silences torch's chatter by swapping ``sys.stderr`` and the
``warnings`` filters; two of them at once, from two threads, fail ("Trying to pop empty
mode stack") or draw wrong graphs. So these two tracers run one at a time in a process,
whatever the model. The ``meta`` and ``eager`` tracers keep their state per thread and per
stand-in copy and run concurrently. This lock is drawnet's one piece of process-wide
state: it holds no model and nothing else.
"""


def _run(name: str, model: Any, inputs: Any) -> ir.Graph:
    if name == "jit":
        from drawnet.trace.jit import record_jit

        with ONE_AT_A_TIME:
            return record_jit(model, inputs)
    if name == "export":
        from drawnet.trace.export import record_export

        with ONE_AT_A_TIME:
            return record_export(model, inputs)
    from drawnet.trace.eager import record

    return record(model, inputs, tracer=name)
