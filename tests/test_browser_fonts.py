"""SVG text fits its boxes in a real browser that has only DejaVu fonts.

Debian's chromium, driven by Playwright, sees a fontconfig set-up that lists only
/usr/share/fonts/truetype/dejavu (no Helvetica, Arial or Liberation), and no network. Where
chromium or Playwright is missing these tests skip, or fail when DRAWNET_REQUIRE_BROWSER=1
(as .ci/run sets it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import drawnet
from tests.models import Attention, TinyResNet

REQUIRE = os.environ.get("DRAWNET_REQUIRE_BROWSER") == "1"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND"]
TOLERANCE = 0.25  # px: anti-aliasing slack; a font of other widths misses by several px
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="no system Graphviz `dot`")
ENGINES = ["pure", pytest.param("system", marks=[pytest.mark.exe, needs_dot])]

# For every <text> of a node or cluster: its box and the smallest shape of the same group
# (box, table cell, cluster frame) that holds the text's middle.
MEASURE = """() => {
  const out = [];
  for (const g of document.querySelectorAll('g.node, g.cluster')) {
    const shapes = [...g.querySelectorAll('polygon, path, ellipse')].map(s => s.getBBox());
    for (const t of g.querySelectorAll('text')) {
      const b = t.getBBox();
      const cx = b.x + b.width / 2, cy = b.y + b.height / 2;
      const holders = shapes.filter(s => s.x <= cx && cx <= s.x + s.width
                                      && s.y <= cy && cy <= s.y + s.height);
      holders.sort((p, q) => p.width * p.height - q.width * q.height);
      const s = holders[0];
      out.push({group: g.id, text: t.textContent, family: getComputedStyle(t).fontFamily,
                box: [b.x, b.y, b.width, b.height],
                shape: s ? [s.x, s.y, s.width, s.height] : null});
    }
  }
  return out;
}"""


def unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason}, and DRAWNET_REQUIRE_BROWSER=1 asks for the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium that sees only DejaVu fonts; its own HOME, so no user font set-up either."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install playwright)")
    exe = shutil.which("chromium")
    if exe is None:
        unavailable("no chromium on PATH (apt-get install chromium)")
    if not DEJAVU.is_dir():
        unavailable(f"no DejaVu fonts in {DEJAVU} (apt-get install fonts-dejavu-core)")
    home = tmp_path_factory.mktemp("browser-home")
    config = home / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><dir>{DEJAVU}</dir><cachedir>{home / 'fc-cache'}</cachedir>"
        '<include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>\n',
        encoding="utf-8")
    env = {"FONTCONFIG_FILE": str(config), "HOME": str(home), "PATH": os.environ["PATH"],
           "XDG_CONFIG_HOME": str(home), "XDG_CACHE_HOME": str(home)}
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=exe, env=env, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_svg(browser: Any, svg: bytes, tmp_path: Path, name: str) -> tuple[Any, list[str]]:
    """A page showing the SVG file at its size; the list collects any network request."""
    path = tmp_path / f"{name}.svg"
    path.write_bytes(svg)
    width, height = (float(v.removesuffix(b"pt")) * 4 / 3 for v in _size(svg))
    page = browser.new_page(viewport={"width": int(width) + 1, "height": int(height) + 1})
    requests: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.evaluate("document.fonts.ready.then(() => true)")
    return page, requests


def _size(svg: bytes) -> tuple[bytes, bytes]:
    import re

    found = re.search(rb'<svg width="([\d.]+pt)" height="([\d.]+pt)"', svg)
    assert found, svg[:300]
    return found[1], found[2]


def first_family(measured: dict[str, Any]) -> str:
    return str(measured["family"]).split(",")[0].strip().strip("'\"")


def overflows(measured: list[dict[str, Any]]) -> list[tuple[float, str, str]]:
    """(px beyond the shape, group, text) for every text not inside its shape."""
    out = []
    for m in measured:
        if m["shape"] is None:
            out.append((float("inf"), m["group"], m["text"]))
            continue
        x, y, w, h = m["box"]
        sx, sy, sw, sh = m["shape"]
        beyond = max(sx - x, (x + w) - (sx + sw), sy - y, (y + h) - (sy + sh))
        if beyond > TOLERANCE:
            out.append((round(beyond, 2), m["group"], m["text"]))
    return sorted(out, reverse=True)


def check_fits(browser: Any, d: drawnet.Diagram, tmp_path: Path, name: str) -> list[Any]:
    page, requests = open_svg(browser, d.pipe("svg"), tmp_path, name)
    try:
        faces = page.evaluate("[...document.fonts].map(f => [f.family, f.status])")
        measured = page.evaluate(MEASURE)
        page.screenshot(path=str(tmp_path / f"{name}.png"))
    finally:
        page.close()
    assert faces, "the SVG carries no @font-face"
    assert all(status == "loaded" for _, status in faces), faces
    assert requests == []  # everything it needs is inside the file
    assert len(measured) > 5
    for m in measured:  # the embedded font comes first
        assert first_family(m).startswith("drawnet-"), m
    assert overflows(measured) == [], f"text overflows its box in {name}"
    return measured


SMALL = {"tiny_resnet": (TinyResNet, [1, 3, 32, 32]), "attention": (Attention, [1, 5, 16])}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("theme", ["default", "print"])
@pytest.mark.parametrize("model", sorted(SMALL))
def test_text_fits_with_only_dejavu(browser: Any, tmp_path: Path, model: str, theme: str,
                                    engine: str) -> None:
    factory, size = SMALL[model]
    torch.manual_seed(0)
    d = drawnet.draw_model(factory(), size, theme=theme, engine=engine)
    check_fits(browser, d, tmp_path, f"{model}_{theme}_{engine}")


@pytest.mark.parametrize("theme", ["default", "print"])
def test_without_the_embedded_font_text_overflows(browser: Any, tmp_path: Path,
                                                  theme: str) -> None:
    # The control: the same diagram with fonts named but not embedded (what drawnet wrote
    # before) overflows here, so the test above would catch a regression.
    from drawnet import render

    d = drawnet.draw_model(TinyResNet(), [1, 3, 32, 32], theme=theme, engine="pure")
    svg = render.render(d.source, "svg", engine="pure", embed_fonts=False)
    page, _ = open_svg(browser, svg, tmp_path, "plain")
    try:
        measured = page.evaluate(MEASURE)
    finally:
        page.close()
    assert not any(first_family(m).startswith("drawnet-") for m in measured)
    assert len(overflows(measured)) >= 3


def bert() -> torch.nn.Module:
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=128,
                        max_position_embeddings=64)
    return BertModel(config).eval()


def resnet18() -> torch.nn.Module:
    import torchvision

    return torchvision.models.resnet18()


BIG = {"resnet18": (resnet18, {"input_size": [1, 3, 224, 224]}),
       "bert": (bert, {"input_size": [1, 16], "dtypes": "long"})}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("theme", ["default", "print"])
@pytest.mark.parametrize("model", sorted(BIG))
def test_real_models_fit_with_only_dejavu(browser: Any, tmp_path: Path, model: str,
                                          theme: str, engine: str) -> None:
    factory, inputs = BIG[model]
    torch.manual_seed(0)
    d = drawnet.draw_model(factory(), **inputs, theme=theme, engine=engine)
    measured = check_fits(browser, d, tmp_path, f"{model}_{theme}_{engine}")
    assert len(measured) > 40
