"""Models at the edges: thousands of layers in a row, modules nested a thousand deep,
names that are spreadsheet formulas, and renders that fail (what they leave behind)."""

from __future__ import annotations

import csv
import io
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from torch import nn

import drawnet
import drawnet.api
from drawnet.api import layer_graph
from drawnet.errors import OptionError, RenderError
from drawnet.notebook import Diagram


def _boxes(d: drawnet.Diagram) -> list[drawnet.ir.Node]:
    return [n for n in d.graph.nodes if n.kind in ("module", "block")]


# --------------------------------------------------------------------------- long and deep


def test_thousands_of_identical_layers_become_one_box() -> None:
    net = nn.Sequential(*[nn.Linear(8, 8) for _ in range(3000)])
    graph = drawnet.trace_model(net, [1, 8])
    for depth in ("auto", None):
        out = layer_graph(graph, depth=depth, collapse_repeats=True)
        (box,) = [n for n in out.nodes if n.kind == "module"]
        assert box.repeat == 3000
    with pytest.raises(OptionError, match=r"3,002 boxes.*collapse_repeats=True"):
        layer_graph(graph, depth="auto", collapse_repeats=False)


class _QKV(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q(x) * self.k(x) + self.v(x)


@pytest.mark.parametrize(("net", "repeats"), [
    (nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)), [1, 1]),  # two boxes say more than ×2
    (nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)), [3]),
    (_QKV(), [1, 1, 1]),  # side by side, not a chain: never ×N
], ids=["pair", "three", "parallel"])
def test_which_runs_of_single_layers_collapse(net: nn.Module, repeats: list[int]) -> None:
    out = layer_graph(drawnet.trace_model(net, [1, 4]), depth=None, collapse_repeats=True)
    assert [n.repeat for n in out.nodes if n.kind == "module"] == repeats


def test_a_long_chain_that_cannot_collapse_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(drawnet.api, "LAYOUT_LIMIT", 300)  # 3,000 in use: too slow a test
    net = nn.Sequential(*[m for _ in range(200) for m in (nn.Linear(8, 16), nn.Linear(16, 8))])
    with pytest.raises(OptionError, match=r"402 boxes.*draw a part of the model"):
        drawnet.draw_model(net, [1, 8])
    # Asked for explicitly, it is drawn (the layout time is the caller's to bound).
    d = drawnet.draw_model(net, [1, 8], depth=None)
    assert len(_boxes(d)) == 400


@pytest.mark.slow
def test_twenty_thousand_layers_give_a_picture() -> None:
    net = nn.Sequential(*[nn.Linear(8, 8) for _ in range(20_000)])
    d = drawnet.draw_model(net, [1, 8], collapse_repeats=True)
    assert [b.repeat for b in _boxes(d)] == [20_000]
    assert d.pipe("svg").lstrip().startswith(b"<?xml")


def _nested(levels: int) -> nn.Module:
    """``Sequential(Sequential(...(Sequential(Linear, Linear), Linear)...), Linear)``:
    every level holds a layer of its own, so every level is a frame in the picture."""
    net: nn.Module = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    for _ in range(levels):
        net = nn.Sequential(net, nn.Linear(4, 4))
    return net


def test_deeply_nested_models_draw() -> None:
    levels = 300  # a plain forward runs; a trace needs more stack than Python's default
    net = _nested(levels)
    limit = sys.getrecursionlimit()
    d = drawnet.draw_model(net, [1, 4])
    assert d.pipe("svg").lstrip().startswith(b"<?xml")
    assert any("nests modules 301 levels deep" in n for n in d.notes)
    opened = drawnet.draw_model(net, [1, 4], depth=None, collapse_repeats=False, wrap=False)
    assert len(_boxes(opened)) == levels + 2
    assert opened.source.count("subgraph cluster_") == levels  # every frame, nested
    s = drawnet.summary(net, [1, 4], depth=None)
    assert len(s.layers) == 1 + levels + levels + 2  # root, Sequentials, Linears
    assert sys.getrecursionlimit() == limit, "the recursion limit is restored"


@pytest.mark.slow
def test_a_thousand_levels_never_raise_recursion_error() -> None:
    net = _nested(1000)
    with pytest.raises(RecursionError):
        net(torch.zeros(1, 4))  # even a plain forward cannot run this one
    d = drawnet.draw_model(net, [1, 4])
    assert d.pipe("svg").lstrip().startswith(b"<?xml")
    for kw in ({"depth": None}, {"collapse_repeats": True}, {"clusters": False}):
        drawnet.draw_model(net, [1, 4], **kw).source  # noqa: B018
    s = drawnet.summary(net, [1, 4], depth=None)
    for fmt in ("table", "json", "csv", "markdown"):
        assert s.to_text(fmt)
    assert len(drawnet.model_stats(net, [1, 4])) == 1002


# --------------------------------------------------------------------------- CSV


def test_csv_cells_are_never_formulas() -> None:
    class Evil(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name in ("=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@SUM(1)"):
                self.add_module(name, nn.Linear(4, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for m in self.children():
                x = m(x)
            return x

    text = drawnet.summary(Evil(), [1, 4], depth=None).to_text("csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    names = [r["module_path"] for r in rows if r["module_path"]]
    assert names == ["'=cmd|' /C calc'!A0", "'+SUM(1)", "'-2+3", "'@SUM(1)"]
    for r in rows:
        for cell in r.values():
            assert not cell.startswith(("=", "+", "@")), cell
            assert not cell.startswith("-") or cell.lstrip("-").isdigit(), cell


# --------------------------------------------------------------------------- temp files


@pytest.fixture
def temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temp folder, with a space in its name (paths in messages must survive it)."""
    folder = tmp_path / "my temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _kept(folder: Path) -> list[Path]:
    return sorted(folder.glob("drawnet-*.gv"))


@pytest.fixture(scope="module")
def graph() -> drawnet.ir.Graph:
    return drawnet.draw_model(nn.Sequential(nn.Linear(4, 2)), [1, 4]).graph


def test_failed_render_keeps_one_named_file(temp_folder: Path, graph: drawnet.ir.Graph) -> None:
    broken = Diagram(graph, "digraph { a -> }")
    with pytest.raises(RenderError) as info:
        broken.pipe("svg")
    (kept,) = _kept(temp_folder)
    assert str(kept) in str(info.value)
    assert kept.read_text() == "digraph { a -> }"


def test_timeout_keeps_one_named_file(temp_folder: Path, graph: drawnet.ir.Graph) -> None:
    big = drawnet.draw_model(nn.Sequential(*[nn.Linear(4, 4) for _ in range(300)]), [1, 4],
                             depth=None)
    with pytest.raises(RenderError, match="timed out") as info:
        big.pipe("svg", timeout=0.001)
    (kept,) = _kept(temp_folder)
    assert str(kept) in str(info.value)


def test_notebook_display_leaves_nothing(temp_folder: Path, graph: drawnet.ir.Graph) -> None:
    big = drawnet.draw_model(nn.Sequential(*[nn.Linear(4, 4) for _ in range(300)]), [1, 4],
                             depth=None)
    broken = Diagram(graph, "digraph { a -> }")
    slow = Diagram(big.graph, big.source)
    for d in (broken, slow):
        if d is slow:
            # the display's own time limit, made tiny
            d._render = (lambda f, s=slow._render, **k: s(f, **{**k, "timeout": 0.001}))  # type: ignore[method-assign]
        bundle = d._repr_mimebundle_()
        assert "image/svg+xml" not in bundle
        assert ".gv" not in bundle["text/plain"].splitlines()[0]
    assert _kept(temp_folder) == []
