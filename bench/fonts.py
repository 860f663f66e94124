"""Do the SVG, PNG and PDF of one diagram show the same text? Reproduces bench/fonts.md.

For resnet18 and a small BERT, in both themes, it renders SVG, PNG and PDF with the
engine given (graphviz-pure by default), then rasterises all three at 2 px per point:

* PNG: the engine's own (graphviz-pure draws with its built-in Arimo/Tinos);
* SVG: Chromium (Debian's ``chromium``, through Playwright) whose fontconfig lists only the
  DejaVu fonts, so nothing but the embedded font can match the layout;
* PDF: ``pdftoppm`` from poppler-utils.

It reports the SVG's size with and without the embedded fonts, the PDF's fonts, and,
per box, the width and left edge of the ink of its text in each raster against the PNG
(the numbers in bench/fonts.md). The same SVG with the fonts named but not embedded, as
drawnet wrote it before, is measured too. ``--out`` keeps the pictures; ``--shots`` writes
the README's before/after screenshots.

    python bench/fonts.py --out /tmp/fonts-bench [--engine system] [--shots samples/fonts]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import drawnet  # noqa: E402
from drawnet import render as R  # noqa: E402

SVG_NS = "{http://www.w3.org/2000/svg}"
SCALE = 2.0  # px per pt: PNG at 144 dpi
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def models() -> dict[str, tuple[torch.nn.Module, dict[str, Any]]]:
    import torchvision
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=128,
                                max_position_embeddings=64)).eval()
    return {"resnet18": (torchvision.models.resnet18(), {"input_size": [1, 3, 224, 224]}),
            "bert": (bert, {"input_size": [1, 16], "dtypes": "long"})}


def text_lines(svg: bytes) -> list[tuple[str, float, float, float, float]]:
    """(text, x0, y0, x1, y1) in points from the top-left: a band around each line of a box.

    The band spans the box less 4 pt on each side (clear of its rounded border) and the
    line's height around its baseline, so the ink in it is that line's text.
    """
    root = ET.fromstring(svg)
    graph = root.find(f"{SVG_NS}g")
    assert graph is not None
    tx, ty = (float(v) for v in re.findall(r"translate\(([-\d.]+) ([-\d.]+)\)",
                                             graph.attrib["transform"])[0])
    out = []
    for g in graph.iter(f"{SVG_NS}g"):
        if g.get("class") != "node" or g.find(f"{SVG_NS}g") is not None:
            continue
        shape = g.find(f"{SVG_NS}path")
        if shape is None:
            shape = g.find(f"{SVG_NS}polygon")
        if shape is None:
            continue
        nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?",
                                             shape.get("d") or shape.get("points") or "")]
        x0, x1 = min(nums[0::2]) + tx, max(nums[0::2]) + tx
        for t in g.iter(f"{SVG_NS}text"):
            y, size = float(t.attrib["y"]) + ty, float(t.attrib.get("font-size", "14"))
            out.append(("".join(t.itertext()), x0 + 4, y - 0.7 * size, x1 - 4, y + 0.05 * size))
    return out


def ink(image: np.ndarray, band: tuple[float, float, float, float]) -> tuple[float, float]:
    """Left edge and width (px) of the text's dark pixels inside a band."""
    x0, y0, x1, y1 = (round(v * SCALE) for v in band)
    cols = np.where((image[y0:y1, x0:x1] < 160).any(axis=0))[0]
    if cols.size == 0:
        return float("nan"), float("nan")
    return float(cols[0] + x0), float(cols[-1] - cols[0] + 1)


def grey(path: Path, size: tuple[int, int]) -> np.ndarray:
    img = Image.open(path).convert("L")
    # A system dot's PDF has a 36 pt margin all round: cut it off, centred. Otherwise the
    # rasterisers only round the page size differently, by a pixel.
    dx, dy = (img.width - size[0]) // 2, (img.height - size[1]) // 2
    if dx > 4 or dy > 4:
        img = img.crop((dx, dy, dx + size[0], dy + size[1]))
    if img.size != size:
        canvas = Image.new("L", size, 255)
        canvas.paste(img, (0, 0))
        img = canvas
    return np.asarray(img, dtype=np.int16)


def chromium_shots(svgs: list[Path], home: Path) -> None:
    """Screenshot each SVG at 2 px per pt in Chromium that sees only DejaVu fonts."""
    from playwright.sync_api import sync_playwright

    config = home / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><dir>{DEJAVU}</dir><cachedir>{home / 'cache'}</cachedir>"
        '<include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>\n',
        encoding="utf-8")
    env = {"FONTCONFIG_FILE": str(config), "HOME": str(home), "PATH": os.environ["PATH"]}
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--font-render-hinting=none"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), env=env,
                                    args=args)
        for svg in svgs:
            head = svg.read_bytes()[:1000]
            found = re.search(rb'width="([\d.]+)pt" height="([\d.]+)pt"', head)
            assert found
            w, h = (float(v) for v in found.groups())
            page = browser.new_page(viewport={"width": round(w * 4 / 3),
                                              "height": round(h * 4 / 3)},
                                    device_scale_factor=SCALE * 3 / 4)
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                ("file:", "data:")) else r.abort())
            page.goto(svg.as_uri())
            page.evaluate("document.fonts.ready.then(() => true)")
            page.screenshot(path=str(svg.with_suffix(".chromium.png")))
            page.close()
        browser.close()


def pdf_fonts(pdf: bytes) -> str:
    names = sorted(set(re.findall(rb"/BaseFont /(\S+)", pdf)))
    embedded = pdf.count(b"/FontFile2") + pdf.count(b"/FontFile3") + pdf.count(b"/FontFile ")
    return f"{', '.join(n.decode() for n in names)} ({embedded} of {len(names)} embedded)"


def compare(out: Path, name: str, boxes: list[Any], ref: str, others: list[str]) -> list[str]:
    """Rows of the ink table: per raster, median/max |Δ| of line width and left edge."""
    size = Image.open(out / f"{name}.{ref}.png").size
    images = {k: grey(out / f"{name}.{k}.png", size) for k in [ref, *others]}
    rows = []
    ref_ink = [ink(images[ref], b[1:]) for b in boxes]
    for other in others:
        other_ink = [ink(images[other], b[1:]) for b in boxes]
        dw = [abs(o[1] - r[1]) for o, r in zip(other_ink, ref_ink, strict=True)
              if not np.isnan(o[1] + r[1])]
        dx = [abs(o[0] - r[0]) for o, r in zip(other_ink, ref_ink, strict=True)
              if not np.isnan(o[0] + r[0])]
        rel = [abs(o[1] - r[1]) / r[1] for o, r in zip(other_ink, ref_ink, strict=True)
               if not np.isnan(o[1] + r[1]) and r[1] > 0]
        diff = np.abs(images[other] - images[ref])
        rows.append(f"| {name} | {other} vs {ref} | {len(dw)} | {statistics.median(dw):.1f} / "
                    f"{max(dw):.1f} | {100 * max(rel):.1f} % | {statistics.median(dx):.1f} / "
                    f"{max(dx):.1f} | {100 * float((diff > 96).mean()):.2f} % |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="pure", choices=["pure", "system"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--shots", type=Path, default=None,
                        help="write README screenshots (before/after, DejaVu-only Chromium)")
    parser.add_argument("--pdftoppm", default=shutil.which("pdftoppm") or "pdftoppm")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="drawnet-fonts-"))
    out.mkdir(parents=True, exist_ok=True)
    sizes, ink_rows, font_rows = [], [], []
    svgs: list[Path] = []
    jobs = []
    for model_name, (model, inputs) in models().items():
        for theme in ("default", "print"):
            d = drawnet.draw_model(model, **inputs, theme=theme, engine=args.engine)
            name = f"{model_name}_{theme}"
            svg = d.pipe("svg")
            plain = R.render(d.source, "svg", engine=args.engine, embed_fonts=False)
            (out / f"{name}.svg").write_bytes(svg)
            (out / f"{name}_plain.svg").write_bytes(plain)
            (out / f"{name}.png.png").write_bytes(d.pipe("png", dpi=144))
            pdf = d.pipe("pdf")
            (out / f"{name}.pdf").write_bytes(pdf)
            subprocess.run([args.pdftoppm, "-r", "144", "-png", "-singlefile",
                            str(out / f"{name}.pdf"), str(out / f"{name}.pdf")], check=True)
            sizes.append(f"| {name} | {len(plain) / 1000:.1f} kB | {len(svg) / 1000:.1f} kB | "
                         f"+{(len(svg) - len(plain)) / 1000:.1f} kB |")
            font_rows.append(f"| {name} | {pdf_fonts(pdf)} |")
            svgs += [out / f"{name}.svg", out / f"{name}_plain.svg"]
            jobs.append((name, text_lines(svg)))
    chromium_shots(svgs, Path(tempfile.mkdtemp(prefix="drawnet-chromium-")))
    for name, boxes in jobs:
        for kind in ("", "_plain"):
            src = out / f"{name}{kind}.chromium.png"
            src.rename(out / f"{name}.svg{kind}.png")
        ink_rows += compare(out, name, boxes, "png", ["svg", "pdf", "svg_plain"])
    print(f"engine: {args.engine}; pictures in {out}\n")
    print("| diagram | SVG, fonts named only | SVG, fonts embedded | added |")
    print("| --- | ---: | ---: | ---: |")
    print("\n".join(sizes))
    print("\n| diagram | PDF fonts |\n| --- | --- |")
    print("\n".join(font_rows))
    print("\n| diagram | raster | lines | ink width Δ px, median / max | max Δ of width | "
          "left edge Δ px, median / max | pixels Δ > 96 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(ink_rows))
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
        for kind, label in (("svg_plain", "before"), ("svg", "after")):
            img = Image.open(out / f"resnet18_default.{kind}.png").convert("RGB")
            crop = img.crop((0, 0, min(img.width, 1400), min(img.height, 620)))
            crop.save(args.shots / f"dejavu_only_{label}.png", optimize=True)
        # The same corner of the PNG, of the SVG in Chromium and of the PDF, one above another.
        from PIL import ImageDraw

        crops = []
        for kind, label in (("png", "PNG (graphviz-pure)"), ("svg", "SVG in Chromium, DejaVu only"),
                            ("pdf", "PDF (pdftoppm)")):
            img = Image.open(out / f"resnet18_default.{kind}.png").convert("RGB")
            crop = img.crop((570, 160, 1180, 410))
            ImageDraw.Draw(crop).text((8, 4), label, fill=(200, 0, 0))
            crops.append(crop)
        sheet = Image.new("RGB", (crops[0].width, sum(c.height for c in crops) + 8), "white")
        for i, crop in enumerate(crops):
            sheet.paste(crop, (0, i * (crop.height + 4)))
        sheet.save(args.shots / "png_svg_pdf.png", optimize=True)
        print(f"\nscreenshots in {args.shots}")


if __name__ == "__main__":
    main()
