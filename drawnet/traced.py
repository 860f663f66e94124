"""Trace once, then draw at several depths and summarise without tracing again.

``drawnet.traced(model, inputs)`` runs the tracer once and returns a
:class:`TracedModel`: a snapshot of the op-level graph (shapes, parameters, MACs, the
notes of what the trace read or assumed). Its ``draw(...)``, ``summary(...)`` and
``stats()`` take the options of :func:`drawnet.draw_model`, :func:`drawnet.summary` and
:func:`drawnet.model_stats` (all but the inputs and the tracer) and cost only the passes,
the layout and the table. The same object can be passed to those functions in place of
a model.

It keeps no reference to the model: changing the model afterwards does not change it,
and the snapshot can outlive the model. (The function is ``traced`` because
``drawnet.trace`` is the name of the tracing subpackage.)

Example:
    >>> import torch, drawnet
    >>> net = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU()),
    ...                           torch.nn.Linear(8, 2))
    >>> t = drawnet.traced(net, [1, 4])
    >>> t
    <drawnet.TracedModel of Sequential: 3 ops, tracer='meta'>
    >>> t.summary().total_params, len(t.draw(depth=1).graph.nodes)
    (58, 4)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drawnet import ir
from drawnet.errors import OptionError


class TracedModel:
    """One trace of a model: draw, summarise and count it as often as needed.

    ``graph`` is the op-level IR (what :func:`drawnet.trace_model` returns); ``tracer``
    and ``notes`` say how it was made.
    """

    def __init__(self, graph: ir.Graph, *, mode: str = "eval") -> None:
        self.graph = graph
        self.mode = mode

    @property
    def tracer(self) -> str:
        """The tracer that made the graph ('meta', 'export', 'eager' or 'jit')."""
        return self.graph.get_meta("tracer")

    @property
    def notes(self) -> list[str]:
        """What the trace read, assumed or decided (also in diagrams and summaries)."""
        return [v for k, v in self.graph.meta if k == "note"]

    def draw(self, **options: Any) -> Any:
        """A :class:`~drawnet.Diagram`: ``options`` are :func:`drawnet.draw_model`'s picture
        options (``depth``, ``orientation``, ``theme``, ...)."""
        from drawnet.api import draw_model

        return draw_model(self, **{"mode": self.mode, **options})

    def summary(self, **options: Any) -> Any:
        """A :class:`~drawnet.Summary`: ``options`` are :func:`drawnet.summary`'s (``depth``,
        ``columns``)."""
        from drawnet.api import summary

        return summary(self, **{"mode": self.mode, **options})

    def stats(self) -> Any:
        """:func:`drawnet.model_stats`: a ``pandas.DataFrame`` with one row per layer."""
        from drawnet.api import model_stats

        return model_stats(self, mode=self.mode)

    def __repr__(self) -> str:
        model = self.graph.get_meta("model") or "model"
        ops = sum(1 for n in self.graph.nodes if n.kind not in ("input", "output"))
        return f"<drawnet.TracedModel of {model}: {ops} ops, tracer={self.tracer!r}>"


def traced(
    model: Any,
    input_size: Any = None,
    *,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
    tracer: str = "auto",
    mode: str = "eval",
) -> TracedModel:
    """Trace ``model`` once (inputs and tracer as for :func:`drawnet.draw_model`).

    Example:
        >>> import torch, drawnet
        >>> t = drawnet.traced(torch.nn.Linear(4, 2), [1, 4])
        >>> t.draw().source == drawnet.draw_model(torch.nn.Linear(4, 2), [1, 4]).source
        True
    """
    from drawnet.api import trace_model

    if isinstance(model, TracedModel):
        raise OptionError("the model is already traced: call .draw() or .summary() on it")
    graph = trace_model(model, input_size, input_data=input_data, kwargs=kwargs,
                        dtypes=dtypes, tracer=tracer, mode=mode)
    return TracedModel(graph, mode=mode)


def reuse(traced_model: TracedModel, *, inputs_given: bool, tracer: str, mode: str) -> ir.Graph:
    """The graph of ``traced_model``, for API functions handed one in place of a model;
    inputs, another tracer or another mode cannot apply to a finished trace.

    Example:
        >>> import torch, drawnet
        >>> t = drawnet.traced(torch.nn.Linear(4, 2), [1, 4])
        >>> reuse(t, inputs_given=True, tracer="auto", mode="eval")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        drawnet.errors.OptionError: the model is already traced with its inputs: ...
    """
    if inputs_given:
        raise OptionError("the model is already traced with its inputs: pass no input_size, "
                          "input_data, kwargs or dtypes (trace again with drawnet.traced() "
                          "for other inputs)")
    if tracer not in ("auto", traced_model.tracer):
        raise OptionError(f"the model was traced with tracer={traced_model.tracer!r}, not "
                          f"{tracer!r}: trace again with drawnet.traced(..., tracer={tracer!r})")
    if mode != traced_model.mode:
        raise OptionError(f"the model was traced in mode={traced_model.mode!r}, not {mode!r}: "
                          f"trace again with drawnet.traced(..., mode={mode!r})")
    return traced_model.graph
