"""Compare in-browser layout engines for the interactive view: Graphviz (WebAssembly), ELK, dagre.

Reproduces the numbers in ``bench/layout_engines.md``. The engines are npm packages and are
not part of drawnet's install; put them in a scratch folder outside the repository first:

    mkdir -p /tmp/engines && cd /tmp/engines && npm init -y \\
        && npm install @hpcc-js/wasm-graphviz elkjs @dagrejs/dagre
    python bench/layout_engines.py --node-modules /tmp/engines/node_modules

Graphs: the full-depth layer graphs of Llama models with 7 and 33 decoder layers built on
the meta device (216 and 996 boxes, 21 and 99 module frames), exported as DOT (what the
static picture and the Graphviz view lay out, unwrapped) and as boxes with the estimated
sizes the static layout uses, for ELK and dagre. Each engine lays each graph out twice in
one Node process (the first run includes loading and warming up); then the same graphs cut
into rows of at most 50 boxes, as the view lays out large pictures. "Look" compares each
engine's box centres with Graphviz's (the static picture): both normalised to a unit
square, the mean distance between a box's two places, as a share of the diagonal.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import transformers  # noqa: E402

import drawnet  # noqa: E402
from drawnet.api import layer_graph  # noqa: E402
from drawnet.emit.dot import Style, _size, to_dot  # noqa: E402
from drawnet.emit.theme import get_theme  # noqa: E402


def llama(layers: int) -> torch.nn.Module:
    with torch.device("meta"):
        config = transformers.LlamaConfig(hidden_size=512, intermediate_size=1024,
                                          num_hidden_layers=layers, num_attention_heads=8,
                                          num_key_value_heads=2, vocab_size=1000)
        return transformers.LlamaModel(config)


def export(folder: Path) -> list[str]:
    names = []
    for name, layers in (("llama7", 7), ("llama33", 33)):
        g = layer_graph(drawnet.trace_model(llama(layers), [1, 16], dtypes="long"), depth=None)
        style = Style(get_theme("default"))
        calls = {c.id: c for c in g.calls}
        boxes = []
        for n in g.nodes:
            w, h = _size(n, style, calls.get(n.id))
            boxes.append({"id": n.id, "w": round(w * 72, 1), "h": round(h * 72, 1),
                          "scope": list(n.scope)})
        edges = [[e.src, e.dst] for e in g.edges]
        rows = []
        for i in range(0, len(g.nodes), 50):
            chunk = g.nodes[i:i + 50]
            ids = {n.id for n in chunk}
            sub = g.replace(nodes=chunk, edges=tuple(e for e in g.edges
                                                     if e.src in ids and e.dst in ids))
            rows.append({"dot": to_dot(sub, wrap=False),
                         "boxes": [b for b in boxes if b["id"] in ids],
                         "edges": [[e.src, e.dst] for e in sub.edges]})
        (folder / f"{name}.json").write_text(json.dumps({
            "dot": to_dot(g, wrap=False), "boxes": boxes, "edges": edges, "rows": rows,
            "frames": len({c for b in boxes for c in b["scope"]})}))
        names.append(name)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-modules", required=True, type=Path,
                        help="node_modules holding @hpcc-js/wasm-graphviz, elkjs, @dagrejs/dagre")
    parser.add_argument("--engines", default="graphviz,dagre,elk")
    parser.add_argument("--rows-only", action="store_true",
                        help="lay out the rows only, not the whole graphs")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds per engine and graph before giving up (default 600)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = export(folder)
        for engine in args.engines.split(","):
            for name in names:
                cmd = ["node", str(REPO / "bench" / "layout_engines.mjs"), str(args.node_modules),
                       engine, str(folder / f"{name}.json"), "rows" if args.rows_only else ""]
                try:
                    run = subprocess.run(cmd, capture_output=True, text=True,
                                         timeout=args.timeout, check=False)
                    out, err = run.stdout, run.stderr
                except subprocess.TimeoutExpired as e:
                    out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (
                        e.stdout or "")
                    err = f"the whole graph took over {args.timeout:.0f} s"
                lines = out.strip().splitlines()
                print("\n".join(lines), flush=True)
                if len(lines) < 2 and not args.rows_only:
                    print(json.dumps({"engine": engine, "graph": name, "part": "whole",
                                      "error": (err.strip().splitlines() or ["failed"])[-1][:200]}),
                          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
