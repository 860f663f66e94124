"""Where drawnet's time goes on one model: the meta trace against its own floor, then a
profile of one call.

    python bench/hotspots.py densenet121                  # trace breakdown + cProfile of draw
    python bench/hotspots.py gpt2 --what summary --top 30
    python bench/hotspots.py vit_b_16 --pyinstrument      # sampling profile (pyinstrument)
    python bench/hotspots.py zoo:detr                      # a model of bench/zoo_wide.py

The trace breakdown compares ``drawnet.trace_model`` with (1) the same forward pass on
meta stand-ins with no hooks and no TorchFunctionMode (what the meta kernels cost), (2)
that pass under a pass-through TorchFunctionMode, and (3) that pass with shape-preserving
ops (norms, activations, dropout) answered by ``torch.empty_like`` instead of running
their meta kernels, which is what the meta tracer could do.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure  # noqa: E402
import zoo  # noqa: E402
import zoo_wide  # noqa: E402

# Ops whose output has the shape, dtype and layout of their first input.
SHAPE_PRESERVING = frozenset({
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm", "local_response_norm",
    "relu", "relu_", "relu6", "gelu", "silu", "mish", "elu", "selu", "celu", "leaky_relu",
    "hardswish", "hardsigmoid", "hardtanh", "sigmoid", "tanh", "softplus", "softmax",
    "log_softmax", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
    "contiguous", "clone",
})


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    out = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def _meta_inputs(spec: zoo.Spec) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The spec's inputs as meta tensors: one positional input, or its keyword tensors."""
    import torch

    if spec.data is not None:
        return (), {k: v.to("meta") for k, v in spec.data().items()}
    dtype = torch.long if spec.dtype == "long" else torch.float
    return (torch.empty(spec.input_size, device="meta", dtype=dtype),), {}


def meta_forwards(model: Any, spec: zoo.Spec) -> dict[str, Callable[[], Any]]:
    import torch
    from torch.func import functional_call
    from torch.overrides import TorchFunctionMode

    stand_ins = {n: torch.empty_like(t, device="meta")
                 for n, t in [*model.named_parameters(), *model.named_buffers()]}
    args, kwargs = _meta_inputs(spec)

    class PassThrough(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            return func(*args, **(kwargs or {}))

    class ShortCircuit(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            if (getattr(func, "__name__", "") in SHAPE_PRESERVING and args
                    and isinstance(args[0], torch.Tensor) and args[0].device.type == "meta"):
                return torch.empty_like(args[0])
            return func(*args, **(kwargs or {}))

    def run(mode: Any = None) -> Callable[[], Any]:
        def go() -> Any:
            with torch.no_grad():
                if mode is None:
                    return functional_call(model, stand_ins, args, kwargs, strict=False)
                with mode():
                    return functional_call(model, stand_ins, args, kwargs, strict=False)
        return go

    return {"bare": run(), "pass_through": run(PassThrough), "short_circuit": run(ShortCircuit)}


def kernel_times(model: Any, spec: zoo.Spec) -> list[tuple[str, float, int]]:
    """Seconds spent in each op's meta kernel during one bare meta forward pass."""
    import torch
    from torch.func import functional_call
    from torch.overrides import TorchFunctionMode

    acc: dict[str, float] = defaultdict(float)
    cnt: dict[str, int] = defaultdict(int)

    class Timed(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            name = getattr(func, "__name__", type(func).__name__)
            t0 = time.perf_counter()
            out = func(*args, **(kwargs or {}))
            acc[name] += time.perf_counter() - t0
            cnt[name] += 1
            return out

    stand_ins = {n: torch.empty_like(t, device="meta")
                 for n, t in [*model.named_parameters(), *model.named_buffers()]}
    args, kwargs = _meta_inputs(spec)
    for _ in range(2):  # the second pass is the one kept
        acc.clear()
        cnt.clear()
        with torch.no_grad(), Timed():
            functional_call(model, stand_ins, args, kwargs, strict=False)
    return sorted(((k, v, cnt[k]) for k, v in acc.items()), key=lambda r: -r[1])


def trace_breakdown(model: Any, spec: zoo.Spec, repeats: int) -> None:
    import drawnet

    inputs = spec.drawnet_inputs()
    fw = meta_forwards(model, spec)
    t_trace = median_time(lambda: drawnet.trace_model(model, **inputs), repeats)
    try:
        t = {k: median_time(f, repeats) for k, f in fw.items()}
    except Exception as e:  # a model that reads tensor values stops a bare meta pass
        print(f"drawnet.trace_model                                 {t_trace:.3f} s")
        print(f"  (a bare meta forward pass fails: {type(e).__name__}: {str(e)[:80]})")
        return
    print(f"drawnet.trace_model                                 {t_trace:.3f} s")
    print(f"  meta forward, no hooks, no mode (kernel floor)    {t['bare']:.3f} s")
    print(f"  meta forward under a pass-through mode            {t['pass_through']:.3f} s")
    extra = t_trace - t["pass_through"]
    if extra >= 0:
        print(f"  -> drawnet's recording (hooks, op records, table) {extra:.3f} s")
    else:  # drawnet's shape rules answer ops whose meta kernels are slow
        print(f"  -> drawnet is {-extra:.3f} s faster than the bare pass: its shape rules "
              "skip slow meta kernels")
    print(f"  meta forward, shape-preserving ops -> empty_like  {t['short_circuit']:.3f} s "
          f"(saves {t['pass_through'] - t['short_circuit']:.3f} s)")
    rows = kernel_times(model, spec)
    total = sum(r[1] for r in rows)
    print(f"  meta kernels, one pass, by op (total {total * 1000:.0f} ms):")
    for name, secs, n in rows[:12]:
        mark = "  *" if name in SHAPE_PRESERVING else ""
        print(f"    {name:<32} {secs * 1000:8.1f} ms  {n:5d} calls  "
              f"{secs / n * 1e6:8.0f} us/call{mark}")
    print("  (* = shape-preserving: output is empty_like(input))")


def stage_times(model: Any, spec: zoo.Spec, repeats: int) -> None:
    import drawnet
    from drawnet import render
    from drawnet.api import fit_layout, layer_graph
    from drawnet.emit import to_dot
    from drawnet.emit.fit import get_fit
    from drawnet.summary import build_summary

    g = drawnet.trace_model(model, **spec.drawnet_inputs())
    lg = layer_graph(g, depth="auto", collapse_repeats=True, hide=None)
    dot = to_dot(lg)
    tries = []
    svg_of = render.Layouts.svg

    def counted(self: Any, source: str) -> Any:
        tries.append(source)
        return svg_of(self, source)

    def fit() -> Any:
        return fit_layout(lg, get_fit("notebook"), None,
                          lambda graph, o, f: to_dot(graph, orientation=o, fit=f))

    render.Layouts.svg = counted  # type: ignore[method-assign]
    try:
        fit()
    finally:
        render.Layouts.svg = svg_of  # type: ignore[method-assign]
    rows = {
        "passes (layer_graph, as draw_model)":
            lambda: layer_graph(g, depth="auto", collapse_repeats=True, hide=None),
        "emit (to_dot)": lambda: to_dot(lg),
        f"fit (fit_layout: {len(tries)} tries laid out, kept SVG)": fit,
        "layout, system dot": lambda: render.render(dot, "svg", engine="system"),
        "layout, graphviz-pure": lambda: render.render(dot, "svg", engine="pure"),
        "summary table (build_summary + str)": lambda: str(build_summary(g, depth=3)),
    }
    if not render._system_dot():
        del rows["layout, system dot"]
    for name, fn in rows.items():
        print(f"{name:<52}{median_time(fn, repeats):.3f} s")
    print(f"  ({len(g.nodes)} ops -> {len(lg.nodes)} boxes, {len(lg.edges)} edges, "
          f"depth {lg.get_meta('depth')}, {len(dot)} bytes of DOT)")


def profile_call(fn: Callable[[], Any], top: int, use_pyinstrument: bool) -> None:
    fn()
    if use_pyinstrument:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.0005)
        prof.start()
        for _ in range(3):
            fn()
        prof.stop()
        print(prof.output_text(unicode=False, color=False, show_all=False))
        return
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(3):
        fn()
    pr.disable()
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        buf = io.StringIO()
        st = pstats.Stats(pr, stream=buf)
        st.sort_stats(key).print_stats(top)
        print(f"--- cProfile, 3 calls, top {top} by {title} (cProfile inflates Python-heavy "
              "code) ---")
        print("\n".join(buf.getvalue().splitlines()[4:]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", choices=[*zoo.MODELS, "chain1000", "gpt2_96",
                                     *(f"zoo:{n}" for n in zoo_wide.ZOO)])
    p.add_argument("--what", choices=("draw", "summary", "trace"), default="draw")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--pyinstrument", action="store_true")
    p.add_argument("--no-profile", action="store_true", help="breakdown only")
    args = p.parse_args()
    measure.quiet_warnings()
    measure.one_thread()
    import drawnet

    if args.model == "chain1000":
        spec = zoo.Spec("chain1000", lambda: zoo.chain(1000), (1, 64))
    elif args.model == "gpt2_96":
        spec = zoo.Spec("gpt2_96", lambda: zoo.gpt2_meta(96), (1, 128), "long")
    elif args.model.startswith("zoo:"):
        z = zoo_wide.ZOO[args.model.removeprefix("zoo:")]
        spec = zoo.Spec(z.name, z.build, (), data=z.data)
    else:
        spec = zoo.MODELS[args.model]
    model = spec.build()
    print(f"# {spec.name}: {zoo.size_of(model)[0]} modules, one thread, medians of "
          f"{args.repeats}")
    trace_breakdown(model, spec, args.repeats)
    stage_times(model, spec, args.repeats)
    if args.no_profile:
        return
    inputs = spec.drawnet_inputs()
    calls: dict[str, Callable[[], Any]] = {
        "draw": lambda: drawnet.draw_model(model, **inputs).pipe("svg"),
        "summary": lambda: str(drawnet.summary(model, **inputs)),
        "trace": lambda: drawnet.trace_model(model, **inputs),
    }
    profile_call(calls[args.what], args.top, args.pyinstrument)


if __name__ == "__main__":
    main()
