"""The interactive page in a real browser: headless Chromium driven by Playwright.

Every page is opened from disk with all network traffic refused, and a test fails if the
page so much as attempts a request, logs an error or throws. Without Chromium (or
Playwright) these tests skip, except when ``DRAWNET_REQUIRE_BROWSER=1`` is set, as CI sets
it: then a missing browser is a failure, so a skipped browser test is never a pass there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import drawnet
from drawnet.cli import main

REQUIRE = os.environ.get("DRAWNET_REQUIRE_BROWSER") == "1"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SVG = "{http://www.w3.org/2000/svg}"


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason}, and DRAWNET_REQUIRE_BROWSER=1 requires the browser tests to run")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole module."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _unavailable("no chromium on PATH (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=ARGS)
        yield b
        b.close()


@dataclass
class Session:
    """One page, with every request and error it produced."""

    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def ready(self, renders: int = 1, timeout: float = 60_000) -> None:
        """Wait until the view has finished its ``renders``-th drawing."""
        self.page.wait_for_function(
            "n => { const e = document.querySelector('.drawnet-explorer');"
            " return e && e.dataset.state === 'ready' && +e.dataset.renders >= n; }",
            arg=renders, timeout=timeout)

    def renders(self) -> int:
        return int(self.page.get_attribute(".drawnet-explorer", "data-renders") or 0)

    def boxes(self) -> set[str]:
        ids = self.page.eval_on_selector_all("g.node", "els => els.map(e => e.id)")
        return {i[2:] for i in ids if i.startswith("b:")}

    def frames(self) -> set[str]:
        ids = self.page.eval_on_selector_all("g.cluster", "els => els.map(e => e.id)")
        return {re.sub(r"#\d+$", "", i[2:]) for i in ids if i.startswith("f:")}

    def click_box(self, key: str) -> None:
        """Bring a box into view, then click it as a user would."""
        self.page.evaluate("k => { const e = document.querySelector('.drawnet-explorer').drawnet;"
                           " e.centreOn(e.bboxOf(e.boxEls.get(k))); }", key)
        self.page.click(f'g.node[id="b:{key}"]')

    def check_clean(self) -> None:
        outside = [u for u in self.requests if not u.startswith(("file:", "data:", "blob:"))]
        assert outside == [], f"the page tried to reach the network: {outside[:5]}"
        assert self.errors == [], self.errors[:5]


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    sessions: list[tuple[Any, Session]] = []

    def opener(path: Path, *, javascript: bool = True, content: str | None = None) -> Session:
        context = browser.new_context(viewport={"width": 1280, "height": 860},
                                      java_script_enabled=javascript, accept_downloads=True)
        session = Session(context.new_page())

        def route(r: Any) -> None:
            session.requests.append(r.request.url)
            if r.request.url.startswith("file:"):
                r.continue_()
            else:
                r.abort()

        context.route("**/*", route)
        session.page.on("request", lambda req: session.requests.append(req.url))
        session.page.on("pageerror", lambda e: session.errors.append(f"pageerror: {e}"))
        session.page.on("console", lambda m: m.type == "error" and session.errors.append(
            f"console: {m.text}"))
        sessions.append((context, session))
        session.page.goto(path.as_uri())
        return session

    yield opener
    for context, session in sessions:
        session.check_clean()
        context.close()


@dataclass(frozen=True)
class Case:
    spec: str
    inputs: tuple[str, ...]
    expand: str          # a module to open with a click (closed first with "Collapse all")
    child: str           # a box that shows once it is open
    query: str           # a search
    leaf: str            # a box to click for its numbers
    dtype: str | None = None


CASES = {
    "resnet18": Case("torchvision.models:resnet18", ("1,3,224,224",), "layer1", "layer1.0",
                     "conv2", "conv1"),
    "vit_b_16": Case("torchvision.models:vit_b_16", ("1,3,224,224",), "encoder",
                     "encoder.layers", "mlp", "conv_proj"),
    "bert": Case("tests.models:tiny_bert", ("1,8",), "encoder", "encoder.layer.0",
                 "query", "embeddings.word_embeddings", "long"),
    "llama_70b": Case("tests.models:llama_70b_on_meta", ("1,16",), "layers.0",
                      "layers.0.self_attn", "q_proj", "embed_tokens", "long"),
}


def _render(case: Case, out: Path) -> dict[str, Any]:
    args = ["render", case.spec, "-o", str(out)]
    for shape in case.inputs:
        args += ["--input", shape]
    if case.dtype:
        args += ["--dtype", case.dtype]
    assert main(args) == 0
    page = out.read_text("utf-8")
    data = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert data is not None
    doc: dict[str, Any] = json.loads(data.group(1))
    return doc


def _matches(doc: dict[str, Any], query: str) -> set[str]:
    """Call ids a search should find: the path holds the query, or the class is it."""
    q = query.lower()
    return {c["id"] for c in doc["calls"] if q in c["path"].lower() or c["class"].lower() == q}


@pytest.mark.parametrize("name", [
    "resnet18", "bert",
    pytest.param("vit_b_16", marks=pytest.mark.slow),
    pytest.param("llama_70b", marks=pytest.mark.slow),
])
def test_page_from_the_command_line_works_offline(name: str, tmp_path: Path,
                                                 open_page: Any) -> None:
    """Default picture, open and close on click, search, details, SVG export."""
    case = CASES[name]
    out = tmp_path / f"{name}.html"
    doc = _render(case, out)
    s = open_page(out)
    s.ready()
    # 1. the default picture: the boxes of draw_model's default
    assert s.boxes() == set(doc["view"]["nodes"])

    # 2. a click opens a module, a click on its frame's title closes it again
    if case.expand not in s.boxes():
        s.page.click("button[data-act=collapse-all]")
        s.ready(2)
    assert case.expand in s.boxes()
    n = s.renders()
    s.click_box(case.expand)
    s.ready(n + 1)
    assert case.expand not in s.boxes()
    assert case.child in s.boxes() | s.frames()
    assert case.expand in s.frames()
    n = s.renders()
    s.page.click(f'g.cluster[id^="f:{case.expand}#"] text')
    s.ready(n + 1)
    assert case.expand in s.boxes()
    assert case.child not in s.boxes()
    s.page.click("button[data-act=reset]")
    s.ready(n + 2)
    assert s.boxes() == set(doc["view"]["nodes"])

    # 3. search highlights the boxes that hold a match, and only those
    hits = _matches(doc, case.query)
    assert hits
    s.page.fill("input.dn-search", case.query)
    s.page.press("input.dn-search", "Enter")
    s.page.wait_for_function("() => document.querySelector('.dn-count').textContent !== ''")
    lit = set(s.page.eval_on_selector_all(".dn-hit[id^='b:'], .dn-hit-inside[id^='b:']",
                                          "els => els.map(e => e.id.slice(2))"))
    nodes = {n["id"]: n for n in doc["nodes"]}
    calls = {c["id"]: c for c in doc["calls"]}
    expected = set()
    for box in s.boxes():
        inside = nodes[box]["calls"] if box in nodes else [box]
        paths = [calls[c]["path"] for c in inside if c in calls]
        if any(c in hits for c in inside) or any(
                calls[h]["path"].startswith(p + ".") for h in hits for p in paths):
            expected.add(box)
    assert lit, "nothing was highlighted"
    assert lit == expected, (sorted(lit), sorted(expected))
    s.page.press("input.dn-search", "Escape")

    # 4. a click on a box shows its params and MACs
    s.click_box(case.leaf)
    panel = s.page.inner_text(".dn-panel")
    leaf = nodes[case.leaf]
    assert f"{leaf['params']:,}" in panel, panel
    assert f"{leaf['macs']:,}" in panel, panel
    assert "params" in panel
    assert "MACs" in panel
    assert "FLOPs" in panel

    # 5. SVG export of the current view
    with s.page.expect_download() as download:
        s.page.click("button[data-act=svg]")
    svg = Path(download.value.path()).read_text("utf-8")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert float(root.get("width", "0").rstrip("pt")) > 100
    assert root.find(f".//{SVG}g[@id='b:{case.leaf}']") is not None  # the box clicked
    assert len(list(root.iter(f"{SVG}text"))) > 10
    s.check_clean()


def test_first_picture_is_the_static_picture(tmp_path: Path, open_page: Any) -> None:
    """Same DOT, same Graphviz: every box sits where the static SVG puts it."""
    from tests.models import tiny_bert

    d = drawnet.draw_model(tiny_bert(), [1, 8], dtypes="long", engine="pure")
    static = _positions(d.pipe("svg").decode("utf-8"))
    d.save(tmp_path / "bert.html")
    s = open_page(tmp_path / "bert.html")
    s.ready()
    live = _positions(s.page.evaluate(
        "() => document.querySelector('.drawnet-explorer').drawnet.exportSvg()"))
    assert set(live) == set(static)
    assert len(static) >= 15
    moved = {k: (static[k], live[k]) for k in static
             if abs(static[k][0] - live[k][0]) + abs(static[k][1] - live[k][1]) > 0.5}
    assert moved == {}


def _positions(svg: str) -> dict[str, tuple[float, float]]:
    out = {}
    for g in ET.fromstring(svg).iter(f"{SVG}g"):
        title = g.find(f"{SVG}title")
        texts = list(g.iter(f"{SVG}text"))
        if g.get("class") == "node" and title is not None and texts:
            out[str(title.text)] = (float(texts[0].get("x", 0)), float(texts[0].get("y", 0)))
    return out


def test_any_copy_of_a_repeated_block(tmp_path: Path, open_page: Any) -> None:
    from tests.models import residual_mlp_stack

    drawnet.draw_model(residual_mlp_stack(12), [2, 32], depth=None,
                       collapse_repeats=True).save(tmp_path / "stack.html")
    s = open_page(tmp_path / "stack.html")
    s.ready()
    assert {"0.fc1", "0.fc2"} <= s.boxes()
    assert not any(b.startswith("5.") for b in s.boxes())
    frame = s.page.locator('g.cluster[id="f:0"], g.cluster[id^="f:0#"]')
    assert "×12" in (frame.text_content() or "")
    frame.locator("path, polygon").first.dispatch_event("click")  # the frame's body
    n = s.renders()
    s.page.fill("input.dn-copy", "6")
    s.page.dispatch_event("input.dn-copy", "change")
    s.ready(n + 1)
    assert {"5.fc1", "5.fc2"} <= s.boxes()
    assert not any(b.startswith("0.") for b in s.boxes())
    s.click_box("5.fc1")
    assert "5.fc1" in s.page.inner_text(".dn-panel h3")
    n = s.renders()
    s.page.click("button.dn-unroll")
    s.ready(n + 1)
    assert {f"{i}.fc1" for i in range(12)} <= s.boxes()


@pytest.fixture(scope="module")
def notebook_output() -> str:
    """Run a notebook that shows drawnet.explore() with nbclient; return the HTML output."""
    import nbclient  # in the test extra: missing is a failure, not a skip
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import drawnet\nfrom tests.models import TinyResNet\n"
        "drawnet.explore(TinyResNet(), [1, 3, 16, 16], height=480)")]
    root = Path(__file__).resolve().parents[1]
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env_path) if p)
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(root)}}).execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    outputs = nb.cells[0].outputs
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1, outputs
    return str(html[0])


@pytest.mark.slow  # starts a Jupyter kernel (about 10 s)
def test_notebook_output_runs_where_scripts_run(notebook_output: str, tmp_path: Path,
                                                open_page: Any) -> None:
    """The output as JupyterLab shows it: set as innerHTML, its scripts then re-run in order."""
    container = r'<div id="drawnet-[0-9a-f]+-[0-9a-f]+" class="drawnet-explorer'
    assert re.search(container, notebook_output)
    assert notebook_output.count("<script") == 4
    assert "drawnetExplorer.mount" in notebook_output
    shell = tmp_path / "lab.html"
    literal = json.dumps(notebook_output).replace("</", "<\\/")  # a JS string in a <script>
    shell.write_text(
        "<!DOCTYPE html><html><body><div id='out'></div><script>"
        f"const html = {literal};"
        "const out = document.getElementById('out'); out.innerHTML = html;"
        "for (const old of Array.from(out.querySelectorAll('script'))) {"
        "  const s = document.createElement('script');"
        "  for (const a of old.attributes) s.setAttribute(a.name, a.value);"
        "  s.textContent = old.textContent; old.replaceWith(s); }"
        "</script></body></html>", "utf-8")
    s = open_page(shell)
    s.ready()
    assert "conv_a" in s.boxes()
    assert s.page.evaluate("() => document.querySelector('.drawnet-explorer').offsetHeight") == 480
    assert s.page.locator(".dn-fallback").count() == 0


def test_notebook_output_falls_back_to_the_static_svg(tmp_path: Path, open_page: Any) -> None:
    """Where an output's scripts cannot run, its static SVG shows."""
    from tests.models import TinyResNet

    notebook_output = drawnet.explore(TinyResNet(), [1, 3, 16, 16])._repr_html_()
    page = tmp_path / "static.html"
    page.write_text(f"<!DOCTYPE html><html><body>{notebook_output}</body></html>", "utf-8")
    s = open_page(page, javascript=False)
    svg = s.page.locator(".dn-fallback svg")
    assert svg.count() == 1
    assert svg.is_visible()
    assert "conv_a" in s.page.inner_text(".dn-fallback")


def test_a_large_picture_is_laid_out_row_by_row(tmp_path: Path, open_page: Any) -> None:
    """Beyond 100 boxes the view lays out rows of at most 50 boxes and paints them all."""
    from tests.models import residual_mlp_stack

    d = drawnet.draw_model(residual_mlp_stack(40), [2, 32], depth=None, collapse_repeats=False)
    d.save(tmp_path / "big.html")
    s = open_page(tmp_path / "big.html")
    s.ready()
    rows = int(s.page.get_attribute(".drawnet-explorer", "data-rows") or 0)
    assert s.boxes() == {n.id for n in d.graph.nodes}
    assert len(s.boxes()) > 150
    assert rows >= len(s.boxes()) / 50
    n = s.renders()
    s.page.click("button[data-act=collapse-all]")
    s.ready(n + 1)
    assert len(s.boxes()) == 42  # input, the 40 blocks, output
