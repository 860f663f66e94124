"""Room on Python's stack for models nested deeper than its default limit allows.

A plain forward through N nested modules takes about 4 Python frames per level, a trace
5 to 7 (hooks, the torch function mode). Python stops at 1,000 frames, so a ``Sequential``
nested 200 deep runs but cannot be traced, and one 1,000 deep cannot even be walked
with ``named_modules``. :func:`room_for` raises the limit for the duration of a trace,
in proportion to the model's depth (measured without recursion), and restores it.

Example:
    >>> import sys, torch
    >>> net = torch.nn.Linear(2, 2)
    >>> for _ in range(300):
    ...     net = torch.nn.Sequential(net)
    >>> module_depth(net)
    300
    >>> before = sys.getrecursionlimit()
    >>> with room_for(net):
    ...     sys.getrecursionlimit() >= 300 * FRAMES_PER_LEVEL
    True
    >>> sys.getrecursionlimit() == before
    True
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

FRAMES_PER_LEVEL = 12
"""Frames a limit allows per level of nesting (twice what a meta or export trace uses)."""
MAX_LIMIT = 30_000
"""Highest limit set: deeper still, Python's own C stack is the risk (a crash instead of
a ``RecursionError``), so such models fail with a clear error instead."""


def module_depth(model: Any) -> int:
    """Levels of submodules below ``model`` (0 for a leaf), walked without recursion."""
    import torch

    plain = torch.nn.Module.children
    deepest = 0
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(model, 0)]
    while stack:
        module, depth = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        deepest = max(deepest, depth)
        if isinstance(module, torch.nn.Module) and type(module).children is plain:
            # nn.Module.children(): the registered submodules, each once
            subs = module.__dict__.get("_modules") or {}
            stack.extend((child, depth + 1) for child in subs.values() if child is not None)
            continue
        children = getattr(module, "children", None)
        if callable(children):
            stack.extend((child, depth + 1) for child in children())
    return deepest


@contextlib.contextmanager
def room_for(model: Any) -> Iterator[int]:
    """Raise the recursion limit enough to trace ``model``; yield the model's depth.

    Nothing changes for the usual model (under about 60 levels).
    """
    depth = module_depth(model)
    before = sys.getrecursionlimit()
    wanted = min(MAX_LIMIT, 1000 + depth * FRAMES_PER_LEVEL)
    if wanted <= before:
        yield depth
        return
    sys.setrecursionlimit(wanted)
    try:
        yield depth
    finally:
        if sys.getrecursionlimit() == wanted:
            sys.setrecursionlimit(before)
