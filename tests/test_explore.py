"""The interactive view's data and page, without a browser: the JSON document, the HTML
page, the notebook output and the SVG tooltips. (tests/test_explore_browser.py drives the
page in Chromium.)"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drawnet
from drawnet import ir, render
from drawnet.api import layer_graph
from drawnet.cli import main
from drawnet.emit import to_dot
from drawnet.emit.html import notebook_html, to_html
from drawnet.emit.json import FORMAT, VERSION, project, to_document, to_json
from drawnet.emit.tooltip import tooltip_text
from drawnet.summary import build_summary
from tests.models import TinyResNet, residual_mlp_stack, tiny_bert


def _doc(model: torch.nn.Module, size: Any, *, dtypes: Any = None, depth: Any = "auto",
         collapse: bool = False) -> tuple[dict[str, Any], ir.Graph, ir.Graph]:
    ops = drawnet.trace_model(model, size, dtypes=dtypes)
    view = layer_graph(ops, depth=depth, collapse_repeats=collapse)
    full = layer_graph(ops, depth=None)
    return to_document(view, full, ops), view, ops


def _edges(graph: ir.Graph) -> set[tuple[str, str]]:
    return {(e.src, e.dst) for e in graph.edges}


MODELS = {
    "tiny_resnet": (TinyResNet, [1, 3, 16, 16], None),
    "resnet18": (torchvision.models.resnet18, [1, 3, 64, 64], None),
    "bert": (tiny_bert, [1, 8], "long"),
    "mlp_stack": (lambda: residual_mlp_stack(6), [2, 32], None),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_depth_is_an_expansion_state_of_the_document(name: str) -> None:
    """The document alone draws the picture of every depth: open the calls above it."""
    build, size, dtypes = MODELS[name]
    ops = drawnet.trace_model(build(), size, dtypes=dtypes)
    full = layer_graph(ops, depth=None)
    deepest = max(m.depth for m in ops.modules)
    for depth in range(1, deepest + 1):
        for collapse in (False, True):
            view = layer_graph(ops, depth=depth, collapse_repeats=collapse)
            doc = to_document(view, full, ops)
            boxes, edges, _ = project(doc)
            assert set(boxes) == {n.id for n in view.nodes}, (depth, collapse)
            assert set(edges) == _edges(view), (depth, collapse)
            # the same state, written out by hand: calls above the depth are open
            shallow = [c["id"] for c in doc["calls"] if c["depth"] < depth]
            rolled = doc["view"]["rolled"]
            assert set(project(doc, shallow, rolled)[0]) == set(boxes)


def test_a_rolled_run_shows_any_copy() -> None:
    doc, view, _ = _doc(residual_mlp_stack(12), [2, 32], depth=None, collapse=True)
    assert [run["paths"] for run in doc["runs"]] == [[str(i) for i in range(12)]]
    assert doc["view"]["rolled"] == [0]
    first, _, _ = project(doc)
    assert set(first) == {n.id for n in view.nodes}
    for k in (1, 7, 11):
        boxes, edges, frames = project(doc, shown={0: k})
        swap = {b: re.sub(r"^0(?=[.:@#]|$)", str(k), b) for b in first}
        assert set(boxes) == set(swap.values())
        assert set(edges) == {(swap[a], swap[b]) for a, b in _edges(view)}
        assert all(f == [str(k)] for b, f in frames.items() if b.startswith(f"{k}."))
    unrolled, _, _ = project(doc, rolled=[])
    assert len(unrolled) == len(first) + 11 * (len(first) - 2)  # every copy but input/output


def test_call_figures_are_the_summary_figures() -> None:
    """Calls carry whole-subtree params, MACs and FLOPs: the summary's inclusive columns."""
    doc, _, ops = _doc(torchvision.models.resnet18(), [1, 3, 64, 64])
    rows = {r.call_id: r for r in build_summary(ops, depth=None).layers if r.call_id}
    assert len(doc["calls"]) == len(rows)
    for call in doc["calls"]:
        r = rows[call["id"]]
        assert (call["params"], call["macs"], call["flops"]) == (
            r.inclusive_params, r.inclusive_macs, r.inclusive_flops), call["id"]
        assert call["memory"]["written"] == r.output_bytes
    totals = doc["totals"]
    assert sum(n["macs"] for n in doc["nodes"]) == totals["macs"] == ops.totals.macs
    assert sum(n["params"] for n in doc["nodes"]) == totals["params"]
    layer1 = next(c for c in doc["calls"] if c["id"] == "layer1")
    assert layer1["share"]["macs"] == round(layer1["macs"] / totals["macs"], 6)
    conv = next(n for n in doc["nodes"] if n["id"] == "layer1.0.conv1")
    assert conv["calls"] == ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu"]
    assert conv["attrs"]["fused"] == "BatchNorm2d,ReLU"
    assert conv["attrs"]["stride"] == [1, 1]


def test_json_is_versioned_deterministic_and_complete(tmp_path: Path) -> None:
    model = TinyResNet()
    a = drawnet.draw_model(model, [1, 3, 16, 16]).pipe("json")
    b = drawnet.draw_model(model, [1, 3, 16, 16]).pipe("json")
    assert a == b
    doc = json.loads(a)
    assert (doc["format"], doc["version"]) == (FORMAT, VERSION)
    assert set(doc) >= {"model", "tracer", "totals", "modules", "calls", "runs", "nodes",
                        "edges", "view"}
    ids = {n["id"] for n in doc["nodes"]}
    assert all(e["src"] in ids and e["dst"] in ids for e in doc["edges"])
    calls = {c["id"] for c in doc["calls"]}
    assert all(set(n["scope"]) <= calls for n in doc["nodes"])
    assert set(doc["view"]["open"]) <= calls
    drawnet.draw_model(model, [1, 3, 16, 16]).save(tmp_path / "m.json")
    assert (tmp_path / "m.json").read_bytes() == a


hostile = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1,
                  max_size=30) | st.sampled_from(
    ["</script><script>alert(1)</script>", "<!--", "a\"b'c", "x&amp;y", "]]>", "\u2028"])


@given(name=hostile)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_names_stay_data_in_the_page(name: str) -> None:
    t = ir.TensorMeta((1, 4))
    g = ir.Graph(
        nodes=(ir.Node(id="input.x", kind="input", op="input", outputs=(t,)),
               ir.Node(id=name, kind="module", op="Linear", module_path=name,
                       class_name=name, outputs=(t,), scope=("outer",)),
               ir.Node(id="output", kind="output", op="output", inputs=(t,))),
        edges=(ir.Edge("input.x", name, t), ir.Edge(name, "output", t)),
        calls=(ir.Call("outer", "outer", "Block"), ir.Call(name, name, name, "outer")),
        modules=(ir.ModuleInfo("", "Net", is_leaf=False),))
    text = to_json(g, g, g)
    page = to_html(text, title=name)
    # exactly drawnet's own script elements, and the name comes back intact from the JSON
    assert len(re.findall(r"<script", page, re.IGNORECASE)) == 4
    assert len(re.findall(r"</script", page, re.IGNORECASE)) == 4
    data = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert data is not None
    assert json.loads(data.group(1))["nodes"][1]["path"] == name
    assert "<!--" not in page.split("<body>", 1)[1]


def test_page_is_self_contained_and_small() -> None:
    d = drawnet.draw_model(torchvision.models.resnet50(), [1, 3, 224, 224])
    page = d.pipe("html").decode("utf-8")
    assert len(page.encode("utf-8")) < 2_000_000, len(page)
    assert "connect-src 'none'" in page
    assert "default-src 'none'" in page
    # nothing is loaded from anywhere: no external scripts, styles, images or frames
    assert not re.search(r"<(script|img|iframe|link|audio|video|source)\b[^>]*\b(src|href)=",
                         page, re.IGNORECASE)
    assert "@import" not in page
    assert not re.search(r"url\(\s*['\"]?https?:", page)
    assert "sourceMappingURL" not in page
    assert page == d.pipe("html").decode("utf-8")  # byte-identical


def test_notebook_output_has_its_view_and_the_static_fallback() -> None:
    ex = drawnet.explore(TinyResNet(), [1, 3, 16, 16], height=500)
    bundle = ex._repr_mimebundle_()
    html = bundle["text/html"]
    ids = re.findall(r'<div id="(drawnet-[0-9a-f]{12}-[0-9a-f]+)" class="drawnet-explorer', html)
    assert len(ids) == 1
    assert f'getElementById("{ids[0]}")' in html
    assert "height:500px" in html
    assert "<svg" in html.split("<style>", 1)[0]
    assert "require(" not in html
    assert "define(" not in html.split("__drawnetGraphvizLib")[0]
    second = ex._repr_mimebundle_()["text/html"]
    assert re.findall(r'<div id="([^"]+)"', second)[0] != ids[0]  # unique per output
    assert bundle["text/plain"].startswith("<drawnet.Explorer of TinyResNet")
    assert "image/svg+xml" in drawnet.draw_model(TinyResNet(), [1, 3, 16, 16])._repr_mimebundle_()
    with pytest.raises(drawnet.OptionError, match="height"):
        drawnet.explore(TinyResNet(), [1, 3, 16, 16], height=5)
    fallback = notebook_html("{}", "<?xml version='1.0'?><svg/>", token="x").split("<style>")[0]
    assert "<?xml" not in fallback
    assert '<div class="dn-fallback"><svg/></div>' in fallback


def test_cli_writes_html_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for suffix in ("html", "json"):
        out = tmp_path / f"m.{suffix}"
        code = main(["render", "tests.models:TinyResNet", "--input", "1,3,16,16", "--depth", "1",
                     "-o", str(out)])
        assert code == 0, capsys.readouterr().err
        assert out.stat().st_size > 1000
    doc = json.loads((tmp_path / "m.json").read_text("utf-8"))
    assert doc["view"]["open"] == []
    assert "stem" in doc["view"]["nodes"]
    assert (tmp_path / "m.html").read_text("utf-8").startswith("<!DOCTYPE html>")


@given(name=hostile)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_svg_tooltips_carry_path_class_shapes_and_cost(name: str) -> None:
    t = ir.TensorMeta((1, 64, 56, 56))
    node = ir.Node(id=name, kind="module", op="Conv2d", module_path=name, class_name="Conv2d",
                   inputs=(t,), outputs=(t,), params=36864, macs=115605504)
    svg = render.render(to_dot(ir.Graph(nodes=(node,))), "svg")
    root = ET.fromstring(svg)  # well-formed whatever the name
    svg_ns = "{http://www.w3.org/2000/svg}"
    # the hover text is the <title> of the box's inner group (no <a> link in the SVG)
    titles = [t.text for g in root.iter(f"{svg_ns}g") if (g.get("id") or "").startswith("a_")
              for t in g.findall(f"{svg_ns}title")]
    assert titles == [tooltip_text(node)]  # Graphviz passes the text through unchanged
    assert not list(root.iter(f"{svg_ns}a"))
    assert titles[0].endswith("\nConv2d\nin: 1×64×56×56 float32\nout: 1×64×56×56 float32\n"
                              "params: 36,864 · MACs: 116M")
