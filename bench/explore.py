"""Sizes and timings of the interactive view, measured in headless Chromium.

    python bench/explore.py               # bench/explore_results.json, and its section of
                                          # bench/results.md
    python bench/explore.py --repeats 5 --out /tmp/bench

For each model: the time drawnet takes to write the page (trace, layer graph, JSON, HTML),
the page's size, and in Chromium (Debian's ``chromium``, driven by Playwright, every
network request refused) the time from opening the file to the first painted picture and
to the whole picture, and the time a click takes to open a module. "First paint" is when
the first rows of the picture are on screen (a large picture is laid out row by row and
painted as it goes); "drawn" is when the last row is. Medians of ``--repeats`` page loads,
each in a fresh browser tab. The machine is shared, so compare numbers of one run.

Targets (issue 15): the page under about 2 MB for resnet50; first paint under 1 s for a
200-box view and under 5 s for a fully expanded 70 B Llama.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import explore_table  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
import transformers  # noqa: E402

import drawnet  # noqa: E402
from tests.models import llama_70b_on_meta, tiny_bert  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def llama_small(layers: int) -> torch.nn.Module:
    with torch.device("meta"):
        config = transformers.LlamaConfig(hidden_size=512, intermediate_size=1024,
                                          num_hidden_layers=layers, num_attention_heads=8,
                                          num_key_value_heads=2, vocab_size=1000)
        return transformers.LlamaModel(config)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], torch.nn.Module]
    inputs: dict[str, Any]
    draw: dict[str, Any]
    expand: str = ""        # a box to click open (after "Collapse all" if it is not shown)
    full: bool = False      # also time "Expand all" with every repeated block drawn


CASES = [
    Case("resnet18", torchvision.models.resnet18, {"input_size": [1, 3, 224, 224]}, {},
         expand="layer3"),
    Case("resnet50", torchvision.models.resnet50, {"input_size": [1, 3, 224, 224]}, {},
         expand="layer3"),
    Case("vit_b_16", torchvision.models.vit_b_16, {"input_size": [1, 3, 224, 224]}, {},
         expand="encoder"),
    Case("bert (2 layers)", tiny_bert, {"input_size": [1, 8], "dtypes": "long"}, {},
         expand="encoder"),
    Case("200-box view (Llama, 7 layers, everything open)", lambda: llama_small(7),
         {"input_size": [1, 16], "dtypes": "long"},
         {"depth": None, "collapse_repeats": False, "hide": ()}),
    Case("Llama 70 B on meta", llama_70b_on_meta, {"input_size": [1, 16], "dtypes": "long"},
         {}, full=True),
    Case("Llama 70 B on meta, fully expanded (everything open, every layer drawn)",
         llama_70b_on_meta, {"input_size": [1, 16], "dtypes": "long"},
         {"depth": None, "collapse_repeats": False, "hide": ()}),
]

READY = ("n => { const e = document.querySelector('.drawnet-explorer');"
         " return e && e.dataset.state === 'ready' && +e.dataset.renders >= n; }")
PAINTED = ("n => { const e = document.querySelector('.drawnet-explorer');"
           " return e && +(e.dataset.painted || 0) >= n; }")
STATE = ("() => { const e = document.querySelector('.drawnet-explorer');"
         " return [+e.dataset.renders, +(e.dataset.painted || 0)]; }")
TIMINGS = "() => document.querySelector('.drawnet-explorer').drawnet.timings"


def measure_page(browser: Any, path: Path, case: Case) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    outside: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_function(PAINTED, arg=1, timeout=300_000)
    first = page.evaluate(TIMINGS)["firstPaint"]
    page.wait_for_function(READY, arg=1, timeout=300_000)
    t = page.evaluate(TIMINGS)
    out = {"first_paint_ms": first, "drawn_ms": t["done"],
           "boxes": float(page.get_attribute(".drawnet-explorer", "data-boxes") or 0),
           "rows": float(page.get_attribute(".drawnet-explorer", "data-rows") or 0)}
    if case.expand:
        renders, painted = page.evaluate(STATE)
        shown = page.eval_on_selector_all("g.node", "els => els.map(e => e.id)")
        if f"b:{case.expand}" not in shown:
            page.click("button[data-act=collapse-all]")
            page.wait_for_function(READY, arg=renders + 1, timeout=300_000)
            renders, painted = page.evaluate(STATE)
        page.evaluate("k => { const e = document.querySelector('.drawnet-explorer').drawnet;"
                      " e.centreOn(e.bboxOf(e.boxEls.get(k))); }", case.expand)
        page.click(f'g.node[id="b:{case.expand}"]')
        page.wait_for_function(READY, arg=renders + 1, timeout=300_000)
        t = page.evaluate(TIMINGS)
        out["expand_ms"] = t["done"] - t["renderStart"]
    if case.full:
        renders, painted = page.evaluate(STATE)
        page.evaluate("() => { const e = document.querySelector('.drawnet-explorer').drawnet;"
                      " e.state.rolled = new Set(); e.expandAll(); }")
        page.wait_for_function(PAINTED, arg=painted + 1, timeout=300_000)
        page.wait_for_function(READY, arg=renders + 1, timeout=300_000)
        t = page.evaluate(TIMINGS)
        out["full_first_paint_ms"] = t["lastFirstPaint"] - t["renderStart"]
        out["full_drawn_ms"] = t["done"] - t["renderStart"]
        out["full_boxes"] = float(page.get_attribute(".drawnet-explorer", "data-boxes") or 0)
    context.close()
    if outside:
        raise RuntimeError(f"{case.name}: the page tried to reach the network: {outside[:3]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench",
                        help="folder of results.md (its section is replaced) and the JSON")
    parser.add_argument("--only", default="", help="comma-separated words a case name must hold")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        print("needs chromium on PATH", file=sys.stderr)
        return 2
    version = subprocess.run([executable, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rows: list[tuple[Case, dict[str, float]]] = []
    # imports and first-use costs are not the page's: one small draw first
    drawnet.draw_model(tiny_bert(), input_size=[1, 8], dtypes="long").pipe("html")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        for case in CASES:
            if args.only and not any(w in case.name for w in args.only.split(",")):
                continue
            model = case.build()
            start = time.perf_counter()
            d = drawnet.draw_model(model, **case.inputs, **case.draw)
            page = d.pipe("html")
            python_s = time.perf_counter() - start
            path = Path(tmp) / "page.html"
            path.write_bytes(page)
            samples = [measure_page(browser, path, case) for _ in range(args.repeats)]
            med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
            med["python_s"] = python_s
            med["html_bytes"] = len(page)
            rows.append((case, med))
            print(case.name, {k: round(v, 3) for k, v in med.items()}, flush=True)
        browser.close()
    load_after = os.getloadavg()
    data = {
        "machine": {"date": datetime.date.today().isoformat(), "arch": platform.machine(),
                    "cores": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__, "browser": version,
                    "load_before": load_before[0], "load_after": load_after[0]},
        "repeats": args.repeats,
        "rows": [{"name": case.name, **m} for case, m in rows],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / explore_table.DATA).write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    explore_table.put_into(args.out / "results.md", explore_table.section(data))
    print(f"wrote {args.out / explore_table.DATA} and its section of {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
