"""drawnet: clear, layer-level architecture diagrams of PyTorch models.

Example:
    >>> import torch, drawnet
    >>> d = drawnet.draw_model(torch.nn.Linear(4, 2), [1, 4])
    >>> d.source.startswith("digraph")
    True

Importing drawnet does not import torch; the first trace does. The public names are
loaded on first use (PEP 562), so ``drawnet --help`` and option errors on the command
line cost no more than Python's own start-up.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "draw_model": "drawnet.api",
    "explore": "drawnet.api",
    "model_stats": "drawnet.api",
    "summary": "drawnet.api",
    "trace_model": "drawnet.api",
    "Theme": "drawnet.emit.theme",
    "DrawnetError": "drawnet.errors",
    "InputError": "drawnet.errors",
    "ModelTypeError": "drawnet.errors",
    "OptionError": "drawnet.errors",
    "OutputError": "drawnet.errors",
    "RenderError": "drawnet.errors",
    "TraceError": "drawnet.errors",
    "UnsafeFileError": "drawnet.errors",
    "LoadError": "drawnet.loaders",
    "load_program": "drawnet.loaders",
    "Diagram": "drawnet.notebook",
    "Summary": "drawnet.summary",
    "TracedModel": "drawnet.traced",
    "traced": "drawnet.traced",
}

if TYPE_CHECKING:
    from drawnet.api import draw_model, explore, model_stats, summary, trace_model
    from drawnet.emit.theme import Theme
    from drawnet.errors import (
        DrawnetError,
        InputError,
        ModelTypeError,
        OptionError,
        OutputError,
        RenderError,
        TraceError,
        UnsafeFileError,
    )
    from drawnet.loaders import LoadError, load_program
    from drawnet.notebook import Diagram
    from drawnet.summary import Summary
    from drawnet.traced import TracedModel, traced


def __getattr__(name: str) -> Any:
    """Load a public name, or a submodule (``drawnet.ir``), on first use."""
    where = _EXPORTS.get(name)
    if where is not None:
        value = getattr(importlib.import_module(where), name)
    elif not name.startswith("__"):
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(types.ModuleType):
    """The package object: ``drawnet.summary`` stays the function when the submodule of
    the same name is imported later (the import system would set the attribute to the
    submodule; ``from drawnet.summary import Summary`` is not affected)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "Diagram",
    "DrawnetError",
    "InputError",
    "LoadError",
    "ModelTypeError",
    "OptionError",
    "OutputError",
    "RenderError",
    "Summary",
    "Theme",
    "TraceError",
    "TracedModel",
    "UnsafeFileError",
    "__version__",
    "draw_model",
    "explore",
    "load_program",
    "model_stats",
    "summary",
    "trace_model",
    "traced",
]
