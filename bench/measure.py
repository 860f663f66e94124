"""Timing and memory helpers for ``bench/run.py``; also the worker it runs in subprocesses.

``python bench/measure.py memory MODEL TOOL`` prints one JSON line: the peak resident
memory that one call of TOOL on MODEL adds to a fresh process, and the peak of its
Graphviz child process.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import zoo  # noqa: E402

DRAW_TOOLS = ("drawnet", "drawnet_pure", "torchview")
SUMMARY_TOOLS = ("drawnet_summary", "torchinfo")


def one_thread() -> None:
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set in this process
        torch.set_num_interop_threads(1)


def quiet_warnings() -> None:
    import warnings

    warnings.filterwarnings("ignore")


# --------------------------------------------------------------------------- the calls


def make_call(tool: str, spec: zoo.Spec, model: Any) -> Callable[[], Any]:
    """One end-to-end call of ``tool`` on ``model``: drawing to SVG bytes, or a summary
    table as text."""
    if tool in ("drawnet", "drawnet_pure"):
        import drawnet

        engine = "pure" if tool == "drawnet_pure" else "auto"
        inputs = spec.drawnet_inputs()
        return lambda: drawnet.draw_model(model, **inputs, engine=engine).pipe("svg")
    if tool == "torchview":
        import torchview

        view_inputs = spec.torchview_inputs()
        return lambda: torchview.draw_graph(model, **view_inputs).visual_graph.pipe(
            format="svg")
    if tool == "drawnet_summary":
        import drawnet

        inputs = spec.drawnet_inputs()
        return lambda: str(drawnet.summary(model, **inputs))
    if tool == "torchinfo":
        import torchinfo

        info_inputs = spec.torchinfo_inputs()
        return lambda: str(torchinfo.summary(model, **info_inputs, verbose=0))
    raise ValueError(f"unknown tool {tool!r}")


# --------------------------------------------------------------------------- timing


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and of the children it waited for)."""
    gc.collect()
    k0 = children_cpu()
    c0 = time.process_time()
    w0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0 + children_cpu() - k0
    return wall, cpu


def alternate(
    tasks: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> dict[str, list[tuple[float, float]]]:
    """Run every task ``warmup`` times, then ``repeats`` rounds, each round in a rotated
    order so that no task always follows the same one."""
    names = list(tasks)
    for _ in range(warmup):
        for name in names:
            tasks[name]()
    out: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(timed(tasks[name]))
    return out


def median_wall(samples: list[tuple[float, float]]) -> float:
    return statistics.median(s[0] for s in samples)


def median_cpu(samples: list[tuple[float, float]]) -> float:
    return statistics.median(s[1] for s in samples)


# --------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS
        return True
    except OSError:
        return False


def memory_worker(model_name: str, tool: str) -> dict[str, Any]:
    """Build the model, warm the tool up on a tiny model (imports), then measure one call."""
    quiet_warnings()
    one_thread()
    import torch

    spec = zoo.MODELS[model_name]
    tiny = zoo.Spec("tiny", lambda: torch.nn.Sequential(torch.nn.Linear(4, 4)), (1, 4))
    make_call(tool, tiny, tiny.build())()  # lazy imports, first Graphviz start
    model = spec.build()
    call = make_call(tool, spec, model)
    gc.collect()
    exact = _reset_peak()
    rss0 = _status_kib("VmRSS") or 0
    hwm0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    call()
    if exact:
        peak = _status_kib("VmHWM") or 0
    else:  # upper bound of nothing better: the high-water mark of the whole process
        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, hwm0)
    return {"model": model_name, "tool": tool, "exact": exact,
            "peak_add_mib": max(peak - rss0, 0) / 1024}


_LAYOUT_PEAK = r"""
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdin=sys.stdin, stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def layout_peak_mib(argv: list[str], dot_source: str) -> float | None:
    """Peak resident memory of one Graphviz run on ``dot_source``.

    Linux carries a process's high-water mark over fork and exec, so a layout started
    from this (large) process would report this process's peak. GNU time (a tiny
    process) starts the layout when it is installed; otherwise a small helper
    interpreter does, and the figure is an upper bound (the helper's own ~12 MiB).
    """
    gnu_time = Path("/usr/bin/time")
    if gnu_time.is_file():
        with tempfile.NamedTemporaryFile("r", suffix=".txt") as out:
            proc = subprocess.run([str(gnu_time), "-f", "%M", "-o", out.name, *argv],
                                  input=dot_source, capture_output=True, text=True,
                                  check=False)
            text = Path(out.name).read_text().strip()
        if proc.returncode == 0 and text.splitlines() and text.splitlines()[-1].isdigit():
            return int(text.splitlines()[-1]) / 1024
    proc = subprocess.run([sys.executable, "-c", _LAYOUT_PEAK, *argv], input=dot_source,
                          capture_output=True, text=True, check=False)
    try:
        return int(proc.stdout.strip().splitlines()[-1]) / 1024
    except (IndexError, ValueError):
        return None


def peak_memory(model_name: str, tool: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(HERE / "measure.py"), "memory", model_name, tool],
        capture_output=True, text=True, check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    return {"model": model_name, "tool": tool, "error": proc.stderr.strip()[-300:]}


# --------------------------------------------------------------------------- start-up


def _run_py(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)


def import_pulls_torch() -> bool:
    """Whether ``import drawnet`` imports torch (in a fresh interpreter)."""
    out = _run_py("import sys, drawnet; print('torch' in sys.modules)")
    return out.stdout.strip() == "True"


def wall_of(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def drawnet_command() -> list[str]:
    exe = Path(sys.executable).with_name("drawnet")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "drawnet"]


_FIRST_RENDER = r"""
import json, sys, time
t0 = time.perf_counter()
from drawnet import render
t1 = time.perf_counter()
dot = open(sys.argv[1], encoding="utf-8").read()
engine = sys.argv[2]
t2 = time.perf_counter(); render.render(dot, "svg", engine=engine); t3 = time.perf_counter()
steady = []
for _ in range(3):
    a = time.perf_counter(); render.render(dot, "svg", engine=engine)
    steady.append(time.perf_counter() - a)
steady.sort()
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "steady": steady[1]}))
"""


def engine_first_load(dot_file: Path, engine: str, repeats: int) -> dict[str, float]:
    """Import of drawnet.render, the first SVG render and later renders, in fresh
    interpreters (median over ``repeats`` interpreters)."""
    rows = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _FIRST_RENDER, str(dot_file), engine],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            return {"error": float("nan")}
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in rows) for k in ("import", "first", "steady")}


_FIRST_DRAW = r"""
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
import zoo, measure
spec = zoo.MODELS[sys.argv[2]]
model = spec.build()
t0 = time.perf_counter()
call = measure.make_call(sys.argv[3], spec, model)
call()
t1 = time.perf_counter()
call()
t2 = time.perf_counter()
print(json.dumps({"first": t1 - t0, "second": t2 - t1}))
"""


def first_call(model_name: str, tool: str, repeats: int) -> dict[str, float]:
    """The first call in a fresh process (torch already imported, model built)."""
    rows = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_DRAW, str(HERE), model_name, tool],
            capture_output=True, text=True, check=False,
        )
        if out.returncode != 0:
            return {"error": float("nan")}
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in rows) for k in ("first", "second")}


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "memory":
        print(json.dumps(memory_worker(sys.argv[2], sys.argv[3])))
    else:
        sys.exit("usage: python bench/measure.py memory MODEL TOOL")
