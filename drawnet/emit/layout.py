"""Keep diagrams page-shaped: wrap a long flow into rows (LR) or columns (TB).

Graphviz lays a deep network out as one long ribbon (torchview's LR resnet18 is
4119×31 px). Here the flow is cut into segments by rank (longest path from the inputs),
at the ranks crossed by the fewest edges near evenly spaced targets, and the number of
segments is chosen from estimated node sizes so the whole picture's aspect ratio comes
closest to a page: 2:1 for LR, 1:1.6 for TB. The emitter then stacks the segments with
invisible anchors and lets edges between segments float (``constraint=false``).

Sizes are estimates in inches from label text (the widths Graphviz gives the theme's
font); they only steer the choice of the number of rows.

Example:
    >>> from drawnet import ir
    >>> nodes = tuple(ir.Node(id=f"n{i}", kind="module", op="Linear") for i in range(40))
    >>> edges = tuple(ir.Edge(f"n{i}", f"n{i + 1}") for i in range(39))
    >>> g = ir.Graph(nodes=nodes, edges=edges)
    >>> rows = plan_rows(g, {n.id: (1.5, 0.5) for n in nodes}, "LR")
    >>> max(rows.values()) + 1 > 1
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from drawnet import ir
from drawnet.fonts import SANS, text_width

RANKSEP = 0.3
NODESEP = 0.22
ROW_GAP = 0.12
TARGET = {"LR": 2.0, "TB": 1 / 1.6}
PAGE = {"LR": 11.0, "TB": 12.0}  # a flow shorter than this (inches) is never wrapped


def text_size(
    lines: Sequence[tuple[str, float] | tuple[str, float, bool]], fontname: str = SANS
) -> tuple[float, float]:
    """Estimated (width, height) in inches of a box holding ``(text, fontsize[, bold])`` lines.

    Widths are those Graphviz gives the text in ``fontname`` (see
    :func:`drawnet.fonts.text_width`).

    Example:
        >>> w, h = text_size([("layer1.0.conv1", 10.0, True), ("1×64×56×56", 8.0)])
        >>> 0.9 < w < 1.5 and 0.3 < h < 0.6
        True
    """
    width = max((text_width(line[0], line[1], fontname, bold=len(line) > 2 and bool(line[-1]))
                 for line in lines), default=21.6) / 72 + 0.28
    height = sum(line[1] * 1.25 / 72 for line in lines) + 0.14
    return max(width, 0.5), max(height, 0.3)


def ranks(graph: ir.Graph) -> dict[str, int]:
    """Longest-path rank of every node (inputs and other sources are rank 0)."""
    pred = graph.predecessors()
    rank: dict[str, int] = {}
    for n in graph.nodes:
        rank[n.id] = max((rank[p] + 1 for p in pred.get(n.id, []) if p in rank), default=0)
    return rank


def plan_rows(
    graph: ir.Graph,
    sizes: Mapping[str, tuple[float, float]],
    orientation: str,
    *,
    target: float | None = None,
) -> dict[str, int]:
    """Assign every node a row (LR) or column (TB) index; all zeros means no wrapping."""
    rank = ranks(graph)
    if not rank:
        return {}
    k = max(rank.values()) + 1
    flow = [0.0] * k
    cross = [0.0] * k
    for n in graph.nodes:
        w, h = sizes.get(n.id, (1.0, 0.4))
        along, across = (w, h) if orientation == "LR" else (h, w)
        r = rank[n.id]
        flow[r] = max(flow[r], along)
        cross[r] += across * 0.8 + NODESEP
    flow = [f + RANKSEP for f in flow]
    aim = target if target is not None else TARGET[orientation]
    if sum(flow) <= PAGE[orientation]:
        return {n.id: 0 for n in graph.nodes}  # it fits a page as it is
    best_cuts: list[int] = []
    best_score = math.inf
    cost = cut_costs(graph, rank, k)
    shortest = math.inf
    for rows in range(1, k + 1):
        cuts = _cuts(cost, flow, rows)
        segments = _segments(k, cuts)
        seg_flow = [sum(flow[a:b]) for a, b in segments]
        seg_cross = [max(cross[a:b]) for a, b in segments]
        along = max(seg_flow)
        if along > 0.95 * shortest:
            continue  # another row that does not shorten the longest one only adds height
        shortest = min(shortest, along)
        across = sum(seg_cross) + ROW_GAP * (len(segments) - 1)
        ratio = along / across if orientation == "LR" else across / along
        # Fewer rows read better, every cut pays for what it splits, and rows should be
        # of similar length (a near-empty row buys aspect ratio, not readability).
        balance = 1.0 - (sum(seg_flow) / len(seg_flow)) / along
        score = (abs(math.log(ratio / aim)) + 0.06 * rows + 0.02 * sum(cost[c] for c in cuts)
                 + 0.8 * balance)
        if score < best_score - 1e-9:
            best_score, best_cuts = score, cuts
        if (orientation == "LR" and ratio < aim) or (orientation == "TB" and ratio > aim):
            break
    segments = _segments(k, best_cuts)
    row_of_rank = [0] * k
    for i, (a, b) in enumerate(segments):
        for r in range(a, b):
            row_of_rank[r] = i
    return {n.id: row_of_rank[rank[n.id]] for n in graph.nodes}


def _segments(k: int, cuts: list[int]) -> list[tuple[int, int]]:
    bounds = [0, *cuts, k]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def _split_penalty(graph: ir.Graph, rank: Mapping[str, int], k: int) -> list[float]:
    """For each cut rank, a cost for the module calls the cut would split across rows.

    A call that spans the cut costs its depth (splitting ``layer1`` costs 1, splitting a
    block inside it 2, ...), so cuts fall between blocks and between stages first. A
    collapsed ×N block costs 100: cut through, its frame and its ×N would be lost.
    """
    repeated = {c.id for c in graph.calls if c.repeat > 1}
    spans: dict[str, list[int]] = {}
    for n in graph.nodes:
        for depth, call in enumerate(n.scope, start=1):
            lo_hi = spans.setdefault(call, [rank[n.id], rank[n.id], depth])
            lo_hi[0] = min(lo_hi[0], rank[n.id])
            lo_hi[1] = max(lo_hi[1], rank[n.id])
    penalty = [0.0] * (k + 1)
    for call, (lo, hi, depth) in spans.items():
        weight = 100 if call in repeated else depth
        for c in range(lo + 1, hi + 1):
            penalty[c] += weight
    return penalty


def cut_costs(graph: ir.Graph, rank: Mapping[str, int], k: int) -> list[float]:
    """The cost of starting a new row at each rank.

    It counts the distinct tensors crossing the cut beyond the first (a block output
    feeding both the next conv and a shortcut is still one clean exit) and the module
    calls the cut splits (see :func:`_split_penalty`).
    """
    sources: list[set[str]] = [set() for _ in range(k + 1)]
    for e in graph.edges:
        a, b = rank[e.src], rank[e.dst]
        for c in range(a + 1, b + 1):
            sources[c].add(e.src)
    split = _split_penalty(graph, rank, k)
    return [4.0 * max(len(src) - 1, 0) + split[c] for c, src in enumerate(sources)]


def _cuts(cost: list[float], flow: list[float], rows: int) -> list[int]:
    """Ranks at which to start new rows: near even splits, where cutting costs least."""
    k = len(flow)
    if rows <= 1 or k < 2:
        return []
    total = sum(flow)
    prefix = [0.0]
    for f in flow:
        prefix.append(prefix[-1] + f)
    share = total / rows
    cuts: list[int] = []
    for i in range(1, rows):
        goal = share * i
        lo = (cuts[-1] + 1) if cuts else 1
        hi = k - (rows - i)
        if lo > hi:
            break
        best = min(range(lo, hi + 1),
                   key=lambda c: (cost[c] + 6.0 * abs(prefix[c] - goal) / share, c))
        cuts.append(best)
    return cuts
