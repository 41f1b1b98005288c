// The floor plan as SVG: tables, the kitchen pass, docks, and every robot at its live
// position. Positions are applied once per animation frame however fast telemetry comes;
// a CSS transition on the robot's transform keeps 10 Hz motion smooth.
import { s, clear } from "./dom.js";
import { t, word } from "./i18n.js";
import { dockName, robotName } from "./words.js";
import { fitBox, fixedBoxes, placeLabelsSoon } from "./floor-labels.js";

const PX = 40; // SVG units per metre

export function stateClass(r) {
  if (r.connection === "offline") return "st-offline";
  if (r.connection === "stale") return "st-stale";
  if (r.paused && r.state !== "estop") return "st-paused";
  return `st-${(r.state || "unknown").replace(/[^a-z_]/g, "")}`;
}

/** The state in words; a paused robot keeps its state, so it reads "paused (en route)". */
export function stateText(r) {
  const st = word("s", r.state);
  if (!r.paused || r.state === "estop") return st;
  return r.state ? `${t("s_paused")} (${st})` : t("s_paused");
}

export class FloorMap {
  constructor(container, onPick) {
    this.container = container;
    this.onPick = onPick;
    this.nodes = new Map(); // robot id -> {g, body, gauge, heading, last}
    this.dirty = new Map(); // robot id -> robot
    this.svg = s("svg", { class: "floor", role: "img", "aria-label": t("floor") });
    this.robotLayer = s("g", { class: "robots" });
    container.append(this.svg);
    this.frame = null;
  }

  /** Draw the static plan: `floor` from /api/floor, `tables` from /api/tables. */
  plan(floor, tables) {
    const W = floor.width * PX, H = floor.height * PX;
    this.H = H;
    this.svg.setAttribute("viewBox", `-10 -10 ${W + 20} ${H + 20}`);
    clear(this.svg);
    this.svg.append(s("rect", { class: "plan", x: 0, y: 0, width: W, height: H, rx: 6 }));
    const p = floor.kitchen_pass;
    this.svg.append(s("g", { class: "pass", transform: `translate(${p.x * PX},${p.y * PX})` },
      s("rect", { x: -22, y: -30, width: 44, height: 60, rx: 4 }),
      s("text", { y: -36, class: "lbl" }, t("kitchen_pass"))));
    for (const d of floor.docks) {
      this.svg.append(s("g", { class: "dock", transform: `translate(${d.x * PX},${d.y * PX})` },
        s("rect", { x: -14, y: -14, width: 28, height: 28, rx: 3 }),
        s("text", { y: 4 }, "⚡"),
        s("text", { y: -20, class: "lbl" }, dockName(d.name))));
    }
    const seen = new Set();
    for (const tb of [...tables, ...floor.tables]) {
      if (seen.has(tb.name)) continue;
      seen.add(tb.name);
      this.svg.append(s("g", { class: "table", transform: `translate(${tb.x * PX},${tb.y * PX})` },
        s("circle", { r: 18 }),
        s("text", { y: 5 }, tb.name)));
    }
    this.svg.append(this.robotLayer);
    this.fixed = fixedBoxes(this.svg); // what robot labels must not cover
    this.bounds = fitBox(this.fixed, W, H); // the viewBox holds every label: none cut off
    const b = this.bounds;
    this.svg.setAttribute("viewBox", `${b.x} ${b.y} ${b.w} ${b.h}`);
  }

  /** Queue a robot for redrawing at the next animation frame. */
  update(robot) {
    this.dirty.set(robot.id, robot);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  remove(id) {
    const n = this.nodes.get(id);
    if (n) { n.g.remove(); this.nodes.delete(id); }
  }

  flush() {
    this.frame = null;
    for (const r of this.dirty.values()) this.draw(r);
    this.dirty.clear();
    if (this.bounds) placeLabelsSoon(this.nodes, this.fixed, this.bounds);
  }

  draw(r) {
    let n = this.nodes.get(r.id);
    if (r.x === null || r.x === undefined || r.y === null || r.y === undefined) {
      if (n) n.g.classList.add("hidden");
      return;
    }
    if (!n) {
      const body = s("circle", { r: 13, class: "body" });
      const heading = s("line", { x1: 0, y1: 0, x2: 16, y2: 0, class: "heading" });
      const gaugeBg = s("rect", { x: -14, y: -24, width: 28, height: 5, class: "gauge-bg" });
      const gauge = s("rect", { x: -14, y: -24, width: 28, height: 5, class: "gauge" });
      const label = s("text", { y: 28, class: "lbl" }, robotName(r.id));
      const title = s("title", {}, r.id);
      const mark = s("g", { class: "mark" }, s("rect", { x: -5, y: -6, width: 3.5, height: 12 }),
        s("rect", { x: 1.5, y: -6, width: 3.5, height: 12 })); // ⏸ drawn: fonts may lack the glyph
      const g = s("g", {
        class: "robot", tabindex: 0, role: "button", "data-robot": r.id,
        onclick: () => this.onPick(r.id),
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.onPick(r.id); } },
      }, title, heading, body, gaugeBg, gauge, mark, label);
      this.robotLayer.append(g);
      n = { g, body, gauge, heading, title, mark, label };
      this.nodes.set(r.id, n);
    }
    n.g.classList.remove("hidden");
    const x = r.x * PX, y = r.y * PX;
    n.g.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
    n.g.dataset.x = r.x.toFixed(3);
    n.g.dataset.y = r.y.toFixed(3);
    n.g.setAttribute("class", `robot ${stateClass(r)}`);
    const paused = !!r.paused && r.state !== "estop";
    n.g.dataset.paused = String(paused);
    n.mark.classList.toggle("hidden", !paused);
    n.title.textContent = `${robotName(r.id)}: ${stateText(r)}`;
    if (n.label.textContent !== robotName(r.id)) {
      n.label.textContent = robotName(r.id);
      n.labelW = undefined; // measured again by the label placement
    }
    const deg = ((r.theta || 0) * 180) / Math.PI;
    n.heading.setAttribute("transform", `rotate(${deg.toFixed(1)})`);
    const b = Math.max(0, Math.min(100, r.battery ?? 0));
    n.gauge.setAttribute("width", (28 * b / 100).toFixed(1));
    n.gauge.setAttribute("class", `gauge ${b < 20 ? "low" : b < 50 ? "mid" : "ok"}`);
  }
}
