"""Tell a model's own error from a meta-device artefact, so ``auto`` can stop at once.

When the meta trace stops, ``tracer='auto'`` used to try ``export`` (about 1-40 s) and
then a real run before reporting a plain shape mismatch that every tracer hits at the
same place. A failure is the model's (or the inputs') own when a real run would raise
it too:

- raised by a torch op: the same op, called on CPU with zero-filled tensors of the same
  shapes, dtypes and strides, raises as well (its checks are the real kernel's). Inputs
  above :data:`REPLAY_BYTES` are not replayed, and failures that name the meta device, a
  missing meta kernel or tensor values are never the model's own;
- raised by the model's Python code itself (a ``ValueError`` or an ``assert`` on shapes,
  outside torch and drawnet): the shapes it checked are those of a real run.

Example:
    >>> import torch
    >>> x, w = torch.empty(1, 4, device="meta"), torch.empty(2, 3, device="meta")
    >>> try:
    ...     torch.nn.functional.linear(x, w)
    ... except RuntimeError as e:
    ...     print(replay_rejects(torch.nn.functional.linear, (x, w), {}, e))
    True
"""

from __future__ import annotations

import os
from typing import Any

from drawnet.trace.common import DATA_DEPENDENT, failure_kind

REPLAY_BYTES = 1 << 24
"""Largest total input (bytes) an op is replayed on for real."""

_ARTEFACT_MARKS = ("meta", "Meta", "device", "no data", "fake", "Fake")
_OWN_TYPES = (ValueError, AssertionError, TypeError, IndexError, KeyError)


def _artefact(exc: BaseException) -> bool:
    """The failure names the meta device or tensor values, or a kernel torch lacks."""
    if failure_kind(exc) == DATA_DEPENDENT:
        return True
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, NotImplementedError) or any(m in str(e) for m in _ARTEFACT_MARKS):
            return True
        e = e.__cause__ or e.__context__
    return False


def replay_rejects(func: Any, args: Any, kwargs: dict[str, Any], exc: BaseException) -> bool:
    """Whether the op ``func`` that raised ``exc`` on meta tensors also raises on CPU.

    Meta tensors become zero-filled CPU tensors of the same shape, dtype and strides;
    every other argument is passed as it was.
    """
    import torch

    if _artefact(exc):
        return False
    total = 0

    def walk(v: Any, depth: int) -> Any:
        nonlocal total
        if isinstance(v, torch.Tensor):
            if v.device.type != "meta":
                return v
            total += v.numel() * v.element_size()
            if total > REPLAY_BYTES:
                raise OverflowError
            return torch.zeros_like(v, device="cpu")
        if isinstance(v, torch.device) and v.type == "meta":
            return torch.device("cpu")
        if depth < 3 and isinstance(v, list | tuple):
            items = [walk(x, depth + 1) for x in v]
            return type(v)(*items) if hasattr(v, "_fields") else type(v)(items)
        if depth < 2 and type(v) is dict:
            return {k: walk(x, depth + 1) for k, x in v.items()}
        return v

    try:
        cpu_args = tuple(walk(a, 1) for a in args)
        cpu_kwargs = {k: walk(v, 1) for k, v in kwargs.items()}
    except OverflowError:
        return False
    try:
        func(*cpu_args, **cpu_kwargs)
    except Exception:
        return True
    return False


def own_python_error(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by the model's own Python code (not by torch or drawnet),
    as a ``ValueError``/``AssertionError``/``TypeError``/``IndexError``/``KeyError`` that
    does not come from the meta device or from tensor values.

    Example:
        >>> def forward():
        ...     raise ValueError("expected 3 channels")
        >>> try:
        ...     forward()
        ... except ValueError as e:
        ...     own_python_error(e)
        True
    """
    if not isinstance(exc, _OWN_TYPES) or _artefact(exc):
        return False
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return False
    path = last.tb_frame.f_code.co_filename.replace(os.sep, "/")
    return not any(part in path for part in ("/torch/", "/drawnet/trace/", "/drawnet/stats"))
