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

RANKSEP = 0.2
NODESEP = 0.22
ROW_GAP = 0.12
FRAME_MARGIN = 0.12  # inches a module frame adds on each side
GHOST = 1.0  # inches a "from ..." node at the start of a wrapped row takes
REPEAT_CUT = 100.0  # what cutting through a ×N frame costs (see _split_penalty)
PAGE = {"LR": 10.4, "TB": 20.0}
"""Default longest row (LR, its width) or column (TB, its height) in inches: a notebook
column is about 1000 px (10.4 in at 96 px per inch); a TB picture may run longer, since
notebooks scroll down, but not forever."""


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
    max_along: float | None = None,
    max_across: float | None = None,
) -> dict[str, int]:
    """Assign every node a row (LR) or column (TB) index; all zeros means no wrapping.

    ``max_along`` is the longest a row (LR: its width) or column (TB: its height) should
    be, in inches, and ``max_across`` the most the rows may take together the other way
    (defaults: :data:`PAGE`). A flow that fits stays in one row; otherwise the fewest
    rows that fit are taken, cut where the fewest tensors and frames cross, and of
    similar length.
    """
    rank = ranks(graph)
    if not rank:
        return {}
    along_max = max_along if max_along is not None else PAGE[orientation]
    k = max(rank.values()) + 1
    flow, cross = _flow_cross(graph, sizes, orientation, rank)
    if sum(flow) <= along_max:
        return {n.id: 0 for n in graph.nodes}  # it fits as it is
    cost = cut_costs(graph, rank, k)
    limit = along_max
    cuts = _break_rows(flow, cost, limit)
    if max_across is not None:
        # TB: columns side by side must not outgrow the width; take longer columns
        while limit < sum(flow) and _across(cross, _segments(k, cuts)) > max_across:
            limit *= 1.2
            cuts = _break_rows(flow, cost, limit)
    segments = _segments(k, cuts)
    row_of_rank = [0] * k
    for i, (a, b) in enumerate(segments):
        for r in range(a, b):
            row_of_rank[r] = i
    return {n.id: row_of_rank[rank[n.id]] for n in graph.nodes}


def _flow_cross(
    graph: ir.Graph,
    sizes: Mapping[str, tuple[float, float]],
    orientation: str,
    rank: Mapping[str, int],
) -> tuple[list[float], list[float]]:
    """Per rank: the room it takes along the flow (its widest node, the gap after it and
    the margins of frames starting or ending there) and across it (its nodes stacked)."""
    k = max(rank.values()) + 1
    flow = [0.0] * k
    cross = [0.0] * k
    for n in graph.nodes:
        w, h = sizes.get(n.id, (1.0, 0.4))
        along, across = (w, h) if orientation == "LR" else (h, w)
        r = rank[n.id]
        flow[r] = max(flow[r], along)
        cross[r] += across + NODESEP
    flow = [f + RANKSEP for f in flow]
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for n in graph.nodes:
        for c in n.scope:
            first[c] = min(first.get(c, k), rank[n.id])
            last[c] = max(last.get(c, 0), rank[n.id])
    for c, r in first.items():
        if last[c] > r:
            flow[r] += FRAME_MARGIN
            flow[last[c]] += FRAME_MARGIN
    return flow, cross


def extent(
    graph: ir.Graph,
    sizes: Mapping[str, tuple[float, float]],
    orientation: str,
    rows: Mapping[str, int],
) -> tuple[float, float]:
    """Estimated (width, height) in inches of the picture laid out in these rows.

    Example:
        >>> from drawnet import ir
        >>> g = ir.Graph(nodes=(ir.Node(id="a", kind="input", op="input"),
        ...                     ir.Node(id="b", kind="output", op="output")),
        ...              edges=(ir.Edge("a", "b"),))
        >>> w, h = extent(g, {"a": (1.0, 0.5), "b": (1.0, 0.5)}, "LR", {"a": 0, "b": 0})
        >>> round(w, 2), round(h, 2)
        (2.4, 0.72)
    """
    rank = ranks(graph)
    if not rank:
        return 0.0, 0.0
    flow, cross = _flow_cross(graph, sizes, orientation, rank)
    n_rows = max(rows.values(), default=0) + 1
    row_of_rank = [0] * len(flow)
    for n in graph.nodes:
        row_of_rank[rank[n.id]] = rows.get(n.id, 0)
    # Graphviz ranks every row from the same column, so the k-th column of the picture is
    # as wide as the widest k-th node of any row; rows after the first start with their
    # "from ..." node
    columns: list[list[float]] = [[] if row == 0 else [GHOST + RANKSEP] for row in range(n_rows)]
    across = [0.0] * n_rows
    for r, (f, c) in enumerate(zip(flow, cross, strict=True)):
        columns[row_of_rank[r]].append(f)
        across[row_of_rank[r]] = max(across[row_of_rank[r]], c)
    long_side = sum(max((col[j] for col in columns if j < len(col)), default=0.0)
                    for j in range(max(len(col) for col in columns)))
    other = sum(across) + ROW_GAP * (n_rows - 1)
    return (long_side, other) if orientation == "LR" else (other, long_side)


def _across(cross: list[float], segments: list[tuple[int, int]]) -> float:
    return sum(max(cross[a:b]) for a, b in segments) + ROW_GAP * (len(segments) - 1)


def _break_rows(flow: list[float], cost: list[float], limit: float) -> list[int]:
    """Where to start new rows: the fewest rows of at most ``limit``, balanced, cut cheaply.

    Line breaking by dynamic programming (as a typesetter breaks a paragraph): a row costs
    1, its slack below ``limit`` costs in proportion to its square (rows of similar
    length), running over ``limit`` costs more, and each cut costs what it splits
    (:func:`cut_costs`: crossing tensors, module frames, and most of all a ×N frame).
    """
    k = len(flow)
    prefix = [0.0]
    for f in flow:
        prefix.append(prefix[-1] + f)
    best: list[float] = [0.0] + [math.inf] * k
    back = [0] * (k + 1)
    for i in range(1, k + 1):
        j = i - 1
        while j >= 0:
            seg = prefix[i] - prefix[j]
            if seg > 6.0 * limit and j < i - 1:
                break
            slack = (limit - seg) / limit
            # over the limit the picture is scaled down to fit, and past 30 % over (the
            # estimate's error aside) its smallest text gets too small: avoid that above all
            over = -slack
            row = 1.0 + (0.5 * slack * slack if seg <= limit
                         else 10.0 * over + 50.0 * max(0.0, over - 0.3))
            # a ×N frame is never cut (it would lose its frame and count) unless nothing
            # else can be done; other frames cost their depth
            cut = 0.0 if j == 0 else (1e4 if cost[j] >= REPEAT_CUT else 0.3 * cost[j])
            score = best[j] + row + cut
            if score < best[i]:
                best[i], back[i] = score, j
            j -= 1
    cuts: list[int] = []
    i = k
    while i > 0:
        i = back[i]
        if i > 0:
            cuts.append(i)
    return sorted(cuts)


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
        weight = REPEAT_CUT if call in repeated else depth
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
