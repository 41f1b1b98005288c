// Tables and the floor plan: drag a table (or move it with the arrow keys) and save where it
// stands now; add tables, change seats, take one out of service.
import { api } from "./api.js";
import { clear, h, s } from "./dom.js";
import { t } from "./i18n.js";
import { toast } from "./ui.js";
import { field } from "./admin-ui.js";

const PX = 40; // SVG units per metre, as the floor map's

export function tablesAdmin() {
  const svg = s("svg", { class: "floor plan-editor", role: "group", "aria-label": t("floor_plan") });
  const rows = h("tbody");
  const save = h("button", { type: "button", class: "primary", disabled: true, "data-save": "plan", onclick: () => saveMoves() }, t("save_plan"));
  const moved = new Map(); // table id -> {x, y} not saved yet
  const name = h("input", { required: true, maxlength: 32, pattern: "[A-Za-z0-9][A-Za-z0-9 _.\\-]{0,31}" });
  const seats = h("input", { type: "number", min: 1, max: 100, value: 4, required: true });
  const form = h("form", { class: "admin-form", "data-form": "table", onsubmit: async (e) => {
    e.preventDefault();
    const body = { name: name.value, seats: Number(seats.value), x: +(floor.width / 2).toFixed(2), y: +(floor.height / 2).toFixed(2) };
    try { await api("/api/tables", { method: "POST", body }); toast(`${t("table_added")}: ${name.value}`); name.value = ""; load(); }
    catch (ex) { toast(ex.message, true); }
  } }, h("h3", {}, t("add_table")), field("table_name", name), field("seats", seats),
  h("button", { type: "submit", class: "primary" }, t("add")));
  const hint = h("p", { class: "hint" }, t("drag_hint"));
  const el = h("div", { class: "admin-tables" },
    h("div", { class: "plan-box" }, svg, hint, h("div", { class: "actions" }, save)), form,
    h("div", { class: "scroll" }, h("table", { class: "admin-table" },
      h("thead", {}, h("tr", {}, ["table", "seats", "position", "in_service"].map((k) => h("th", {}, t(k))))), rows)));
  let floor = { width: 20, height: 12 };
  let tables = [];

  async function load() {
    try {
      [floor, tables] = await Promise.all([api("/api/floor"), api("/api/tables?limit=500").then((r) => r.items)]);
    } catch (e) { toast(e.message, true); return; }
    moved.clear();
    save.disabled = true;
    draw();
    list();
  }
  function draw() {
    const W = floor.width * PX, H = floor.height * PX;
    svg.setAttribute("viewBox", `-20 -20 ${W + 40} ${H + 40}`);
    clear(svg);
    svg.append(s("rect", { class: "plan", x: 0, y: 0, width: W, height: H, rx: 6 }));
    const p = floor.kitchen_pass;
    svg.append(s("g", { class: "pass", transform: `translate(${p.x * PX},${p.y * PX})` },
      s("rect", { x: -22, y: -30, width: 44, height: 60, rx: 4 }), s("text", { y: -36, class: "lbl" }, t("kitchen_pass"))));
    for (const tb of tables) svg.append(tableNode(tb));
  }
  function at(tb) { return moved.get(tb.id) || { x: tb.x, y: tb.y }; }
  function tableNode(tb) {
    const g = s("g", { class: `table draggable${tb.active ? "" : " inactive"}`, tabindex: 0, role: "button",
      "data-table": tb.name, "aria-label": `${t("table")} ${tb.name}` },
    s("circle", { r: 18 }), s("text", { y: 5 }, tb.name));
    const place = () => {
      const { x, y } = at(tb);
      g.setAttribute("transform", `translate(${(x * PX).toFixed(1)},${(y * PX).toFixed(1)})`);
      g.dataset.x = x.toFixed(2);
      g.dataset.y = y.toFixed(2);
    };
    const moveTo = (x, y) => {
      const cx = Math.min(floor.width, Math.max(0, Math.round(x * 10) / 10));
      const cy = Math.min(floor.height, Math.max(0, Math.round(y * 10) / 10));
      moved.set(tb.id, { x: cx, y: cy });
      save.disabled = false;
      place();
      list();
    };
    place();
    g.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      g.setPointerCapture(e.pointerId);
      g.classList.add("dragging");
      const onMove = (ev) => { const pt = toPlan(ev); moveTo(pt.x, pt.y); };
      const onUp = () => { g.classList.remove("dragging"); g.removeEventListener("pointermove", onMove); g.removeEventListener("pointerup", onUp); };
      g.addEventListener("pointermove", onMove);
      g.addEventListener("pointerup", onUp);
    });
    g.addEventListener("keydown", (e) => {
      const step = e.shiftKey ? 1 : 0.1;
      const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
      if (d) { e.preventDefault(); const { x, y } = at(tb); moveTo(x + d[0], y + d[1]); }
      else if (e.key === "Enter" && !save.disabled) { e.preventDefault(); saveMoves(); }
    });
    return g;
  }
  function toPlan(ev) {
    const pt = svg.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    const m = pt.matrixTransform(svg.getScreenCTM().inverse());
    return { x: m.x / PX, y: m.y / PX };
  }
  async function saveMoves() {
    const changes = [...moved];
    try {
      for (const [id, pos] of changes) await api(`/api/tables/${id}`, { method: "PATCH", body: pos });
      toast(`${t("plan_saved")}: ${changes.length}`);
    } catch (e) { toast(e.message, true); }
    load();
  }
  function list() {
    clear(rows);
    for (const tb of tables) {
      const { x, y } = at(tb);
      const seatsIn = h("input", { type: "number", min: 1, max: 100, value: tb.seats, "aria-label": `${t("seats")}: ${tb.name}`,
        onchange: () => patch(tb, { seats: Number(seatsIn.value) }) });
      const active = h("input", { type: "checkbox", checked: tb.active, "aria-label": `${t("in_service")}: ${tb.name}`,
        onchange: () => patch(tb, { active: active.checked }) });
      rows.append(h("tr", { "data-table": tb.name }, h("td", {}, tb.name), h("td", {}, seatsIn),
        h("td", {}, `${x.toFixed(1)}, ${y.toFixed(1)} m${moved.has(tb.id) ? ` · ${t("not_saved")}` : ""}`), h("td", {}, active)));
    }
  }
  async function patch(tb, body) {
    try { await api(`/api/tables/${tb.id}`, { method: "PATCH", body }); toast(`${t("saved")}: ${t("table")} ${tb.name}`); }
    catch (e) { toast(e.message, true); }
    load();
  }
  load();
  return el;
}
