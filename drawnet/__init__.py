"""drawnet: clear, layer-level architecture diagrams of PyTorch models.

Example:
    >>> import torch, drawnet
    >>> d = drawnet.draw_model(torch.nn.Linear(4, 2), [1, 4])
    >>> d.source.startswith("digraph")
    True

Importing drawnet does not import torch; the first trace does.
"""

from drawnet.api import draw_model, model_stats, summary, trace_model
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
from drawnet.notebook import Diagram
from drawnet.summary import Summary
from drawnet.traced import TracedModel, traced

__version__ = "0.1.0"

__all__ = [
    "Diagram",
    "DrawnetError",
    "InputError",
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
    "model_stats",
    "summary",
    "trace_model",
    "traced",
]
