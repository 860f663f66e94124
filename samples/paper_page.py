"""Place drawnet's paper figures on a LaTeX-like page, to see them as a reader would.

Run from the repository root (needs playwright and a Chromium; on Debian
``apt-get install chromium``):

    python samples/paper_page.py

It draws a transformer (ViT-B/16) and a CNN (ResNet-50) with ``fit="page"`` and
``fit="column"`` in the print theme, saves each as SVG and PDF under ``samples/paper/``
at true size, and lays them out on US-letter pages with 1 in margins (a 6.5 in text
block, or two 3.2 in columns with a 0.1 in gap, a common two-column format) in the
shipped serif font, then screenshots the pages at 150 dpi into ``samples/paper/*.png``.
Nothing is scaled: a figure is shown at the width its SVG declares.
"""

from __future__ import annotations

import base64
import re
import shutil
import sys
from pathlib import Path

import torch
import torchvision

import drawnet
from drawnet.fonts import font_face_css

HERE = Path(__file__).resolve().parent
OUT = HERE / "paper"
DPI = 150
LOREM = (
    "We evaluate the architecture on the standard benchmark and report the accuracy of "
    "each variant below. The network is built from the blocks drawn in the figure; the "
    "figure is produced from the model's code by drawnet, with every repeated block drawn "
    "once and marked with its count, so that it stays in step with the code as the model "
    "changes. Shapes are given for a batch of one."
)


def _figures() -> dict[str, bytes]:
    with torch.device("meta"):
        models = {"vit_b_16": torchvision.models.vit_b_16().eval(),
                  "resnet50": torchvision.models.resnet50().eval()}
    svgs: dict[str, bytes] = {}
    for name, model in models.items():
        for fit in ("page", "column"):
            d = drawnet.draw_model(model, [1, 3, 224, 224], fit=fit, theme="print",
                                   engine="pure")
            stem = f"{name}_{fit}"
            d.save(OUT / f"{stem}.pdf")
            svgs[stem] = d.pipe("svg")
            (OUT / f"{stem}.svg").write_bytes(svgs[stem])
            print(f"{stem}: {_size(svgs[stem])}; {'; '.join(d.notes[-1:])}")
    return svgs


def _points(svg: bytes) -> tuple[float, float]:
    """The width and height an SVG declares, in points."""
    w = re.search(rb'width="([\d.]+)pt"', svg)
    h = re.search(rb'height="([\d.]+)pt"', svg)
    if w is None or h is None:
        raise ValueError("the SVG declares no size in points")
    return float(w.group(1)), float(h.group(1))


def _size(svg: bytes) -> str:
    w, h = _points(svg)
    return f"{w:.0f} × {h:.0f} pt"


def _img(svg: bytes) -> str:
    w, h = _points(svg)
    data = base64.b64encode(svg).decode()
    return f'<img src="data:image/svg+xml;base64,{data}" style="width:{w}pt;height:{h}pt">'


def _page(body: str, css: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
{css}
@page {{ size: 8.5in 11in; margin: 0; }}
html, body {{ margin: 0; background: #888; }}
.page {{ width: 8.5in; height: 11in; background: white; box-sizing: border-box;
        padding: 1in; font-family: {css_family}; font-size: 10pt; line-height: 1.25;
        text-align: justify; hyphens: auto; }}
h1 {{ font-size: 14pt; text-align: center; margin: 0 0 6pt; }}
.cols {{ column-count: 2; column-gap: 0.1in; }}
figure {{ margin: 8pt 0; text-align: center; break-inside: avoid; }}
figcaption {{ font-size: 9pt; text-align: justify; margin-top: 4pt; }}
p {{ margin: 0 0 6pt; }}
</style></head><body><div class="page">{body}</div></body></html>"""


css_family = ""


def main() -> None:
    global css_family
    from playwright.sync_api import sync_playwright

    OUT.mkdir(exist_ok=True)
    svgs = _figures()
    chars = "".join(chr(c) for c in range(32, 127)) + "×–·→"
    faces = font_face_css("Tinos", chars, chars)
    css_family = faces.family
    pages = {
        "page_transformer": f"""<figure>{_img(svgs['vit_b_16_page'])}<figcaption>
<b>Figure 1.</b> ViT-B/16, drawn by drawnet with <code>fit="page"</code> in the print
theme, at true size: a figure page, the figure filling the text block.</figcaption>
</figure>""",
        "page_cnn": f"""<figure>{_img(svgs['resnet50_page'])}<figcaption>
<b>Figure 2.</b> ResNet-50, drawn by drawnet with <code>fit="page"</code> in the print
theme, at true size.</figcaption></figure>""",
        "page_columns": f"""<div class="cols">
<figure>{_img(svgs['vit_b_16_column'])}<figcaption><b>Figure 3.</b> ViT-B/16 with
<code>fit="column"</code>, at true size.</figcaption></figure>
<figure>{_img(svgs['resnet50_column'])}<figcaption><b>Figure 4.</b> ResNet-50 with
<code>fit="column"</code>, at true size.</figcaption></figure></div>""",
    }
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("needs a Chromium on PATH (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 816, "height": 1056},
                                device_scale_factor=DPI / 96)
        page.route("**/*", lambda route: route.abort()
                   if not route.request.url.startswith("data:") else route.continue_())
        for name, body in pages.items():
            page.set_content(_page(body, faces.css))
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
            print(f"samples/paper/{name}.png")
        browser.close()


if __name__ == "__main__":
    main()
