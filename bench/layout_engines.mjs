// Lay one exported graph out with one engine; print one JSON line of timings and sizes.
// Usage: node bench/layout_engines.mjs NODE_MODULES graphviz|dagre|elk GRAPH.json
// (bench/layout_engines.py exports the graphs and runs this for every engine.)
import fs from "fs";
import path from "path";
import zlib from "zlib";
import { createRequire } from "module";

const [nodeModules, engine, file, mode] = process.argv.slice(2);  // mode "rows": rows only
const require = createRequire(path.join(nodeModules, "x.js"));
const graph = JSON.parse(fs.readFileSync(file, "utf8"));
const now = () => performance.now();

function bundle(rel) {
  const text = fs.readFileSync(path.join(nodeModules, rel));
  return { bytes: text.length, gzip: zlib.gzipSync(text).length };
}

function centresFromSvg(svg) {  // Graphviz: the first text of each node, keyed by its title
  const out = new Map();
  const re = /<g id="[^"]*" class="node">\s*<title>([^<]*)<\/title>[\s\S]*?<text[^>]*x="([-\d.]+)" y="([-\d.]+)"/g;
  let m;
  while ((m = re.exec(svg))) out.set(m[1].replace(/&#45;/g, "-").replace(/&amp;/g, "&"), [parseFloat(m[2]), parseFloat(m[3])]);
  return out;
}

function normalise(points) {
  const xs = [...points.values()].map(p => p[0]), ys = [...points.values()].map(p => p[1]);
  const x0 = Math.min(...xs), y0 = Math.min(...ys), w = Math.max(...xs) - x0 || 1, h = Math.max(...ys) - y0 || 1;
  return new Map([...points].map(([k, [x, y]]) => [k, [(x - x0) / w, (y - y0) / h]]));
}

function look(a, b) {  // mean distance of the same box in two layouts, share of the unit diagonal
  const na = normalise(a), nb = normalise(b);
  let sum = 0, n = 0;
  for (const [k, [x, y]] of na) {
    const q = nb.get(k);
    if (!q) continue;
    sum += Math.hypot(x - q[0], y - q[1]); n++;
  }
  return n ? sum / n / Math.SQRT2 : null;
}

async function graphviz() {
  const { Graphviz } = await import(path.join(nodeModules, "@hpcc-js/wasm-graphviz/dist/index.js"));
  const t0 = now();
  const gv = await Graphviz.load();
  const load = now() - t0;
  const lay = dot => gv.layout(dot, "svg", "dot");
  return { load, lay, size: bundle("@hpcc-js/wasm-graphviz/dist/index.js"), centres: svg => centresFromSvg(svg) };
}

function dagreEngine() {
  const t0 = now();
  const dagre = require("@dagrejs/dagre");
  const load = now() - t0;
  const lay = ({ boxes, edges }) => {
    const g = new dagre.graphlib.Graph({ compound: true });
    g.setGraph({ rankdir: "LR", nodesep: 16, ranksep: 22 });
    g.setDefaultEdgeLabel(() => ({}));
    const seen = new Set();
    for (const b of boxes) {
      g.setNode(b.id, { width: b.w, height: b.h });
      let parent = null;
      for (const c of b.scope) {
        if (!seen.has(c)) { seen.add(c); g.setNode("cl:" + c, {}); if (parent) g.setParent("cl:" + c, parent); }
        parent = "cl:" + c;
      }
      if (parent) g.setParent(b.id, parent);
    }
    for (const [s, d] of edges) g.setEdge(s, d);
    dagre.layout(g);
    return new Map(boxes.map(b => [b.id, [g.node(b.id).x, g.node(b.id).y]]));
  };
  return { load, lay, size: bundle("@dagrejs/dagre/dist/dagre.min.js"), centres: r => r };
}

async function elkEngine() {
  const t0 = now();
  const ELK = require("elkjs/lib/elk.bundled.js");
  const elk = new ELK();
  const load = now() - t0;
  const lay = async ({ boxes, edges }) => {
    const root = { id: "root", layoutOptions: { "elk.algorithm": "layered", "elk.direction": "RIGHT",
      "elk.hierarchyHandling": "INCLUDE_CHILDREN" }, children: [], edges: [] };
    const frames = new Map();
    for (const b of boxes) {
      let parent = root;
      for (const c of b.scope) {
        if (!frames.has(c)) { const f = { id: "cl:" + c, children: [] }; parent.children.push(f); frames.set(c, f); }
        parent = frames.get(c);
      }
      parent.children.push({ id: b.id, width: b.w, height: b.h });
    }
    edges.forEach(([s, d], i) => root.edges.push({ id: "e" + i, sources: [s], targets: [d] }));
    const out = await elk.layout(root);
    const centres = new Map();
    const walk = (n, dx, dy) => {
      for (const c of n.children || []) {
        if (c.id.startsWith("cl:")) walk(c, dx + c.x, dy + c.y);
        else centres.set(c.id, [dx + c.x + c.width / 2, dy + c.y + c.height / 2]);
      }
    };
    walk(out, 0, 0);
    return centres;
  };
  return { load, lay, size: bundle("elkjs/lib/elk.bundled.js"), centres: r => r };
}

const e = engine === "graphviz" ? await graphviz() : engine === "dagre" ? dagreEngine() : await elkEngine();
const base = { engine, graph: path.basename(file, ".json"), boxes: graph.boxes.length, frames: graph.frames,
  bundle_bytes: e.size.bytes, bundle_gzip: e.size.gzip, load_ms: Math.round(e.load) };
// Row by row first (how the view lays out large pictures), printed at once: the whole graph
// can take longer than the caller waits.
let t = now();
for (const row of graph.rows) await e.lay(engine === "graphviz" ? row.dot : row);
const rowsMs = now() - t;
t = now();
for (const row of graph.rows) await e.lay(engine === "graphviz" ? row.dot : row);
console.log(JSON.stringify({ ...base, part: "rows", rows: graph.rows.length, first_ms: Math.round(rowsMs), again_ms: Math.round(now() - t) }));
if (engine === "graphviz") {  // the view's setting for rows: fewer crossing-minimisation passes
  const quick = d => d.replace('newrank="true"', 'mclimit="0.5", newrank="true"');
  t = now();
  for (const row of graph.rows) await e.lay(quick(row.dot));
  const quickMs = now() - t;
  t = now();
  for (const row of graph.rows) await e.lay(quick(row.dot));
  console.log(JSON.stringify({ ...base, part: "rows, mclimit=0.5", rows: graph.rows.length, first_ms: Math.round(quickMs), again_ms: Math.round(now() - t) }));
}
if (mode === "rows") process.exit(0);
const input = engine === "graphviz" ? graph.dot : { boxes: graph.boxes, edges: graph.edges };
t = now();
const first = await e.lay(input);
const firstMs = now() - t;
t = now();
await e.lay(input);
const secondMs = now() - t;
let similarity = null;
if (engine !== "graphviz") {
  const gv = await graphviz();
  similarity = look(gv.centres(gv.lay(graph.dot)), e.centres(first));
}
console.log(JSON.stringify({ ...base, part: "whole", first_ms: Math.round(firstMs), again_ms: Math.round(secondMs),
  look_vs_graphviz: similarity === null ? null : Math.round(similarity * 1000) / 1000 }));
