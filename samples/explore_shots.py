"""Screenshots of the interactive view for the README (samples/explore/*.png).

    python samples/explore_shots.py

Writes the pages with drawnet, opens them in headless Chromium (Playwright, every network
request refused) and photographs the states the README shows: the default picture, a
module opened with a click, a search, a box's details, one copy of a ×80 block, and the
picture coloured by MACs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torchvision  # noqa: E402

import drawnet  # noqa: E402
from tests.models import llama_70b_on_meta  # noqa: E402

OUT = REPO / "samples" / "explore"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
READY = ("n => { const e = document.querySelector('.drawnet-explorer');"
         " return e && e.dataset.state === 'ready' && +e.dataset.renders >= n; }")


def open_page(browser: Any, path: Path) -> Any:
    context = browser.new_context(viewport={"width": 1200, "height": 640},
                                  device_scale_factor=1)
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
                  else r.abort())
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_function(READY, arg=1)
    return page


def renders(page: Any) -> int:
    return int(page.get_attribute(".drawnet-explorer", "data-renders") or 0)


def click_box(page: Any, key: str) -> None:
    page.evaluate("k => { const e = document.querySelector('.drawnet-explorer').drawnet;"
                  " e.centreOn(e.bboxOf(e.boxEls.get(k))); }", key)
    page.click(f'g.node[id="b:{key}"]')


def main() -> int:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        resnet = Path(tmp) / "resnet18.html"
        drawnet.draw_model(torchvision.models.resnet18(), [1, 3, 224, 224]).save(resnet)

        page = open_page(browser, resnet)
        page.screenshot(path=OUT / "default.png")

        n = renders(page)
        click_box(page, "layer3.0")
        page.wait_for_function(READY, arg=n + 1)
        page.click("button[data-act=fit]")
        page.screenshot(path=OUT / "expand.png")

        page.click(".dn-panel .dn-close")
        page.click("button[data-act=reset]")
        page.wait_for_function(READY, arg=n + 2)
        page.click("button[data-act=fit]")
        page.fill("input.dn-search", "conv2")
        page.press("input.dn-search", "Enter")
        page.wait_for_timeout(400)
        page.screenshot(path=OUT / "search.png")

        page.press("input.dn-search", "Escape")
        page.click("button[data-act=fit]")
        click_box(page, "layer2.0.conv1")
        page.wait_for_timeout(300)
        page.screenshot(path=OUT / "details.png")

        page.click(".dn-panel .dn-close")
        page.select_option("select.dn-color", "macs")
        page.wait_for_function(READY, arg=n + 3)
        page.click("button[data-act=fit]")
        page.screenshot(path=OUT / "macs.png")

        llama = Path(tmp) / "llama.html"
        drawnet.draw_model(llama_70b_on_meta(), [1, 16], dtypes="long").save(llama)
        page = open_page(browser, llama)
        n = renders(page)
        page.locator('g.cluster[id="f:layers.0"] path').first.dispatch_event("click")
        page.fill("input.dn-copy", "42")
        page.dispatch_event("input.dn-copy", "change")
        page.wait_for_function(READY, arg=n + 1)
        page.click("button[data-act=fit]")
        page.screenshot(path=OUT / "copy.png")
        browser.close()
    for f in sorted(OUT.glob("*.png")):
        print(f.relative_to(REPO), f.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
