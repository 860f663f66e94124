/* drawnet explorer: the interactive view of a drawnet.graph document (docs/json-format.md).
 *
 * Runs offline from one HTML file or a notebook output: no network, no framework. The
 * layout engine is Graphviz (WebAssembly), fed DOT that mirrors drawnet/emit/dot.py, one
 * row of the page-shaped layout at a time, so the first picture is the static one and a
 * large graph paints row by row. Every user string reaches the page through textContent
 * or Graphviz's own escaping of an escaped HTML-like label, never through innerHTML.
 */
(function (root) {
  "use strict";
  if (root.drawnetExplorer) return;
  const SVGNS = "http://www.w3.org/2000/svg";
  const FAMILIES = ["conv", "linear", "norm", "activation", "pool", "attention", "embedding",
    "recurrent", "dropout", "block", "other"];
  const RANKSEP = 0.2, NODESEP = 0.22, ROW_GAP = 0.12, FRAME_MARGIN = 0.12;  // layout.py
  const PAGE = { LR: 10.4, TB: 20.0 };
  const MAX_LABEL = 60;
  const SINGLE_MAX = 100;  // up to this many boxes, one DOT graph (the static look); beyond, row by row
  const ROW_MAX = 50;      // laid out row by row, no row holds more boxes than this (layout time)
  const COST_NAMES = { macs: "MACs", params: "params", flops: "FLOPs" };

  // ---------------------------------------------------------------- text (labels.py)
  function chars(text) { return Array.from(text); }

  function escapeHtml(text) {
    let out = "";
    for (const ch of chars(text)) {
      const code = ch.codePointAt(0);
      if (ch === "&") out += "&amp;";
      else if (ch === "<") out += "&lt;";
      else if (ch === ">") out += "&gt;";
      else if (ch === '"') out += "&quot;";
      else if (ch === "'") out += "&#39;";
      else if (ch === "\n") out += '<BR ALIGN="CENTER"/>';
      else if (ch === "\t" || ch === "\r") out += " ";
      else if (code < 0x20 || (code >= 0xD800 && code <= 0xDFFF) || code === 0xFFFE || code === 0xFFFF) out += "\uFFFD";
      else if ("[]{}|\\".includes(ch)) out += "&#" + code + ";";
      else out += ch;
    }
    return out;
  }

  function quote(text) {  // a DOT quoted string (tooltips, ids)
    let clean = "";
    for (const ch of chars(String(text))) {
      const code = ch.codePointAt(0);
      if (ch === "\t" || ch === "\r") clean += " ";
      else if ((code < 0x20 && ch !== "\n") || (code >= 0xD800 && code <= 0xDFFF) || code === 0xFFFE || code === 0xFFFF) clean += "\uFFFD";
      else clean += ch;
    }
    return '"' + clean.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
  }

  function shorten(text, limit) {
    limit = limit || MAX_LABEL;
    const cs = chars(text);
    if (cs.length <= limit) return text;
    const head = Math.floor((limit - 1) / 2);
    return cs.slice(0, head).join("") + "…" + cs.slice(cs.length - (limit - 1 - head)).join("");
  }

  function human(n) {
    for (const [factor, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]]) {
      if (Math.abs(n) >= factor) return Number((n / factor).toPrecision(3)).toString() + suffix;
    }
    return String(n);
  }

  function grouped(n) { return Math.round(n).toLocaleString("en-US"); }

  function bytesText(n) {
    for (const [unit, size] of [["GB", 1e9], ["MB", 1e6], ["kB", 1e3]]) {
      if (n >= size) return (n / size).toFixed(2) + " " + unit;
    }
    return n + " B";
  }

  function percent(x) {
    if (!x) return "0%";
    if (x < 0.0001) return "<0.01%";
    return (100 * x).toFixed(x < 0.1 ? 2 : 1) + "%";
  }

  function shapeText(shape) { return shape.length ? shape.join("×") : "scalar"; }

  function shapesText(metas, limit) {
    limit = limit || 3;
    const parts = metas.slice(0, limit).map(m => shapeText(m.shape));
    if (metas.length > limit) parts.push("+" + (metas.length - limit));
    return parts.join(", ");
  }

  function tensorsText(metas) {
    const dtypes = Array.from(new Set(metas.map(m => m.dtype))).sort();
    return shapesText(metas) + (dtypes.length ? " " + dtypes.join("/") : "");
  }

  function pathRange(first, last) {
    if (!last || last === first) return first;
    const a = first.lastIndexOf("."), b = last.lastIndexOf(".");
    const headA = a < 0 ? "" : first.slice(0, a), tailA = first.slice(a + 1);
    const headB = b < 0 ? "" : last.slice(0, b), tailB = last.slice(b + 1);
    if (headA === headB) {
      const stemA = tailA.replace(/[0-9]+$/, ""), stemB = tailB.replace(/[0-9]+$/, "");
      if (stemA === stemB && tailA !== stemA && tailB !== stemB) return first + "–" + tailB.slice(stemB.length);
    }
    return first + " … " + last;
  }

  function shade(fraction, top) {  // dot.py _shade
    const rgb = [1, 3, 5].map(i => parseInt(top.slice(i, i + 2), 16));
    const f = 0.6 * Math.min(Math.max(fraction, 0), 1);
    return "#" + rgb.map(c => Math.round(255 + (c - 255) * f).toString(16).padStart(2, "0")).join("");
  }

  function relativeName(path, base) {  // dot.py relative_name
    if (!base || !path.startsWith(base + ".")) return path;
    let rel = path.slice(base.length + 1);
    const parents = base.split(".");
    while (/^[0-9]/.test(rel) && parents.length) rel = parents.pop() + "." + rel;
    return rel;
  }

  function tail(path) {  // dot.py _tail: short enough for a "from ..." node
    if (chars(path).length <= 24) return path;
    const parts = path.split(".");
    let t = parts.length ? parts.pop() : path;
    while (parts.length && (/^[0-9]/.test(t) || t.startsWith("–"))) t = parts.pop() + "." + t;
    return t;
  }

  function decodeName(name) {  // a DOT node name as dot.py writes it (percent-encoded)
    try { return decodeURIComponent(name); } catch (e) { return name; }
  }

  function substitute(id, oldPath, newPath) {
    if (id === oldPath) return newPath;
    if (id.startsWith(oldPath) && ".:@#".includes(id.charAt(oldPath.length))) return newPath + id.slice(oldPath.length);
    return null;
  }

  // ---------------------------------------------------------------- the document
  class Model {
    constructor(doc) {
      this.doc = doc;
      this.view = doc.view;
      this.theme = doc.view.theme;
      this.nodes = new Map(doc.nodes.map(n => [n.id, n]));
      this.calls = new Map(doc.calls.map(c => [c.id, c]));
      this.runs = doc.runs;
      this.order = new Map(doc.nodes.map((n, i) => [n.id, i]));
      this.members = new Map();  // call id -> number of full-depth nodes inside it
      for (const n of doc.nodes) for (const c of n.scope) this.members.set(c, (this.members.get(c) || 0) + 1);
      this.copyOf = new Map();   // call id -> [run index, copy index]
      doc.runs.forEach((run, r) => run.calls.forEach((c, k) => { if (!this.copyOf.has(c)) this.copyOf.set(c, [r, k]); }));
      this.callOrder = new Map(doc.calls.map((c, i) => [c.id, i]));
    }
    expandable(callId) { return (this.members.get(callId) || 0) > 0; }
    chain(callId) {  // the call and its ancestors, outermost first
      const out = [];
      let c = this.calls.get(callId);
      while (c) { out.unshift(c.id); c = c.parent ? this.calls.get(c.parent) : null; }
      return out;
    }
    // Every id that plays the same part as `callId` in the other copies of the rolled runs
    // around it (a run drawn once shares one state between its copies).
    twins(callId, rolled) {
      let found = [callId];
      for (const ancestor of this.chain(callId)) {
        const rc = this.copyOf.get(ancestor);
        if (!rc || !rolled.has(rc[0])) continue;
        const run = this.runs[rc[0]];
        const next = [];
        for (const id of found) {
          for (const p of run.paths) {
            const t = substitute(id, run.paths[rc[1]], p);
            if (t !== null && (this.calls.has(t) || this.nodes.has(t)) && !next.includes(t)) next.push(t);
          }
        }
        if (next.length) found = next;
      }
      return found;
    }
  }

  // ---------------------------------------------------------------- state -> boxes
  function project(model, state) {
    const copyOf = new Map();
    for (const r of state.rolled) model.runs[r].calls.forEach((c, k) => copyOf.set(c, [r, k]));
    const cache = new Map();
    function boxOf(node) {
      const copies = [];
      let i = 0;
      while (i < node.scope.length) {
        const c = node.scope[i];
        const rc = copyOf.get(c);
        if (rc) {
          if (!copies.some(x => x[0] === rc[0])) copies.push(rc);
          const want = state.shown.get(rc[0]) || 0;
          if (rc[1] !== want) {
            const run = model.runs[rc[0]];
            const twin = substitute(node.id, run.paths[rc[1]], run.paths[want]);
            if (twin !== null && model.nodes.has(twin) && twin !== node.id) { node = model.nodes.get(twin); continue; }
          }
        }
        if (!state.open.has(c)) return { key: c, isCall: true, chain: node.scope.slice(0, i), copies };
        i++;
      }
      return { key: node.id, isCall: false, chain: node.scope.slice(), copies };
    }
    const boxes = new Map();
    const first = [];
    const where = new Map();
    for (const n of model.doc.nodes) {
      const b = boxOf(n);
      where.set(n.id, b);
      if (boxes.has(b.key)) continue;
      const box = { key: b.key, chain: b.chain, index: first.length };
      if (!b.isCall) { box.kind = "node"; box.node = model.nodes.get(b.key); }
      else {
        box.kind = "call"; box.call = model.calls.get(b.key);
        const rc = copyOf.get(b.key);
        if (rc) { box.kind = "run"; box.run = rc[0]; }
      }
      boxes.set(b.key, box);
      first.push(box);
    }
    const edges = new Map();
    for (const e of model.doc.edges) {
      const s = where.get(e.src), d = where.get(e.dst);
      if (!s || !d || s.key === d.key) continue;
      if (s.copies.some(([r, k]) => d.copies.some(([r2, k2]) => r2 === r && k2 !== k))) continue;
      const k = s.key + "\u0000" + d.key;
      if (!edges.has(k)) edges.set(k, { src: s.key, dst: d.key, shape: e.shape, dtype: e.dtype });
    }
    const order = topoSort(first, Array.from(edges.values()));
    return { boxes: order, byKey: boxes, edges: Array.from(edges.values()) };
  }

  function topoSort(boxes, edges) {
    const indeg = new Map(boxes.map(b => [b.key, 0]));
    const succ = new Map(boxes.map(b => [b.key, []]));
    const byKey = new Map(boxes.map(b => [b.key, b]));
    for (const e of edges) { succ.get(e.src).push(e.dst); indeg.set(e.dst, indeg.get(e.dst) + 1); }
    const heap = [];
    const push = i => { heap.push(i); let j = heap.length - 1; while (j > 0) { const p = (j - 1) >> 1; if (heap[p] <= heap[j]) break; [heap[p], heap[j]] = [heap[j], heap[p]]; j = p; } };
    const pop = () => { const top = heap[0]; const last = heap.pop(); if (heap.length) { heap[0] = last; let j = 0; for (;;) { const l = 2 * j + 1, r = l + 1; let m = j; if (l < heap.length && heap[l] < heap[m]) m = l; if (r < heap.length && heap[r] < heap[m]) m = r; if (m === j) break; [heap[m], heap[j]] = [heap[j], heap[m]]; j = m; } } return top; };
    for (const b of boxes) if (indeg.get(b.key) === 0) push(b.index);
    const out = [];
    while (heap.length) {
      const b = boxes[pop()];
      out.push(b);
      for (const s of succ.get(b.key)) { indeg.set(s, indeg.get(s) - 1); if (indeg.get(s) === 0) push(byKey.get(s).index); }
    }
    if (out.length !== boxes.length) for (const b of boxes) if (!out.includes(b)) out.push(b);
    return out;
  }

  // ---------------------------------------------------------------- rows (layout.py)
  function ranksOf(boxes, edges) {
    const pred = new Map();
    for (const e of edges) { if (!pred.has(e.dst)) pred.set(e.dst, []); pred.get(e.dst).push(e.src); }
    const rank = new Map();
    for (const b of boxes) {
      let r = 0;
      for (const p of pred.get(b.key) || []) if (rank.has(p)) r = Math.max(r, rank.get(p) + 1);
      rank.set(b.key, r);
    }
    return rank;
  }

  // layout.py plan_rows: the fewest rows of at most `room[0]` inches, balanced, cut where
  // the fewest tensors and frames cross; columns (TB) side by side within `room[1]`.
  function planRows(boxes, edges, sizes, orientation, repeated, room) {
    const rank = ranksOf(boxes, edges);
    const out = new Map(boxes.map(b => [b.key, 0]));
    if (!boxes.length) return out;
    const [alongMax, acrossMax] = room || [PAGE[orientation], Infinity];
    const k = Math.max(...rank.values()) + 1;
    const [flow, cross] = flowCross(boxes, sizes, orientation, rank, k);
    const total = flow.reduce((a, b) => a + b, 0);
    if (total <= alongMax) return out;
    const cost = cutCosts(boxes, edges, rank, k, repeated);
    let limit = alongMax;
    let cuts = breakRows(flow, cost, limit);
    while (limit < total && acrossOf(cross, segments(k, cuts)) > acrossMax) {
      limit *= 1.2;
      cuts = breakRows(flow, cost, limit);
    }
    const rowOfRank = new Array(k).fill(0);
    segments(k, cuts).forEach(([a, b], i) => { for (let r = a; r < b; r++) rowOfRank[r] = i; });
    for (const b of boxes) out.set(b.key, rowOfRank[rank.get(b.key)]);
    return out;
  }

  function flowCross(boxes, sizes, orientation, rank, k) {
    const flow = new Array(k).fill(0), cross = new Array(k).fill(0);
    for (const b of boxes) {
      const [w, h] = sizes.get(b.key) || [1.0, 0.4];
      const along = orientation === "LR" ? w : h, across = orientation === "LR" ? h : w;
      const r = rank.get(b.key);
      flow[r] = Math.max(flow[r], along);
      cross[r] += across + NODESEP;
    }
    for (let i = 0; i < k; i++) flow[i] += RANKSEP;
    const first = new Map(), last = new Map();
    for (const b of boxes) for (const c of b.chain) {
      const r = rank.get(b.key);
      first.set(c, Math.min(first.has(c) ? first.get(c) : k, r));
      last.set(c, Math.max(last.get(c) || 0, r));
    }
    for (const [c, r] of first) if (last.get(c) > r) { flow[r] += FRAME_MARGIN; flow[last.get(c)] += FRAME_MARGIN; }
    return [flow, cross];
  }

  function acrossOf(cross, segs) {
    return segs.reduce((acc, [a, b]) => acc + Math.max(...cross.slice(a, b)), 0) + ROW_GAP * (segs.length - 1);
  }

  function breakRows(flow, cost, limit) {  // line breaking by dynamic programming
    const k = flow.length;
    const prefix = [0];
    for (const f of flow) prefix.push(prefix[prefix.length - 1] + f);
    const best = [0].concat(new Array(k).fill(Infinity));
    const back = new Array(k + 1).fill(0);
    for (let i = 1; i <= k; i++) {
      for (let j = i - 1; j >= 0; j--) {
        const seg = prefix[i] - prefix[j];
        if (seg > 2.5 * limit && j < i - 1) break;
        const slack = (limit - seg) / limit, over = -slack;
        const row = 1.0 + (seg <= limit ? 0.5 * slack * slack : 10.0 * over + 50.0 * Math.max(0, over - 0.3));
        const score = best[j] + row + (j > 0 ? 0.3 * cost[j] : 0);
        if (score < best[i]) { best[i] = score; back[i] = j; }
      }
    }
    const cuts = [];
    for (let i = k; i > 0;) { i = back[i]; if (i > 0) cuts.push(i); }
    return cuts.sort((a, b) => a - b);
  }

  // Split rows holding more than `most` boxes at the cheapest cuts (Graphviz's time grows
  // faster than linearly with a graph's size; many small rows lay out quickly, and the
  // first one paints early).
  function capRows(boxes, edges, rowOf, sizes, orientation, repeated, most) {
    const rank = ranksOf(boxes, edges);
    const byRow = new Map();
    for (const b of boxes) { const r = rowOf.get(b.key); if (!byRow.has(r)) byRow.set(r, []); byRow.get(r).push(b); }
    if (Array.from(byRow.values()).every(list => list.length <= most)) return rowOf;
    const k = Math.max(...rank.values()) + 1;
    const cost = cutCosts(boxes, edges, rank, k, repeated);
    const flow = new Array(k).fill(0);
    for (const b of boxes) {
      const [w, h] = sizes.get(b.key) || [1.0, 0.4];
      const r = rank.get(b.key);
      flow[r] = Math.max(flow[r], orientation === "LR" ? w : h);
    }
    const out = new Map();
    let next = 0;
    for (const r of Array.from(byRow.keys()).sort((a, b) => a - b)) {
      const list = byRow.get(r);
      if (list.length <= most) { for (const b of list) out.set(b.key, next); next++; continue; }
      const lo = Math.min(...list.map(b => rank.get(b.key))), hi = Math.max(...list.map(b => rank.get(b.key))) + 1;
      const perRank = new Array(hi - lo).fill(0);
      for (const b of list) perRank[rank.get(b.key) - lo]++;
      // pieces of about equal size (never more than `most`), each cut at the cheapest rank
      // within reach of its ideal place
      const target = list.length / Math.ceil(list.length / most);
      const cuts = [];
      let start = lo;
      for (;;) {
        let count = 0, best = -1, bestKey = Infinity, lastFit = -1;
        for (let c = start + 1; c <= hi; c++) {
          count += perRank[c - 1 - lo];
          if (count > most) break;
          lastFit = c;
          if (c < hi && count >= 0.6 * target && count <= 1.25 * target) {
            const key = cost[c] - 1e-3 * count;
            if (key < bestKey) { bestKey = key; best = c; }
          }
        }
        if (lastFit === hi || start >= hi) break;
        if (best < 0) best = Math.max(lastFit, start + 1);
        if (best >= hi) break;
        cuts.push(best);
        start = best;
      }
      const bounds = [lo, ...cuts, hi];
      const pieceOf = new Array(hi - lo).fill(0);
      for (let i = 0; i + 1 < bounds.length; i++) for (let x = bounds[i]; x < bounds[i + 1]; x++) pieceOf[x - lo] = i;
      for (const b of list) out.set(b.key, next + pieceOf[rank.get(b.key) - lo]);
      next += bounds.length - 1;
    }
    return out;
  }

  function segments(k, cuts) {
    const bounds = [0, ...cuts, k];
    const out = [];
    for (let i = 0; i + 1 < bounds.length; i++) out.push([bounds[i], bounds[i + 1]]);
    return out;
  }

  function cutCosts(boxes, edges, rank, k, repeated) {
    const sources = Array.from({ length: k + 1 }, () => new Set());
    for (const e of edges) {
      const a = rank.get(e.src), b = rank.get(e.dst);
      for (let c = a + 1; c <= b; c++) sources[c].add(e.src);
    }
    const spans = new Map();
    for (const b of boxes) {
      b.chain.forEach((call, i) => {
        const r = rank.get(b.key);
        const s = spans.get(call);
        if (!s) spans.set(call, [r, r, i + 1]);
        else { s[0] = Math.min(s[0], r); s[1] = Math.max(s[1], r); }
      });
    }
    const penalty = new Array(k + 1).fill(0);
    for (const [call, [lo, hi, depth]] of spans) {
      const weight = repeated.has(call) ? 100 : depth;
      for (let c = lo + 1; c <= hi; c++) penalty[c] += weight;
    }
    return sources.map((src, c) => 4.0 * Math.max(src.size - 1, 0) + penalty[c]);
  }

  // ---------------------------------------------------------------- the view
  const CSS_CLASS = "drawnet-explorer";

  class Explorer {
    constructor(container, doc, engine, options) {
      this.el = container;
      this.model = new Model(doc);
      this.engine = engine;
      this.options = options || {};
      this.cache = new Map();
      this.generation = 0;
      this.colorBy = doc.view.color_by || "family";
      this.orientation = doc.view.orientation || "LR";
      this.state = this.defaultState();
      this.selected = null;
      this.query = "";
      this.timings = {};
      this.vb = null;
      this.moves = 0;
    }

    defaultState() {
      const v = this.model.view;
      return { open: new Set(v.open), rolled: new Set(v.rolled), shown: new Map(), userOpened: new Set() };
    }

    isDefault() {
      const v = this.model.view, s = this.state;
      if (this.orientation !== (v.orientation || "LR") || this.colorBy !== (v.color_by || "family")) return false;
      if (s.open.size !== v.open.length || s.rolled.size !== v.rolled.length) return false;
      for (const c of v.open) if (!s.open.has(c)) return false;
      for (const r of v.rolled) if (!s.rolled.has(r)) return false;
      for (const k of s.shown.values()) if (k) return false;
      return true;
    }

    // -- DOM
    build() {
      const el = this.el;
      el.classList.add(CSS_CLASS);
      el.textContent = "";
      const bar = div("dn-bar");
      this.search = document.createElement("input");
      this.search.type = "search";
      this.search.className = "dn-search";
      this.search.placeholder = "Search path or class (conv2, Linear, *Attention)";
      this.search.setAttribute("aria-label", "Search modules by path or class");
      bar.appendChild(this.search);
      this.count = document.createElement("button");
      this.count.type = "button";
      this.count.className = "dn-count";
      this.count.title = "Show or hide the list of matches";
      this.count.addEventListener("click", () => { if (this.results.childNodes.length) this.results.hidden = !this.results.hidden; });
      bar.appendChild(this.count);
      const colour = document.createElement("select");
      colour.className = "dn-color";
      colour.setAttribute("aria-label", "Colour boxes by");
      for (const [v, t] of [["family", "colour: family"], ["macs", "colour: MACs"], ["params", "colour: params"], ["flops", "colour: FLOPs"]]) {
        const o = document.createElement("option"); o.value = v; o.textContent = t; colour.appendChild(o);
      }
      colour.value = this.colorBy;
      this.colourSelect = colour;
      bar.appendChild(colour);
      const buttons = [["expand-all", "Expand all", "Open every module"], ["collapse-all", "Collapse all", "Close every module"],
        ["reset", "Reset", "Back to the default picture"], ["orient", this.orientation === "LR" ? "↓ TB" : "→ LR", "Switch orientation"],
        ["fit", "Fit", "Fit the picture to the view"], ["zoom-in", "+", "Zoom in"], ["zoom-out", "−", "Zoom out"],
        ["svg", "SVG", "Download the current view as SVG"], ["png", "PNG", "Download the current view as PNG"]];
      for (const [act, text, title] of buttons) {
        const b = document.createElement("button");
        b.type = "button"; b.dataset.act = act; b.textContent = text; b.title = title;
        bar.appendChild(b);
      }
      this.status = span("dn-status");
      bar.appendChild(this.status);
      el.appendChild(bar);
      this.results = div("dn-results");
      this.results.hidden = true;
      el.appendChild(this.results);
      const main = div("dn-main");
      this.canvas = div("dn-canvas");
      this.svg = document.createElementNS(SVGNS, "svg");
      this.svg.setAttribute("class", "dn-svg");
      this.svg.setAttribute("xmlns", SVGNS);
      this.canvas.appendChild(this.svg);
      main.appendChild(this.canvas);
      this.panel = document.createElement("aside");
      this.panel.className = "dn-panel";
      this.panel.hidden = true;
      main.appendChild(this.panel);
      el.appendChild(main);
      this.bind(bar, colour);
    }

    bind(bar, colour) {
      bar.addEventListener("click", ev => {
        const b = ev.target.closest("button");
        if (!b) return;
        const act = b.dataset.act;
        if (act === "expand-all") this.expandAll();
        else if (act === "collapse-all") this.collapseAll();
        else if (act === "reset") { this.state = this.defaultState(); this.render(); }
        else if (act === "orient") { this.orientation = this.orientation === "LR" ? "TB" : "LR"; b.textContent = this.orientation === "LR" ? "↓ TB" : "→ LR"; this.render({ fit: true }); }
        else if (act === "fit") this.fit();
        else if (act === "zoom-in") this.zoomBy(1.25);
        else if (act === "zoom-out") this.zoomBy(0.8);
        else if (act === "svg") this.download("svg");
        else if (act === "png") this.download("png");
      });
      colour.addEventListener("change", () => {
        this.colorBy = colour.value;
        if (this.mode !== "rows") this.render();  // one graph: its colour key is in its heading
        else { this.recolor(); this.renderLegend(); }
      });
      let timer = null;
      this.search.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => this.setQuery(this.search.value, true), 120);
      });
      this.search.addEventListener("keydown", ev => {
        if (ev.key === "Enter") { clearTimeout(timer); if (this.search.value !== this.query) this.setQuery(this.search.value, true); else this.nextHit(); }
        if (ev.key === "Escape") { this.search.value = ""; this.setQuery("", false); }
      });
      this.svg.addEventListener("click", ev => this.onClick(ev));
      this.bindPanZoom();
    }

    // -- pan and zoom: the root <svg>'s viewBox is the visible part, in points
    bindPanZoom() {
      const c = this.canvas;
      let drag = null;
      c.addEventListener("pointerdown", ev => {
        if (ev.button !== 0) return;
        drag = { x: ev.clientX, y: ev.clientY, vb: Object.assign({}, this.vb), moved: false, id: ev.pointerId };
      });
      c.addEventListener("pointermove", ev => {
        if (!drag || !this.vb) return;
        const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
        if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
        if (!drag.moved) { drag.moved = true; try { c.setPointerCapture(drag.id); } catch (e) { /* already released */ } c.classList.add("dn-dragging"); }
        const s = this.scale();
        this.vb.x = drag.vb.x - dx / s; this.vb.y = drag.vb.y - dy / s;
        this.moves++;
        this.applyViewBox();
      });
      const end = () => { if (drag && drag.moved) { this.suppressClick = true; setTimeout(() => { this.suppressClick = false; }, 0); } drag = null; c.classList.remove("dn-dragging"); };
      c.addEventListener("pointerup", end);
      c.addEventListener("pointercancel", end);
      c.addEventListener("wheel", ev => {
        if (!this.vb) return;
        if (this.options.embedded && !(ev.ctrlKey || ev.metaKey)) return;  // let the notebook scroll
        ev.preventDefault();
        this.moves++;
        const rect = c.getBoundingClientRect();
        this.zoomBy(Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015)), ev.clientX - rect.left, ev.clientY - rect.top);
      }, { passive: false });
      if (typeof ResizeObserver !== "undefined") {
        new ResizeObserver(() => { if (this.vb) { this.applyViewBox(); } }).observe(c);
      }
    }

    size() { return [Math.max(this.canvas.clientWidth, 50), Math.max(this.canvas.clientHeight, 50)]; }
    scale() { const [w] = this.size(); return w / this.vb.w; }

    applyViewBox() {
      const [w, h] = this.size();
      const s = this.vb.s;
      this.vb.w = w / s; this.vb.h = h / s;
      this.svg.setAttribute("viewBox", `${this.vb.x} ${this.vb.y} ${this.vb.w} ${this.vb.h}`);
    }

    zoomBy(f, px, py) {
      if (!this.vb) return;
      const [w, h] = this.size();
      if (px === undefined) { px = w / 2; py = h / 2; }
      const s0 = this.vb.s, s1 = Math.min(Math.max(s0 * f, 0.02), 8);
      const gx = this.vb.x + px / s0, gy = this.vb.y + py / s0;
      this.vb.s = s1; this.vb.x = gx - px / s1; this.vb.y = gy - py / s1;
      this.applyViewBox();
    }

    fit(box, maxScale) {
      const ext = box || this.extent;
      if (!ext) return;
      const [w, h] = this.size();
      const pad = 12;
      const s = Math.min((w - 2 * pad) / Math.max(ext.w, 1), (h - 2 * pad) / Math.max(ext.h, 1), maxScale || 1.5);
      this.vb = { s, x: ext.x + ext.w / 2 - w / (2 * s), y: ext.y + ext.h / 2 - h / (2 * s), w: w / s, h: h / s };
      this.applyViewBox();
    }

    centreOn(box, minScale) {
      const [w, h] = this.size();
      let s = this.vb ? this.vb.s : 1;
      if (minScale && s < minScale) s = minScale;
      const fits = Math.min((w - 24) / Math.max(box.w, 1), (h - 24) / Math.max(box.h, 1));
      if (s > fits) s = fits;
      this.vb = { s, x: box.x + box.w / 2 - w / (2 * s), y: box.y + box.h / 2 - h / (2 * s), w: w / s, h: h / s };
      this.applyViewBox();
    }

    // bounding box of an element in root SVG coordinates
    bboxOf(el) {
      const r = el.getBoundingClientRect();
      const m = this.svg.getScreenCTM();
      if (!m) return null;
      const inv = m.inverse();
      const p1 = new DOMPoint(r.left, r.top).matrixTransform(inv);
      const p2 = new DOMPoint(r.right, r.bottom).matrixTransform(inv);
      return { x: p1.x, y: p1.y, w: p2.x - p1.x, h: p2.y - p1.y };
    }

    // -- state changes
    setOpen(callId, open) {
      for (const id of this.model.twins(callId, this.state.rolled)) {
        if (open) { this.state.open.add(id); this.state.userOpened.add(id); }
        else { this.state.open.delete(id); this.state.userOpened.delete(id); }
      }
    }

    expand(callId) {
      if (!this.model.expandable(callId)) return;
      this.setOpen(callId, true);
      this.render({ anchor: callId });
    }

    collapse(callId) {
      this.setOpen(callId, false);
      this.render({ anchor: callId });
    }

    expandAll() {
      for (const c of this.model.doc.calls) if (this.model.expandable(c.id)) this.state.open.add(c.id);
      return this.render({ fit: true });
    }

    collapseAll() {
      this.state.open = new Set(); this.state.userOpened = new Set();
      return this.render({ fit: true });
    }

    unrollAll() {
      this.state.rolled = new Set();
      return this.render({ fit: true });
    }

    showCopy(run, k) {
      const n = this.model.runs[run].calls.length;
      k = ((k % n) + n) % n;
      const before = this.model.runs[run].calls[this.state.shown.get(run) || 0];
      this.state.shown.set(run, k);
      const now = this.model.runs[run].calls[k];
      if (this.selected && this.selected.key) {
        const t = substitute(this.selected.key, this.model.calls.get(before).path, this.model.calls.get(now).path);
        if (t !== null) this.selected = { key: t, type: this.selected.type };
      }
      return this.render({ anchor: now });
    }

    setRolled(run, rolled) {
      if (rolled) this.state.rolled.add(run); else this.state.rolled.delete(run);
      this.state.shown.delete(run);
      return this.render({ anchor: this.model.runs[run].calls[0] });
    }

    // -- clicks
    onClick(ev) {
      if (this.suppressClick) return;
      const g = ev.target.closest("g.node, g.cluster");
      if (!g || !this.svg.contains(g)) { this.select(null); return; }
      const id = g.id || "";
      if (id.startsWith("b:")) {
        const key = id.slice(2);
        const box = this.current && this.current.byKey.get(key);
        if (!box) return;
        if ((box.kind === "call" || box.kind === "run") && this.model.expandable(key)) {
          this.selected = { key, type: "frame" };
          this.expand(key);
        } else {
          this.select({ key, type: "box" });
        }
      } else if (id.startsWith("f:")) {
        const call = id.slice(2).replace(/#\d+$/, "");
        const onLabel = ev.target.closest("text") !== null;
        if (onLabel) { this.selected = { key: call, type: "box" }; this.collapse(call); }
        else this.select({ key: call, type: "frame" });
      } else if (id.startsWith("g:")) {
        const src = this.ghostSrc.get(id);
        const el = this.elementFor(src);
        if (el) { const b = this.bboxOf(el); if (b) this.centreOn(b); this.select({ key: src, type: "box" }); }
      }
    }

    elementFor(key) {
      return this.boxEls ? this.boxEls.get(key) || null : null;
    }

    select(sel) {
      this.selected = sel;
      for (const el of this.svg.querySelectorAll(".dn-selected")) el.classList.remove("dn-selected");
      if (sel) {
        const els = sel.type === "frame" ? (this.frameEls.get(sel.key) || []) : [this.boxEls.get(sel.key)];
        for (const el of els) if (el) el.classList.add("dn-selected");
      }
      this.showDetails();
    }

    // -- search
    matcher(q) {
      q = q.trim();
      if (!q) return null;
      const lower = q.toLowerCase();
      if (q.includes("*")) {
        const body = q.split("*").map(p => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*");
        const pathRe = new RegExp(body, "i"), classRe = new RegExp("^" + body + "$", "i");
        return (path, cls) => pathRe.test(path) || classRe.test(cls);
      }
      return (path, cls) => path.toLowerCase().includes(lower) || cls.toLowerCase() === lower;
    }

    setQuery(q, centre) {
      this.query = q;
      this.hitIndex = -1;
      this.highlight(centre);
    }

    hits() {  // modules (call ids) and function nodes that match, in graph order
      const m = this.matcher(this.query);
      if (!m) return null;
      const calls = new Set(), nodes = new Set();
      for (const c of this.model.doc.calls) if (m(c.path, c.class)) calls.add(c.id);
      for (const n of this.model.doc.nodes) if (!n.calls.length && n.kind === "function" && m(n.path ? n.path + ":" + n.op : n.op, n.op)) nodes.add(n.id);
      return { calls, nodes };
    }

    boxMatches(box, hits) {
      if (box.kind === "node") {
        if (hits.nodes.has(box.key)) return "hit";
        if (box.node.calls.some(c => hits.calls.has(c))) return "hit";
        return null;
      }
      if (hits.calls.has(box.key)) return "hit";
      const path = box.call.path;
      for (const c of hits.calls) { if (substitute(this.model.calls.get(c).path, path, path) !== null) return "inside"; }
      for (const n of hits.nodes) { if (this.model.nodes.get(n).scope.includes(box.key)) return "inside"; }
      if (box.kind === "run") {
        const run = this.model.runs[box.run];
        for (const p of run.paths) for (const c of hits.calls) if (substitute(this.model.calls.get(c).path, p, p) !== null) return "inside";
      }
      return null;
    }

    highlight(centre) {
      for (const el of this.svg.querySelectorAll(".dn-hit, .dn-hit-inside")) el.classList.remove("dn-hit", "dn-hit-inside");
      const hits = this.hits();
      this.hitEls = [];
      this.results.textContent = "";
      if (!hits) { this.count.textContent = ""; this.results.hidden = true; return; }
      let shown = 0, inside = 0;
      for (const box of (this.current ? this.current.boxes : [])) {
        const how = this.boxMatches(box, hits);
        const el = this.boxEls.get(box.key);
        if (!how || !el) continue;
        el.classList.add(how === "hit" ? "dn-hit" : "dn-hit-inside");
        this.hitEls.push(el);
        if (how === "hit") shown++; else inside++;
      }
      for (const [call, els] of this.frameEls) if (hits.calls.has(call)) for (const el of els) { el.classList.add("dn-hit"); }
      const total = hits.calls.size + hits.nodes.size;
      this.count.textContent = total ? `${shown} box${shown === 1 ? "" : "es"}` + (inside ? ` + ${inside} closed` : "") + ` · ${total} module${total === 1 ? "" : "s"}` : "no match";
      this.fillResults(hits, inside > 0 || shown === 0);
      if (centre && this.hitEls.length) {
        const boxes = this.hitEls.map(el => this.bboxOf(el)).filter(Boolean);
        if (boxes.length) {
          const x0 = Math.min(...boxes.map(b => b.x)), y0 = Math.min(...boxes.map(b => b.y));
          const x1 = Math.max(...boxes.map(b => b.x + b.w)), y1 = Math.max(...boxes.map(b => b.y + b.h));
          this.fit({ x: x0 - 20, y: y0 - 20, w: x1 - x0 + 40, h: y1 - y0 + 40 }, 1.5);
        }
      }
    }

    nextHit() {
      if (!this.hitEls || !this.hitEls.length) return;
      this.hitIndex = (this.hitIndex + 1) % this.hitEls.length;
      const b = this.bboxOf(this.hitEls[this.hitIndex]);
      if (b) this.centreOn(b, 0.8);
    }

    fillResults(hits, show) {
      const list = [];
      for (const c of this.model.doc.calls) if (hits.calls.has(c.id)) list.push({ key: c.id, text: c.path + (c.id.includes("@") ? " (call " + c.id.split("@").pop() + ")" : ""), cls: c.class });
      for (const n of this.model.doc.nodes) if (hits.nodes.has(n.id)) list.push({ key: n.id, text: (n.path ? n.path + " · " : "") + n.op, cls: "function", node: true });
      if (!list.length) { this.results.hidden = true; return; }
      const head = div("dn-results-head");
      head.textContent = list.length > 200 ? `first 200 of ${list.length}` : `${list.length} match${list.length === 1 ? "" : "es"}`;
      const openAll = document.createElement("button");
      openAll.type = "button"; openAll.textContent = "open all"; openAll.className = "dn-open-all";
      openAll.title = "Open every module around the matches";
      openAll.addEventListener("click", () => this.revealAll(list));
      head.appendChild(openAll);
      const close = document.createElement("button");
      close.type = "button"; close.textContent = "×"; close.title = "Hide the list";
      close.addEventListener("click", () => { this.results.hidden = true; });
      head.appendChild(close);
      this.results.appendChild(head);
      for (const item of list.slice(0, 200)) {
        const b = document.createElement("button");
        b.type = "button"; b.className = "dn-result";
        const p = span("dn-result-path"); p.textContent = item.text;
        const c = span("dn-result-class"); c.textContent = item.cls;
        b.appendChild(p); b.appendChild(c);
        b.addEventListener("click", () => this.reveal(item.key, item.node));
        this.results.appendChild(b);
      }
      this.results.hidden = !show;
    }

    revealAll(list) {
      for (const item of list) {
        const scope = item.node ? this.model.nodes.get(item.key).scope : this.model.chain(item.key).slice(0, -1);
        for (const c of scope) {
          const rc = this.model.copyOf.get(c);
          if (rc && this.state.rolled.has(rc[0]) && rc[1] !== (this.state.shown.get(rc[0]) || 0)) continue;
          if (!this.state.open.has(c)) this.setOpen(c, true);
        }
      }
      return this.render({ searchFit: true });
    }

    // Open everything around one module or node and select it.
    reveal(key, isNode) {
      const scope = isNode ? this.model.nodes.get(key).scope : this.model.chain(key).slice(0, -1);
      for (const c of scope) {
        const rc = this.model.copyOf.get(c);
        if (rc && this.state.rolled.has(rc[0])) this.state.shown.set(rc[0], rc[1]);
        if (!this.state.open.has(c)) this.setOpen(c, true);
      }
      this.selected = { key, type: "box" };
      return this.render({ reveal: key });
    }

    // -- details
    showDetails() {
      const p = this.panel;
      p.textContent = "";
      const sel = this.selected;
      if (!sel) { p.hidden = true; return; }
      const m = this.model;
      const close = document.createElement("button");
      close.type = "button"; close.className = "dn-close"; close.textContent = "×"; close.title = "Close";
      close.addEventListener("click", () => this.select(null));
      p.appendChild(close);
      const box = this.current && this.current.byKey.get(sel.key);
      const node = m.nodes.get(sel.key);
      const call = m.calls.get(sel.key);
      let item, kind;
      if (box && box.kind === "node" || (!call && node)) { item = node; kind = "node"; }
      else if (call) { item = call; kind = "call"; }
      else { p.hidden = true; return; }
      const title = document.createElement("h3");
      title.textContent = kind === "node" && item.kind === "function" ? item.op : (item.path || item.name || item.kind);
      p.appendChild(title);
      const sub = div("dn-sub");
      sub.textContent = kind === "node" ? (item.kind === "function" ? "function" + (item.path ? " in " + item.path : "") : item.kind === "input" || item.kind === "output" ? item.kind : item["class"]) : item["class"] + (this.state.open.has(item.id) ? " · open" : " · closed");
      p.appendChild(sub);
      const rows = [];
      if (kind === "node" && item.calls && item.calls.length > 1) rows.push(["folded", item.calls.map(c => m.calls.get(c)).map(c => c.path + " (" + c["class"] + ")").join("\n")]);
      if (kind === "node" && item.ops && item.ops.length > 1) rows.push(["ops", item.ops.join(", ")]);
      if (item.inputs && item.inputs.length) rows.push(["input", item.inputs.map(t => shapeText(t.shape) + " " + t.dtype).join("\n")]);
      if (item.outputs && item.outputs.length) rows.push(["output", item.outputs.map(t => shapeText(t.shape) + " " + t.dtype).join("\n")]);
      const tot = m.doc.totals;
      const share = item.share || {};
      if (item.kind !== "input" && item.kind !== "output") {
        rows.push(["params", grouped(item.params) + "  (" + percent(share.params) + " of " + human(tot.params) + ")"]);
        rows.push(["MACs", grouped(item.macs) + "  (" + percent(share.macs) + " of " + human(tot.macs) + ")"]);
        rows.push(["FLOPs", grouped(item.flops) + "  (" + percent(share.flops) + " of " + human(tot.flops) + ")"]);
        const mem = item.memory || {};
        rows.push(["memory", "reads " + bytesText(mem.read || 0) + " (params " + bytesText(mem.param_bytes || 0) + ")\nwrites " + bytesText(mem.written || 0)]);
      }
      const attrs = item.attrs || {};
      for (const k of Object.keys(attrs).sort()) rows.push([k, Array.isArray(attrs[k]) ? "(" + attrs[k].join(", ") + ")" : String(attrs[k])]);
      const table = document.createElement("table");
      for (const [k, v] of rows) {
        const tr = document.createElement("tr");
        const th = document.createElement("th"); th.textContent = k;
        const td = document.createElement("td"); td.textContent = v;
        tr.appendChild(th); tr.appendChild(td); table.appendChild(tr);
      }
      p.appendChild(table);
      // runs of identical blocks
      // the innermost run of identical blocks this item is (or is inside) a copy of
      const around = kind === "call" ? m.chain(item.id) : (item.scope || []);
      let runOf = null;
      for (let i = around.length - 1; i >= 0 && !runOf; i--) runOf = m.copyOf.get(around[i]) || null;
      if (runOf) {
        const [r, k] = runOf;
        const run = m.runs[r];
        const sec = div("dn-run");
        const copies = run.calls.map(c => m.calls.get(c));
        const sum = key => copies.reduce((acc, c) => acc + (c[key] || 0), 0);
        const all = span("dn-run-text");
        all.textContent = `all ${run.calls.length} copies: ${human(sum("params"))} params (${percent(sum("params") / (tot.params || 1))}), ` +
          `${human(sum("macs"))} MACs (${percent(sum("macs") / (tot.macs || 1))})`;
        sec.appendChild(all);
        const t = span("dn-run-text");
        const rolled = this.state.rolled.has(r);
        const shownCopy = this.state.shown.get(r) || 0;
        t.textContent = rolled ? `${item.id === run.calls[k] ? "one" : "inside one"} of ${run.calls.length} identical blocks (${pathRange(run.paths[0], run.paths[run.paths.length - 1])}), drawn once: showing copy ${shownCopy + 1}` : `copy ${k + 1} of ${run.calls.length} identical blocks`;
        sec.appendChild(t);
        if (rolled) {
          sec.appendChild(button("‹", "Show the previous copy", () => this.showCopy(r, shownCopy - 1), "dn-prev"));
          const input = document.createElement("input");
          input.type = "number"; input.min = "1"; input.max = String(run.calls.length); input.value = String(shownCopy + 1);
          input.className = "dn-copy"; input.setAttribute("aria-label", "Copy to show");
          input.addEventListener("change", () => this.showCopy(r, parseInt(input.value, 10) - 1));
          sec.appendChild(input);
          sec.appendChild(button("›", "Show the next copy", () => this.showCopy(r, shownCopy + 1), "dn-next"));
          sec.appendChild(button(`Draw all ${run.calls.length}`, "Draw every copy", () => this.setRolled(r, false), "dn-unroll"));
        } else {
          sec.appendChild(button(`Draw once ×${run.calls.length}`, "Draw the run once, marked ×N", () => this.setRolled(r, true), "dn-roll"));
        }
        p.appendChild(sec);
      }
      // expand / collapse and the frames around
      const acts = div("dn-actions");
      if (kind === "call" && m.expandable(item.id)) {
        if (this.state.open.has(item.id)) acts.appendChild(button("Collapse", "Draw this module as one box", () => this.collapse(item.id), "dn-collapse"));
        else acts.appendChild(button("Expand", "Open this module", () => this.expand(item.id), "dn-expand"));
      }
      const chain = kind === "call" ? m.chain(item.id).slice(0, -1) : (item.scope || []);
      if (chain.length) {
        const crumbs = div("dn-crumbs");
        crumbs.appendChild(document.createTextNode("inside: "));
        let parentPath = "";
        for (const c of chain) {
          const path = m.calls.get(c).path;
          const b = button(relativeName(path, parentPath), "Close " + path, () => { this.selected = { key: c, type: "box" }; this.collapse(c); });
          crumbs.appendChild(b);
          parentPath = path;
        }
        acts.appendChild(crumbs);
      }
      p.appendChild(acts);
      p.hidden = false;
    }

    // -- drawing
    sizes(view) {  // estimated box sizes in inches, as drawnet measured the labels
      const out = new Map();
      for (const b of view.boxes) {
        const item = b.kind === "node" ? b.node : b.kind === "run" ? this.model.runs[b.run] : b.call;
        out.set(b.key, item.size || [1.0, 0.4]);
      }
      return out;
    }

    labelLines(box) {
      if (box.kind === "node") return box.node.label;
      if (box.kind === "run") return this.model.runs[box.run].label;
      return box.call.label || [["title", box.call.path], ["body", box.call["class"]]];
    }

    family(box) {
      if (box.kind === "node") return box.node.family;
      return box.call.family || "block";
    }

    repeatOf(box) { return box.kind === "run" ? this.model.runs[box.run].calls.length : 1; }

    // The box's label lines, titled as dot.py titles them: relative to the frame it is
    // drawn in (`base`), and by the outermost module it is the only box of (`whole`).
    titledLines(box, base, whole) {  // dot.py label_lines' title rules
      const lines = this.labelLines(box).map(line => line.slice());
      const t = lines.find(line => line[0] === "title");
      if (!t || (box.node && (box.node.kind === "input" || box.node.kind === "output"))) return lines;
      const m = this.model;
      const runRange = r => pathRange(m.runs[r].paths[0], m.runs[r].paths[m.runs[r].paths.length - 1]);
      const rolledRun = id => { const rc = m.copyOf.get(id); return rc && this.state.rolled.has(rc[0]) ? rc[0] : null; };
      let title = box.kind === "node" ? (box.node.path || box.node["class"]) : box.call.path;
      let repeat = this.repeatOf(box);
      let span = box.kind === "run" ? runRange(box.run) : null;
      if (whole) {
        title = m.calls.get(whole).path;
        const r = rolledRun(whole);
        if (r !== null) { span = runRange(r); repeat = m.runs[r].calls.length * repeat; }
      }
      if (span) title = span;
      title = relativeName(title, base);
      if (repeat > 1) title += "  ×" + repeat;
      t[1] = shorten(title);
      return lines;
    }

    nodeLabel(box, base, whole) {
      const th = this.model.theme;
      const parts = [];
      for (const [kind, text] of this.titledLines(box, base || "", whole)) {
        const esc = escapeHtml(text);
        if (!esc.trim()) continue;
        if (kind === "title") parts.push("<B>" + esc + "</B>");
        else if (kind === "op") parts.push(esc);
        else if (kind === "body") parts.push(font(esc, th.small_fontsize));
        else parts.push(font(esc, th.small_fontsize, th.muted_color));
      }
      return "<" + (parts.join("<BR/>") || escapeHtml(box.kind)) + ">";
    }

    tooltip(box) {
      const m = this.model;
      if (box.kind === "node") {
        const n = box.node;
        if (n.kind === "input" || n.kind === "output") {
          const metas = n.kind === "input" ? n.outputs : n.inputs;
          const name = n.name || n.kind;
          return [name === n.kind ? n.kind : n.kind + ": " + name, ...(metas.length ? [tensorsText(metas)] : [])].join("\n");
        }
        const lines = n.kind === "function" ? [n.op + (n.path ? " in " + n.path : "")] :
          [n.path + (n.id.includes("@") ? " (call " + n.id.split("@").pop() + ")" : ""), n.calls.map(c => m.calls.get(c)["class"]).join(" + ") || n["class"]];
        if (n.inputs.length) lines.push("in: " + tensorsText(n.inputs));
        if (n.outputs.length) lines.push("out: " + tensorsText(n.outputs));
        if (n.kind !== "function" || n.params || n.macs) lines.push("params: " + grouped(n.params) + " · MACs: " + human(n.macs));
        return lines.join("\n");
      }
      const c = box.call;
      const lines = [box.kind === "run" ? pathRange(m.runs[box.run].paths[0], m.runs[box.run].paths[m.runs[box.run].paths.length - 1]) + " (showing " + c.path + ")" : c.path, c["class"] + (box.kind === "run" ? " ×" + this.repeatOf(box) : "")];
      if (c.inputs.length) lines.push("in: " + tensorsText(c.inputs));
      if (c.outputs.length) lines.push("out: " + tensorsText(c.outputs));
      lines.push("params: " + grouped(c.params) + " · MACs: " + human(c.macs));
      lines.push("click to open");
      return lines.join("\n");
    }

    nodeAttrs(box, familyFills, base, whole) {
      const th = this.model.theme;
      const out = { label: this.nodeLabel(box, base, whole), tooltip: this.tooltip(box).replace(/&/g, "&amp;"), id: "b:" + box.key };
      const n = box.node;
      if (n && (n.kind === "input" || n.kind === "output")) {
        out.fillcolor = th.io_fill; out.style = "rounded,filled,bold";
        return out;
      }
      const fam = this.family(box);
      if (familyFills || this.colorBy === "family") out.fillcolor = fam === "function" ? th.function_fill : (th.fills[fam] || "#f2f2f2");
      else out.fillcolor = this.fillOf(box, this.dotPeak || 0);
      if (n && n.kind === "function") { out.fontsize = num(th.small_fontsize); out.margin = "0.06,0.02"; out.height = "0.3"; }
      const block = box.kind !== "node" || (n && n.kind === "block");
      const repeat = this.repeatOf(box);
      if (block || repeat > 1) out.style = "rounded,filled,bold";
      if (repeat > 1) out.peripheries = "2";
      return out;
    }

    ghostName(key) {  // dot.py _wrap_rows: what a "from ..." node calls its source
      const m = this.model;
      const box = (this.planning && this.planning.byKey.get(key)) || (this.current && this.current.byKey.get(key));
      const rolledRange = id => {
        const rc = m.copyOf.get(id);
        if (!rc || !this.state.rolled.has(rc[0])) return null;
        const run = m.runs[rc[0]];
        return pathRange(run.paths[0], run.paths[run.paths.length - 1]);
      };
      const n = m.nodes.get(key);
      if (n && !m.calls.has(key) && n.kind === "function") {
        let where = n.path;
        const owner = n.scope.length ? n.scope[n.scope.length - 1] : null;
        if (owner && rolledRange(owner)) where = rolledRange(owner);
        const op = n.op_label || n.op;
        return where ? op + " (" + tail(where) + ")" : op;
      }
      if (box && box.kind !== "node") return tail(rolledRange(key) || box.call.path);
      return tail((n && (n.path || n.name || n.op)) || key);
    }

    frameText(callId, cont, parentBase) {  // dot.py: "name · Class" (×N), relative
      const m = this.model;
      const c = m.calls.get(callId);
      const rc = m.copyOf.get(callId);
      let name = c.path, cls = c["class"], showing = "";
      if (rc && this.state.rolled.has(rc[0])) {
        const run = m.runs[rc[0]];
        name = pathRange(run.paths[0], run.paths[run.paths.length - 1]);
        cls += " ×" + run.calls.length;
        if ((this.state.shown.get(rc[0]) || 0) > 0) showing = " · showing " + relativeName(c.path, parentBase || "");
      }
      const text = shorten(relativeName(name, parentBase || "")) + (cls ? " · " + cls : "") + showing;
      return cont ? text + " (cont.)" : text;
    }

    graphHead(rankdir, title, quick) {
      const th = this.model.theme;
      const g = { bgcolor: th.background, fontcolor: th.text_color, fontname: th.fontname, fontsize: num(th.fontsize),
        newrank: "true", nodesep: num(NODESEP), pad: "0.15", rankdir, ranksep: num(RANKSEP) };
      // Row by row, fewer crossing-minimisation passes: about 6× faster, the same picture
      // on the rows measured (bench/layout_engines.md).
      if (quick) g.mclimit = "0.5";
      if (title) { g.label = title; g.labelloc = "t"; g.labeljust = "l"; }
      const n = { color: th.border_color, fontcolor: th.text_color, fontname: th.fontname, fontsize: num(th.fontsize),
        margin: "0.1,0.04", penwidth: "0.8", shape: "box", style: "rounded,filled" };
      const e = { arrowsize: "0.6", color: th.edge_color, fontcolor: th.muted_color, fontname: th.fontname,
        fontsize: num(th.small_fontsize), penwidth: "0.8" };
      return ["digraph drawnet {", `  graph [${attrList(g)}];`, `  node [${attrList(n)}];`, `  edge [${attrList(e)}];`];
    }

    // Which open calls get a frame: those holding two boxes, or one the user opened. In one
    // DOT graph (mode "single") a frame must also sit in one row, as in dot.py; laid out row
    // by row (mode "rows"), a frame the user opened is drawn in pieces, one per row.
    frameTree(boxes, rowOf, mode) {
      const counts = new Map(), spans = new Map();
      for (const b of boxes) for (const c of b.chain) {
        counts.set(c, (counts.get(c) || 0) + 1);
        if (!spans.has(c)) spans.set(c, new Set());
        spans.get(c).add(rowOf.get(b.key));
      }
      const kept = new Set();
      if (this.model.view.clusters !== false) {
        for (const [c, k] of counts) {
          const user = this.state.userOpened.has(c);
          const oneRow = spans.get(c).size === 1;
          if ((k >= 2 || user) && (oneRow || (mode === "rows" && user))) kept.add(c);
        }
      }
      const members = new Map([["", []]]), children = new Map([["", []]]);
      for (const b of boxes) {
        let parent = "";
        for (const c of b.chain) {
          if (!kept.has(c)) continue;
          if (!children.has(c)) { children.set(c, []); members.set(c, []); children.get(parent).push(c); }
          parent = c;
        }
        members.get(parent).push(b);
      }
      // a frame holding only one other frame is drawn once: the inner one when it marks a
      // repeat or the outer one is a plain container, else the outer one
      const containers = new Set(this.model.view.containers || []);
      for (const parent of Array.from(children.keys())) {
        const kids = children.get(parent) || [];
        let changed = true;
        while (changed) {
          changed = false;
          for (let i = 0; i < kids.length; i++) {
            const c = kids[i];
            if ((members.get(c) || []).length || (children.get(c) || []).length !== 1) continue;
            const inner = children.get(c)[0];
            const rc = this.model.copyOf.get(inner);
            const keepInner = (rc && this.state.rolled.has(rc[0])) || containers.has(this.model.calls.get(c)["class"]);
            if (keepInner) { kids[i] = inner; children.delete(c); members.delete(c); }
            else { children.set(c, children.get(inner)); members.set(c, members.get(inner)); children.delete(inner); members.delete(inner); }
            changed = true;
          }
        }
      }
      // each box's frame (its title reads relative to it) and the module it stands for alone
      const counts2 = new Map();
      for (const b of boxes) for (const c of b.chain) counts2.set(c, (counts2.get(c) || 0) + 1);
      const base = new Map(), frameBase = new Map(), whole = new Map();
      const walk = (frame, path) => {
        for (const b of members.get(frame) || []) base.set(b.key, path);
        for (const child of children.get(frame) || []) { frameBase.set(child, path); walk(child, this.model.calls.get(child).path); }
      };
      walk("", "");
      for (const b of boxes) {
        if (b.kind === "node" && b.node.kind !== "module" && b.node.kind !== "block") continue;
        const lone = b.chain.find(c => counts2.get(c) === 1);
        if (lone) whole.set(b.key, lone);
      }
      return { members, children, spans, base, frameBase, whole };
    }

    emitFrames(tree, lines, pieces, familyFills) {
      const th = this.model.theme;
      let counter = 0;
      const emit = (cluster, indent) => {
        for (const b of tree.members.get(cluster) || []) lines.push(`${indent}${dotId(b.key)} [${attrList(this.nodeAttrs(b, familyFills, tree.base.get(b.key), tree.whole.get(b.key)))}];`);
        for (const child of tree.children.get(cluster) || []) {
          const n = pieces.get(child) || 0;
          pieces.set(child, n + 1);
          const rc = this.model.copyOf.get(child);
          const bold = rc && this.state.rolled.has(rc[0]);
          const a = {
            color: th.cluster_color, fontcolor: th.muted_color, fontsize: num(th.small_fontsize),
            id: "f:" + child + "#" + n, label: "<" + escapeHtml(this.frameText(child, n > 0, tree.frameBase.get(child))) + ">",
            labeljust: this.orientation === "LR" ? "r" : "l", margin: "6", penwidth: bold ? "1.4" : "0.7", style: bold ? "rounded,bold" : "rounded",
            tooltip: (this.model.calls.get(child).path + "\nclick the title to close").replace(/&/g, "&amp;"),
          };
          lines.push(`${indent}subgraph cluster_${counter++} {`);
          lines.push(`${indent}  graph [${attrList(a)}];`);
          emit(child, indent + "  ");
          lines.push(`${indent}}`);
        }
      };
      emit("", "  ");
    }

    ghostLine(src, row, e, view) {
      const th = this.model.theme;
      const gid = "g:" + src + "\u241F" + row;
      this.ghostSrc.set(gid, src);
      const box = view.byKey.get(src);
      const metas = e.shape ? [{ shape: e.shape }] : (box.node ? box.node.outputs : box.call.outputs);
      const shape = shapesText(metas);
      let text = "<" + font("from", th.small_fontsize) + "<BR/>" + font(escapeHtml(shorten(this.ghostName(src), 40)), th.small_fontsize);
      if (shape) text += "<BR/>" + font(escapeHtml(shape), th.small_fontsize, th.muted_color);
      text += ">";
      const a = { color: th.muted_color, fillcolor: th.background, id: gid, label: text, style: "rounded,dashed",
        tooltip: ("click to go to " + this.ghostName(src)).replace(/&/g, "&amp;") };
      return { name: '"%from:' + dotId(src).slice(1, -1) + ":" + row + '"', line: `  %NAME% [${attrList(a)}];` };
    }

    edgeLine(s, d, e) {
      const tip = e.shape ? shapeText(e.shape) + (e.dtype ? " " + e.dtype : "") : "";
      const a = { id: "e:" + e.src + "\u241F" + e.dst };
      if (tip) a.tooltip = tip;
      return `  ${s} -> ${d} [${attrList(a)}];`;
    }

    // One DOT graph for the whole picture, as dot.py writes it (anchored rows, "from" nodes).
    singleDot(view, rowOf) {
      const lines = this.graphHead(this.orientation, this.heading(view));
      const tree = this.frameTree(view.boxes, rowOf, "single");
      this.emitFrames(tree, lines, new Map(), false);
      const nRows = Math.max(0, ...rowOf.values()) + 1;
      let edges = view.edges.map(e => [dotId(e.src), dotId(e.dst), e]);
      if (nRows > 1) {
        const anchors = Array.from({ length: nRows }, (_, i) => `"%row${i}"`);
        const chain = anchors;
        for (const a of anchors) lines.push(`  ${a} [height=0, label="", shape=point, style=invis, width=0];`);
        lines.push(`  {rank=same; ${chain.join("; ")};}`);
        for (let i = 0; i + 1 < chain.length; i++) lines.push(`  ${chain[i]} -> ${chain[i + 1]} [style=invis];`);
        const ghosts = new Map();
        const hasPred = new Set();
        edges = [];
        for (const e of view.edges) {
          const rs = rowOf.get(e.src), rd = rowOf.get(e.dst);
          if (rs === rd) { edges.push([dotId(e.src), dotId(e.dst), e]); hasPred.add(e.dst); continue; }
          const key = e.src + "\u0000" + rd;
          if (!ghosts.has(key)) {
            const g = this.ghostLine(e.src, rd, e, view);
            ghosts.set(key, g.name);
            lines.push(g.line.replace("%NAME%", g.name));
            lines.push(`  ${anchors[rd]} -> ${g.name} [style=invis];`);
          }
          edges.push([ghosts.get(key), dotId(e.dst), e]);
          hasPred.add(e.dst);
        }
        for (const b of view.boxes) if (!hasPred.has(b.key)) lines.push(`  ${anchors[rowOf.get(b.key)]} -> ${dotId(b.key)} [style=invis];`);
      }
      for (const [s, d, e] of edges) lines.push(this.edgeLine(s, d, e));
      lines.push("}");
      return lines.join("\n") + "\n";
    }

    // One DOT graph per row, laid out on its own and stacked (large pictures).
    rowDots(view, rowOf) {
      const nRows = Math.max(0, ...rowOf.values()) + 1;
      const rows = Array.from({ length: nRows }, () => ({ boxes: [], edges: [], ghosts: new Map() }));
      for (const b of view.boxes) rows[rowOf.get(b.key)].boxes.push(b);
      const tree = this.frameTree(view.boxes, rowOf, "rows");
      const pieces = new Map();
      for (let r = 0; r < nRows; r++) {
        const row = rows[r];
        row.lines = this.graphHead(this.orientation, "", true);
        const inRow = new Set(row.boxes.map(b => b.key));
        const sub = { members: new Map(), children: new Map(), base: tree.base, frameBase: tree.frameBase, whole: tree.whole };
        for (const [k, v] of tree.members) sub.members.set(k, v.filter(b => inRow.has(b.key)));
        const holds = c => (sub.members.get(c) || []).length > 0 || (tree.children.get(c) || []).some(holds);
        for (const [k, v] of tree.children) sub.children.set(k, v.filter(holds));
        this.emitFrames(sub, row.lines, pieces, true);
      }
      for (const e of view.edges) {
        const rs = rowOf.get(e.src), rd = rowOf.get(e.dst);
        const row = rows[rd];
        if (rs === rd) { row.edges.push([dotId(e.src), dotId(e.dst), e]); continue; }
        if (!row.ghosts.has(e.src)) {
          const g = this.ghostLine(e.src, rd, e, view);
          row.ghosts.set(e.src, g.name);
          row.lines.push(g.line.replace("%NAME%", g.name));
        }
        row.edges.push([row.ghosts.get(e.src), dotId(e.dst), e]);
      }
      return rows.map(row => {
        for (const [s, d, e] of row.edges) row.lines.push(this.edgeLine(s, d, e));
        row.lines.push("}");
        return row.lines.join("\n") + "\n";
      });
    }

    legendLabel(view) {
      const th = this.model.theme;
      const cells = [];
      if (this.colorBy === "family") {
        const present = new Set();
        for (const b of view.boxes) if (b.kind !== "node" || b.node.kind === "module" || b.node.kind === "block") present.add(this.family(b));
        for (const f of FAMILIES) if (present.has(f)) cells.push(`<TD BGCOLOR="${th.fills[f]}" BORDER="1">${font(f, th.small_fontsize)}</TD>`);
        if (cells.length < 2) return null;
      } else {
        const peak = this.peak(view);
        cells.push(`<TD>${font(COST_NAMES[this.colorBy], th.small_fontsize)}</TD>`);
        for (const step of [0, 0.25, 0.5, 0.75, 1]) {
          cells.push(`<TD BGCOLOR="${shade(step, th.heat_color)}" BORDER="1">${font(human(Math.round(peak * step * step)), th.small_fontsize)}</TD>`);
        }
      }
      return '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="3" CELLPADDING="3"><TR>' + cells.join("") + "</TR></TABLE>";
    }

    heading(view, withTitle = true) {  // dot.py _heading: the title over the colour key
      const rows = [];
      const title = this.model.view.title;
      if (title && withTitle) rows.push(`<TR><TD ALIGN="LEFT"><B>${escapeHtml(title)}</B></TD></TR>`);
      const legend = this.model.view.legend ? this.legendLabel(view) : null;
      if (legend) rows.push(`<TR><TD ALIGN="LEFT">${legend}</TD></TR>`);
      if (!rows.length) return "";
      return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">' + rows.join("") + "</TABLE>>";
    }

    legendDot(view) {  // laid out row by row, the colour key is its own small graph
      const label = this.heading(view, false);
      if (!label) return null;
      const lines = this.graphHead("LR");
      lines.push(`  "%legend" [id="legend", label=${label}, margin=0, shape=plain, style=""];`);
      lines.push("}");
      return lines.join("\n") + "\n";
    }

    cost(box) {
      const item = box.kind === "node" ? box.node : box.call;
      return item[this.colorBy] || 0;
    }

    peak(view) {
      if (this.colorBy === "family") return 0;
      let p = 0;
      for (const b of view.boxes) p = Math.max(p, this.cost(b));
      return p;
    }

    fillOf(box, peak) {
      const th = this.model.theme;
      const n = box.node;
      if (n && (n.kind === "input" || n.kind === "output")) return th.io_fill;
      if (this.colorBy !== "family") return shade(peak ? Math.sqrt(this.cost(box) / peak) : 0, th.heat_color);
      const fam = this.family(box);
      return fam === "function" ? th.function_fill : (th.fills[fam] || "#f2f2f2");
    }

    layout(dot) {
      let svg = this.cache.get(dot);
      if (svg === undefined) {
        svg = this.engine.layout(dot, "svg", "dot");
        if (this.cache.size > 400) this.cache.delete(this.cache.keys().next().value);
        this.cache.set(dot, svg);
      }
      return svg;
    }

    parseSvg(text) {
      const doc = new DOMParser().parseFromString(text, "image/svg+xml");
      const svg = doc.documentElement;
      const w = parseFloat(svg.getAttribute("width")), h = parseFloat(svg.getAttribute("height"));
      const g = svg.querySelector("g.graph");
      g.removeAttribute("id");
      const t = g.querySelector("title");
      if (t && t.parentNode === g) t.remove();
      return { g: document.importNode(g, true), w, h };
    }

    // Everything a drawing needs before the layout engine: the boxes, rows and DOT text.
    plan() {
      const view = project(this.model, this.state);
      this.planning = view;
      this.lastDots = null;
      this.ghostSrc = new Map();
      this.dotPeak = this.peak(view);
      if (this.isDefault() && this.model.view.dot && view.boxes.length <= SINGLE_MAX) {
        // the first picture: drawnet's own DOT text, laid out by the same Graphviz (a
        // larger one is laid out row by row, as any other state, to paint in time)
        this.mode = "static";
        this.lastDots = [this.model.view.dot];
        return { view, dots: this.lastDots, legend: null, mode: "static" };
      }
      let rowOf;
      const repeated = new Set();
      for (const r of this.state.rolled) repeated.add(this.model.runs[r].calls[this.state.shown.get(r) || 0]);
      const sizes = this.sizes(view);
      const room = (this.model.view.room || {})[this.orientation];
      if (this.model.view.wrap === false) rowOf = new Map(view.boxes.map(b => [b.key, 0]));
      else rowOf = planRows(view.boxes, view.edges, sizes, this.orientation, repeated, room);
      if (view.boxes.length > SINGLE_MAX) rowOf = capRows(view.boxes, view.edges, rowOf, sizes, this.orientation, repeated, ROW_MAX);
      const mode = view.boxes.length <= SINGLE_MAX ? "single" : "rows";
      this.mode = mode;
      let dots, legend = null;
      if (mode === "single") dots = [this.singleDot(view, rowOf)];
      else {
        dots = this.rowDots(view, rowOf);
        legend = this.model.view.legend ? this.legendDot(view) : null;
      }
      this.lastDots = dots;
      return { view, dots, legend, mode };
    }

    async render(opts, planned) {
      opts = opts || {};
      const gen = ++this.generation;
      const t0 = performance.now();
      this.timings.renderStart = t0;
      const anchorBefore = opts.anchor ? this.anchorPoint(opts.anchor) : null;
      const movesBefore = this.moves;
      const { view, dots, legend, mode } = planned || this.plan();
      // paint row by row into a fresh group, swapped in once the first row is ready
      const rootG = document.createElementNS(SVGNS, "g");
      rootG.setAttribute("class", "dn-rows");
      let offset = 0, extentW = 0, extentH = 0;
      const gap = ROW_GAP * 72 + 6;
      const title = mode === "rows" ? this.model.view.title : "";
      if (title) {
        const t = document.createElementNS(SVGNS, "text");
        t.setAttribute("x", "8"); t.setAttribute("y", String(this.model.theme.fontsize + 6));
        t.setAttribute("font-family", this.model.theme.fontname + ",sans-Serif");
        t.setAttribute("font-size", String(this.model.theme.fontsize + 2));
        t.setAttribute("font-weight", "bold");
        t.setAttribute("fill", this.model.theme.text_color);
        t.textContent = title;
        rootG.appendChild(t);
        offset = this.model.theme.fontsize + 14;
        extentH = offset;
      }
      const place = (parsed, cls) => {
        const wrap = document.createElementNS(SVGNS, "g");
        wrap.setAttribute("class", cls);
        const x = this.orientation === "LR" ? 0 : offset;
        const y = this.orientation === "LR" ? offset : (title ? this.model.theme.fontsize + 14 : 0);
        wrap.setAttribute("transform", `translate(${x} ${y})`);
        wrap.appendChild(parsed.g);
        rootG.appendChild(wrap);
        if (this.orientation === "LR") { offset += parsed.h + gap; extentW = Math.max(extentW, parsed.w); extentH = offset - gap; }
        else { offset += parsed.w + gap; extentW = offset - gap; extentH = Math.max(extentH, y + parsed.h); }
      };
      let swapped = false;
      let lastYield = performance.now();
      this.status.textContent = "laying out…";
      try {
        for (let i = 0; i < dots.length; i++) {
          const parsed = this.parseSvg(this.layout(dots[i]));
          if (gen !== this.generation) return;
          place(parsed, "dn-row");
          if (!swapped || performance.now() - lastYield > 60) {
            this.swapIn(rootG, view, { w: extentW, h: extentH }, !swapped ? Object.assign({}, opts, { more: i + 1 < dots.length }) : null, anchorBefore);
            const firstOfRender = !swapped;
            swapped = true;
            await nextFrame();
            // painted: the first rows of this render are on screen
            if (firstOfRender) {
              this.timings.lastFirstPaint = performance.now();
              if (this.timings.firstPaint === undefined) this.timings.firstPaint = this.timings.lastFirstPaint;
              this.el.dataset.painted = String((parseInt(this.el.dataset.painted || "0", 10)) + 1);
            }
            if (gen !== this.generation) return;
            lastYield = performance.now();
          }
        }
        if (legend) {
          const parsed = this.parseSvg(this.layout(legend));
          place(parsed, "dn-legend");
        }
      } catch (err) {
        this.status.textContent = "layout failed: " + (err && err.message ? err.message : err);
        this.el.dataset.error = String(err && err.message ? err.message : err);
        throw err;
      }
      this.swapIn(rootG, view, { w: extentW, h: extentH }, swapped ? null : opts, anchorBefore);
      if (swapped && opts.fit && this.moves === movesBefore) this.initialView(this.extent, false);
      const seconds = (performance.now() - t0) / 1000;
      const nBoxes = view.boxes.filter(b => !(b.node && (b.node.kind === "input" || b.node.kind === "output"))).length;
      this.status.textContent = `${nBoxes} boxes · ${dots.length} row${dots.length === 1 ? "" : "s"} · ${seconds.toFixed(2)} s`;
      this.timings.lastRender = seconds;
      this.timings.done = performance.now();
      this.el.dataset.boxes = String(nBoxes);
      this.el.dataset.rows = String(dots.length);
      this.el.dataset.state = "ready";
      this.el.dataset.renders = String((parseInt(this.el.dataset.renders || "0", 10)) + 1);
      if (opts.searchFit && this.query) this.highlight(true);
      if (opts.reveal) {
        const el = this.boxEls.get(opts.reveal);
        if (el) { const b = this.bboxOf(el); if (b) this.centreOn(b, 0.8); }
      }
      return seconds;
    }

    // Fit the picture when it stays readable; else start at its top left, fitting the width
    // if that is readable. `more`: rows are still coming (the extent is not final yet).
    initialView(extent, more) {
      const [w, h] = this.size();
      const whole = Math.min((w - 24) / Math.max(extent.w, 1), (h - 24) / Math.max(extent.h, 1), 1.5);
      if (!more && whole >= 0.5) { this.fit(); return; }
      const s = Math.min(Math.max((w - 24) / Math.max(extent.w, 1), 0.55), 1.2);
      this.vb = { s, x: -12 / s, y: -12 / s, w: 0, h: 0 };
      this.applyViewBox();
    }

    anchorPoint(key) {
      const el = this.boxEls && (this.boxEls.get(key) || (this.frameEls.get(key) || [])[0]);
      if (!el || !this.vb) return null;
      const b = this.bboxOf(el);
      if (!b) return null;
      return { key, x: b.x - this.vb.x, y: b.y - this.vb.y };
    }

    swapIn(rootG, view, extent, opts, anchor) {
      const bg = document.createElementNS(SVGNS, "rect");
      bg.setAttribute("class", "dn-bg");
      bg.setAttribute("x", String(-2000)); bg.setAttribute("y", String(-2000));
      bg.setAttribute("width", String(extent.w + 4000)); bg.setAttribute("height", String(extent.h + 4000));
      bg.setAttribute("fill", this.model.theme.background);
      if (rootG.parentNode !== this.svg) {
        this.svg.textContent = "";
        this.svg.appendChild(bg);
        this.svg.appendChild(rootG);
      } else {
        this.svg.replaceChild(bg, this.svg.querySelector("rect.dn-bg"));
      }
      this.current = view;
      this.extent = { x: 0, y: 0, w: extent.w, h: extent.h };
      this.index(view);
      this.recolor();
      if (this.query) this.highlight(false);
      if (this.selected) this.select(this.selected);
      if (!opts) return;
      if (!this.vb || opts.fit) this.initialView(extent, opts.more);
      else if (anchor) {
        const el = this.boxEls.get(anchor.key) || (this.frameEls.get(anchor.key) || [])[0];
        const b = el ? this.bboxOf(el) : null;
        if (b) { this.vb.x = b.x - anchor.x; this.vb.y = b.y - anchor.y; this.applyViewBox(); this.ensureVisible(b); }
      }
    }

    // Pan (and zoom out, if it must) so that a box or frame is wholly in view.
    ensureVisible(b) {
      const v = this.vb, pad = 16 / v.s;
      if (b.w + 2 * pad > v.w || b.h + 2 * pad > v.h) {
        const [w, h] = this.size();
        const s = Math.max(Math.min((w - 32) / b.w, (h - 32) / b.h, v.s), 0.3);
        this.vb = { s, x: b.x + b.w / 2 - w / (2 * s), y: b.y + b.h / 2 - h / (2 * s), w: w / s, h: h / s };
        if (b.w * s > w - 32) this.vb.x = b.x - 16 / s;
        if (b.h * s > h - 32) this.vb.y = b.y - 16 / s;
      } else {
        if (b.x - pad < v.x) v.x = b.x - pad;
        if (b.x + b.w + pad > v.x + v.w) v.x = b.x + b.w + pad - v.w;
        if (b.y - pad < v.y) v.y = b.y - pad;
        if (b.y + b.h + pad > v.y + v.h) v.y = b.y + b.h + pad - v.h;
      }
      this.applyViewBox();
    }

    index(view) {
      this.boxEls = new Map(); this.frameEls = new Map(); this.fillEls = new Map();
      for (const g of this.svg.querySelectorAll("g.node")) {
        let id = g.id || "";
        if (!id.startsWith("b:") && !id.startsWith("g:")) {
          // drawnet's own DOT (the first picture) names nodes, not ids: read the <title>
          const t = g.querySelector("title");
          const name = t ? t.textContent || "" : "";
          if (name.startsWith("%from:")) {
            const at = name.lastIndexOf(":");
            const src = decodeName(name.slice(6, at));
            id = "g:" + src + "\u241F" + name.slice(at + 1);
            this.ghostSrc.set(id, src);
            g.id = id;
          } else if (view.byKey.has(decodeName(name))) {
            id = "b:" + decodeName(name);
            g.id = id;
          }
        }
        if (id.startsWith("b:")) {
          const key = id.slice(2);
          this.boxEls.set(key, g);
          const shapes = Array.from(g.querySelectorAll("path, polygon")).filter(s => s.getAttribute("fill") && s.getAttribute("fill") !== "none");
          this.fillEls.set(key, shapes);
        }
      }
      for (const g of this.svg.querySelectorAll("g.cluster")) {
        const id = g.id || "";
        if (!id.startsWith("f:")) continue;
        const call = id.slice(2).replace(/#\d+$/, "");
        if (!this.frameEls.has(call)) this.frameEls.set(call, []);
        this.frameEls.get(call).push(g);
      }
    }

    recolor() {
      const view = this.current;
      if (!view) return;
      const peak = this.peak(view);
      for (const b of view.boxes) {
        const fill = this.fillOf(b, peak);
        for (const s of this.fillEls.get(b.key) || []) s.setAttribute("fill", fill);
      }
    }

    renderLegend() {
      const old = this.svg.querySelector("g.dn-legend");
      if (!this.model.view.legend || !this.current) return;
      const dot = this.legendDot(this.current);
      if (!dot) { if (old) old.remove(); return; }
      const parsed = this.parseSvg(this.layout(dot));
      const wrap = document.createElementNS(SVGNS, "g");
      wrap.setAttribute("class", "dn-legend");
      if (old) { wrap.setAttribute("transform", old.getAttribute("transform")); old.replaceWith(wrap); }
      else {
        const gap = ROW_GAP * 72 + 6;
        wrap.setAttribute("transform", this.orientation === "LR" ? `translate(0 ${this.extent.h + gap})` : `translate(${this.extent.w + gap} 0)`);
        this.svg.querySelector("g.dn-rows").appendChild(wrap);
        if (this.orientation === "LR") this.extent.h += gap + parsed.h; else this.extent.w += gap + parsed.w;
      }
      wrap.appendChild(parsed.g);
    }

    // -- export
    exportSvg() {
      const clone = this.svg.cloneNode(true);
      for (const el of clone.querySelectorAll(".dn-selected, .dn-hit, .dn-hit-inside")) el.classList.remove("dn-selected", "dn-hit", "dn-hit-inside");
      const bg = clone.querySelector("rect.dn-bg");
      const e = this.extent;
      if (bg) { bg.setAttribute("x", "0"); bg.setAttribute("y", "0"); bg.setAttribute("width", String(e.w)); bg.setAttribute("height", String(e.h)); }
      clone.setAttribute("viewBox", `0 0 ${e.w} ${e.h}`);
      clone.setAttribute("width", `${e.w}pt`);
      clone.setAttribute("height", `${e.h}pt`);
      clone.setAttribute("xmlns", SVGNS);
      clone.setAttribute("xmlns:xlink", "http://www.w3.org/1999/xlink");
      clone.removeAttribute("class");
      // the picture carries its font, as drawnet's static SVGs do
      const fonts = this.options.fontStyle && document.getElementById(this.options.fontStyle);
      if (fonts && this.options.fontFamily) {
        const style = document.createElementNS(SVGNS, "style");
        style.textContent = fonts.textContent + "\ntext{font-family:" + this.options.fontFamily + "}";
        clone.insertBefore(style, clone.firstChild);
      }
      const text = new XMLSerializer().serializeToString(clone);
      return '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + text + "\n";
    }

    exportPng() {
      const svgText = this.exportSvg();
      const e = this.extent;
      const scale = Math.min(2, 16000 / Math.max(e.w, e.h, 1));
      return new Promise((resolve, reject) => {
        const img = new Image();
        const url = URL.createObjectURL(new Blob([svgText], { type: "image/svg+xml" }));
        img.onload = () => {
          const canvas = document.createElement("canvas");
          canvas.width = Math.max(1, Math.round(e.w * scale * 96 / 72));
          canvas.height = Math.max(1, Math.round(e.h * scale * 96 / 72));
          const ctx = canvas.getContext("2d");
          ctx.fillStyle = this.model.theme.background;
          ctx.fillRect(0, 0, canvas.width, canvas.height);
          ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
          URL.revokeObjectURL(url);
          canvas.toBlob(b => b ? resolve(b) : reject(new Error("the picture is too large for a PNG")), "image/png");
        };
        img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("could not draw the SVG")); };
        img.src = url;
      });
    }

    async download(format) {
      const base = (this.model.doc.model || "model").replace(/[^A-Za-z0-9_.-]+/g, "_");
      let blob;
      try {
        blob = format === "svg" ? new Blob([this.exportSvg()], { type: "image/svg+xml" }) : await this.exportPng();
      } catch (err) {
        this.status.textContent = "export failed: " + err.message;
        return;
      }
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = base + "." + format;
      document.body.appendChild(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    }
  }

  // ---------------------------------------------------------------- small helpers
  function div(cls) { const d = document.createElement("div"); d.className = cls; return d; }
  function span(cls) { const s = document.createElement("span"); s.className = cls; return s; }
  function button(text, title, onClick, cls) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.title = title;
    if (cls) b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }
  function attrList(a) {
    return Object.keys(a).sort().map(k => {
      const v = String(a[k]);
      return k + "=" + (v.startsWith("<") && v.endsWith(">") ? v : quote(v));
    }).join(", ");
  }
  function font(text, size, colour) {
    return `<FONT POINT-SIZE="${num(size)}"${colour ? ` COLOR="${colour}"` : ""}>${text}</FONT>`;
  }
  // dot.py dot_id: a quoted id, percent-encoding (UTF-8) anything outside a small safe set
  const SAFE = /[A-Za-z0-9_.:@#\/-]/;
  function dotId(id) {
    let out = "";
    for (const ch of chars(id)) {
      if (SAFE.test(ch)) out += ch;
      else for (const b of new TextEncoder().encode(ch)) out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
    }
    return '"' + out + '"';
  }
  function num(x) { return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6))); }
  function nextFrame() {
    return new Promise(resolve => {
      let done = false;
      const go = () => { if (!done) { done = true; resolve(); } };
      if (typeof requestAnimationFrame === "function") requestAnimationFrame(() => setTimeout(go, 0));
      setTimeout(go, 50);  // hidden tabs and notebooks out of view get no animation frames
    });
  }

  // ---------------------------------------------------------------- start
  async function mount(container, doc, loadEngine, options) {
    const t0 = performance.now();
    container.dataset.state = "loading";
    const enginePromise = loadEngine();  // WebAssembly compiles off the main thread meanwhile
    const ex = new Explorer(container, doc, null, options);
    const planned = ex.plan();
    let engine;
    try {
      engine = await enginePromise;
    } catch (err) {
      container.dataset.state = "failed";
      container.dataset.error = String(err && err.message ? err.message : err);
      const note = container.querySelector(".dn-note");
      if (note) note.textContent = "The interactive view could not start (" + container.dataset.error + "); this is the static picture.";
      throw err;
    }
    ex.engine = engine;
    ex.timings.start = t0;
    ex.timings.engine = performance.now();
    ex.build();
    container.drawnet = ex;
    await ex.render({ fit: true }, planned);
    return ex;
  }

  root.drawnetExplorer = { mount, project, planRows, capRows, escapeHtml, pathRange, human, version: 1 };
})(typeof window !== "undefined" ? window : globalThis);
