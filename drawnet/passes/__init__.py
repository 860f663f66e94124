"""Passes: pure functions ``Graph -> Graph`` that turn ops into a readable diagram.

A pipeline is a list of passes; :func:`run` applies them in order and, when one fails,
says which pass failed and which ran before it.

Example:
    >>> from drawnet import ir
    >>> g = ir.Graph(nodes=(ir.Node(id="input.x", kind="input", op="input"),))
    >>> run(g, [("identity", lambda graph: graph)]).nodes[0].id
    'input.x'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from drawnet import ir
from drawnet.errors import GraphError

Pass = Callable[[ir.Graph], ir.Graph]


def run(graph: ir.Graph, pipeline: Sequence[tuple[str, Pass]], *, check: bool = True) -> ir.Graph:
    """Apply named passes in order, validating after each when ``check`` is set."""
    done: list[str] = []
    for name, p in pipeline:
        try:
            graph = p(graph)
            if check:
                ir.validate(graph)
        except GraphError as e:
            after = f" (after {', '.join(done)})" if done else ""
            raise GraphError(f"pass {name!r} failed{after}: {e}") from e
        done.append(name)
    return graph
