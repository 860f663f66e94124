"""CPU time of the meta trace alone, per model: the figure to compare two versions of
drawnet by, on a machine shared with other work (wall time moves with the load, CPU time
much less).

    python bench/trace_cpu.py resnet50,vit_b_16,densenet121,gpt2,convnext_tiny

Each model (from ``bench/zoo.py``) is traced twice to warm up, then 25 times; the median
and lower quartile of ``time.process_time()`` are printed. Run it from two checkouts
(``PYTHONPATH=...``) one after the other, twice, and compare the medians.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import zoo  # noqa: E402

import drawnet  # noqa: E402


def main(names: list[str], runs: int = 25) -> None:
    torch.set_num_threads(1)
    for name in names:
        spec = zoo.MODELS[name]
        model = spec.build()

        def trace(m: torch.nn.Module = model, s: zoo.Spec = spec) -> None:
            drawnet.trace_model(m, list(s.input_size), dtypes=s.drawnet_dtypes, tracer="meta")

        trace()
        trace()
        times = []
        for _ in range(runs):
            gc.collect()
            start = time.process_time()
            trace()
            times.append(time.process_time() - start)
        times.sort()
        print(f"{name:14s} cpu median {statistics.median(times) * 1000:7.1f} ms, "
              f"lower quartile {times[len(times) // 4] * 1000:7.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1].split(",") if len(sys.argv) > 1 else list(zoo.MODELS))
