"""Tell a model's own error from a meta-device artefact, so ``auto`` can stop at once.

When the meta trace stops, ``tracer='auto'`` used to try ``export`` (about 1-40 s) and
then a real run before reporting a plain shape mismatch that every tracer hits at the
same place. A failure is the model's (or the inputs') own when a real run would raise
it too:

- raised by a torch op: the same op, called on CPU with zero-filled tensors of the same
  shapes, dtypes and strides, raises as well (its checks are the real kernel's). Inputs
  above :data:`REPLAY_BYTES` are not replayed, and failures that name the meta device, a
  missing meta kernel or tensor values are never the model's own;
- raised by the model's Python code itself (a ``ValueError``, an ``assert`` or a
  ``torch._assert`` on shapes, outside torch and drawnet) or by a ``torch.nn`` module's
  own checks (``nn.LSTM`` on its input size): the shapes checked are those of a real run.

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

REPLAY_BYTES = 1 << 30
"""Largest total input (bytes) an op is replayed on. Floating-point tensors are left
uninitialised (``torch.empty``: no page is touched unless the op computes), integer and
boolean ones zero-filled (valid indices) up to :data:`FILLED_BYTES`."""
FILLED_BYTES = 1 << 24

_ARTEFACT_MARKS = ("meta", "Meta", "device", "no data", "fake", "Fake")
_OWN_TYPES = (ValueError, AssertionError, TypeError, IndexError, KeyError, RuntimeError)


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

    Meta tensors become CPU tensors of the same shape, dtype and strides (integers and
    booleans zero, floats uninitialised); every other argument is passed as it was.
    """
    import torch

    if _artefact(exc):
        return False
    total = filled = 0

    def walk(v: Any, depth: int) -> Any:
        nonlocal total, filled
        if isinstance(v, torch.Tensor):
            if v.device.type != "meta":
                return v
            size = v.numel() * v.element_size()
            total += size
            if v.dtype.is_floating_point or v.dtype.is_complex:
                if total > REPLAY_BYTES:
                    raise OverflowError
                return torch.empty_like(v, device="cpu")
            filled += size
            if filled > FILLED_BYTES or total > REPLAY_BYTES:
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
    """Whether ``exc`` was raised by the model's own Python code or a ``torch.nn`` module's
    checks (not by other torch code or drawnet), as a ``ValueError``, ``AssertionError``,
    ``TypeError``, ``IndexError``, ``KeyError`` or ``RuntimeError`` that does not come
    from the meta device or from tensor values.

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
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    while frames and frames[-1].co_name == "_assert" and frames[-1].co_filename.replace(
            os.sep, "/").endswith("/torch/__init__.py"):
        frames.pop()  # ``torch._assert(cond, msg)`` is the model's own check
    if not frames:
        return False
    path = frames[-1].co_filename.replace(os.sep, "/")
    if "/torch/nn/modules/" in path:  # a module's own check (``LSTM`` on the input size)
        return True
    return not any(part in path for part in ("/torch/", "/drawnet/trace/", "/drawnet/stats"))
