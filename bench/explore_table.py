"""The interactive view's section of ``bench/results.md``, from ``explore_results.json``.

``bench/explore.py`` measures the view in Chromium and writes ``explore_results.json``;
this module (light: no torch, no browser) turns those numbers into the markdown section,
which ``explore.py`` puts into ``results.md`` at once and ``bench/run.py`` keeps when it
rewrites ``results.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BEGIN = "<!-- explore.py: begin -->"
END = "<!-- explore.py: end -->"
DATA = "explore_results.json"


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x / 1000:.2f} s"


def section(data: dict[str, Any]) -> list[str]:
    """The markdown lines of the section, between the markers."""
    m = data["machine"]
    lines = [
        BEGIN,
        "## The interactive view: sizes and timings",
        "",
        f"Measured by `python bench/explore.py` on {m['date']}: {m['arch']}, {m['cores']} "
        f"cores, Python {m['python']}, torch {m['torch']}, {m['browser']}, headless, every "
        f"network request refused. Load average {m['load_before']:.1f} before and "
        f"{m['load_after']:.1f} after (the machine is shared: compare numbers within this "
        f"table). Browser figures are medians of {data['repeats']} page loads, each in a "
        "fresh tab.",
        "",
        "| model | boxes | rows | page | write page | first paint | drawn | open one module |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    rows = data["rows"]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['boxes']:.0f} | {r['rows']:.0f} | {r['html_bytes'] / 1e6:.2f} MB"
            f" | {r['python_s']:.2f} s | {_ms(r['first_paint_ms'])} | {_ms(r['drawn_ms'])}"
            f" | {_ms(r.get('expand_ms'))} |")
    full = [r for r in rows if "full_drawn_ms" in r]
    if full:
        lines += ["", "From the default picture, *Expand all* with every repeated block drawn "
                  "(the click's own timing):", "",
                  "| model | boxes | first rows painted | whole picture |", "|---|--:|--:|--:|"]
        for r in full:
            lines.append(f"| {r['name']} | {r['full_boxes']:.0f} | "
                         f"{_ms(r['full_first_paint_ms'])} | {_ms(r['full_drawn_ms'])} |")
    lines += [
        "",
        "* *page*: the self-contained HTML file (JSON document, Graphviz 16.1 as WebAssembly "
        "(0.81 MB), the view's script and style).",
        "* *write page*: `draw_model(...)` then `.pipe(\"html\")` in Python (trace included), "
        "after one small draw in the same process (imports and first-use costs are measured "
        "under Start-up).",
        "* *first paint*: from opening the file to the first rows of the picture on screen; "
        "*drawn*: to the last row. Up to 100 boxes the picture is one Graphviz graph (exactly "
        "the static picture); beyond, it is laid out in rows of at most 50 boxes, painted as "
        "they come.",
        "* *open one module*: a click on a closed module until its contents are drawn.",
        END,
    ]
    return lines


def load(folder: Path) -> dict[str, Any] | None:
    """The numbers ``explore.py`` last wrote into ``folder``, if any."""
    path = folder / DATA
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def put_into(results: Path, lines: list[str]) -> None:
    """Replace the section in ``results`` (a results.md), or add it at the end."""
    text = results.read_text(encoding="utf-8") if results.is_file() else ""
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block + "\n"
    results.write_text(text, encoding="utf-8")
