// Where each robot's name goes on the floor map: below the robot unless that covers another
// label, a table, the kitchen pass or another robot, or leaves the plan; then above, right,
// left, farther out. Sizes are estimated from the text (no layout read per frame), so it runs
// on every animation frame for every robot at a few microseconds each.

const ROBOT_FONT = 11; // px, svg.floor .robot .lbl
const PLAN_FONT = 12; // px, svg.floor text
const ROBOT_R = 15; // the body (13) and its white stroke
const GAUGE = { x: -14, y: -24, w: 28, h: 5 };

/** Width of `text` at `font` px: Hangul and other wide glyphs count as one em. */
export function textWidth(text, font) {
  let em = 0;
  for (const ch of text) em += ch.charCodeAt(0) > 0x2e80 ? 1 : /[A-Z0-9]/.test(ch) ? 0.65 : 0.55;
  return em * font;
}

function box(cx, cy, w, h) { return { x: cx - w / 2, y: cy - h / 2, w, h }; }
function overlap(a, b) {
  const dx = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const dy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return dx > 0 && dy > 0 ? dx * dy : 0;
}
function translation(el) {
  const m = /translate\(\s*([-\d.]+)[ ,]+([-\d.]+)/.exec(el.getAttribute("transform") || "");
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** The plan's fixed things, as boxes in SVG units: labels, tables, the pass, the docks. */
export function fixedBoxes(svg) {
  const out = [];
  for (const g of svg.querySelectorAll(":scope > g.pass, :scope > g.dock, :scope > g.table")) {
    const [x, y] = translation(g);
    if (g.classList.contains("table")) out.push(box(x, y, 38, 38));
    else if (g.classList.contains("pass")) out.push(box(x, y, 44, 60));
    else out.push(box(x, y, 28, 28));
    for (const t of g.querySelectorAll("text.lbl")) {
      const ty = Number(t.getAttribute("y") || 0);
      const w = textWidth(t.textContent, PLAN_FONT) + 4;
      out.push(box(x, y + ty - PLAN_FONT * 0.35, w, PLAN_FONT * 1.3));
    }
  }
  return out;
}

// Label centres relative to the robot, in the order tried.
function candidates(w) {
  const side = ROBOT_R + 4 + w / 2;
  return [[0, 28], [0, -32], [side, 4], [-side, 4], [0, 42], [0, -46], [side, -14], [-side, -14],
    [side, 22], [-side, 22], [0, 56], [0, -60]];
}

/**
 * Place every robot label of `nodes` (robot id -> {g, label}) at the first spot that covers
 * nothing and stays inside `bounds` ({x, y, w, h}); with no such spot, the one that covers
 * least. Returns the boxes chosen (for tests), by robot id.
 */
export function placeLabels(nodes, fixed, bounds) {
  const robots = [];
  for (const [id, n] of nodes) {
    if (!n.label || n.g.classList.contains("hidden")) continue;
    const x = Number(n.g.dataset.x) * 40, y = Number(n.g.dataset.y) * 40;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    robots.push({ id, n, x, y });
  }
  robots.sort((a, b) => a.y - b.y || a.x - b.x || a.id.localeCompare(b.id));
  const taken = [...fixed];
  for (const r of robots) {
    taken.push(box(r.x, r.y, ROBOT_R * 2, ROBOT_R * 2));
    taken.push({ x: r.x + GAUGE.x, y: r.y + GAUGE.y, w: GAUGE.w, h: GAUGE.h });
  }
  const chosen = new Map();
  for (const r of robots) {
    if (r.n.labelW === undefined) r.n.labelW = textWidth(r.n.label.textContent, ROBOT_FONT) + 6;
    const w = r.n.labelW;
    const h = ROBOT_FONT * 1.3;
    let best = null;
    for (const [dx, dy] of candidates(w)) {
      const b = box(r.x + dx, r.y + dy - ROBOT_FONT * 0.35, w, h);
      const outside = b.x < bounds.x || b.y < bounds.y || b.x + b.w > bounds.x + bounds.w || b.y + b.h > bounds.y + bounds.h;
      let cost = outside ? 1e9 : 0;
      for (const o of taken) cost += overlap(b, o);
      if (!best || cost < best.cost) best = { cost, dx, dy, b };
      if (cost === 0) break;
    }
    taken.push(best.b);
    chosen.set(r.id, best.b);
    const lbl = r.n.label;
    const x = String(best.dx), y = String(best.dy);
    if (lbl.getAttribute("x") !== x) lbl.setAttribute("x", x);
    if (lbl.getAttribute("y") !== y) lbl.setAttribute("y", y);
    lbl.classList.toggle("moved", best.dy !== 28 || best.dx !== 0);
  }
  return chosen;
}

/** The plan (W x H) and every fixed box, with a margin: the viewBox, so nothing is cut off. */
export function fitBox(fixed, W, H, margin = 10) {
  let x0 = 0, y0 = 0, x1 = W, y1 = H;
  for (const b of fixed) {
    x0 = Math.min(x0, b.x); y0 = Math.min(y0, b.y);
    x1 = Math.max(x1, b.x + b.w); y1 = Math.max(y1, b.y + b.h);
  }
  return { x: Math.floor(x0 - margin), y: Math.floor(y0 - margin),
    w: Math.ceil(x1 - x0 + 2 * margin), h: Math.ceil(y1 - y0 + 2 * margin) };
}

const EVERY_MS = 200; // labels follow their robot anyway; choosing a side needs no 60 fps
const pending = new WeakMap(); // nodes -> {last, timer}

/** ``placeLabels`` at most every 200 ms, and once more after the last call. */
export function placeLabelsSoon(nodes, fixed, bounds) {
  const p = pending.get(nodes) || { last: 0, timer: null };
  pending.set(nodes, p);
  const run = () => { p.timer = null; p.last = performance.now(); placeLabels(nodes, fixed, bounds); };
  const wait = EVERY_MS - (performance.now() - p.last);
  if (wait <= 0) run();
  else if (!p.timer) p.timer = setTimeout(run, wait);
}
