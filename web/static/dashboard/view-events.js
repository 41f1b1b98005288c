// The events view: rd:events live, filtered by level, type and robot. The filter is checked
// with the REST API first (a socket refused at its upgrade cannot say why), so a bad one is
// told with its reason instead of a feed that keeps reconnecting.
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { addStrings, t, tf } from "./i18n.js";
import { eventCells } from "./event-row.js";
import { problemText } from "./problems.js";
import { feed, unfeed } from "./ui.js";
import { levelWord, loadRobotNames, robotByName } from "./words.js";

addStrings({
  bad_type_filter: ["Not an event type: “{value}”. Types are like robot.state, or robot.* for all robot events; separate several with commas",
    "이벤트 유형이 아닙니다: “{value}”. robot.state처럼 쓰거나, robot.* 로 로봇 이벤트 전체를 고르고, 여러 개는 쉼표로 나누세요"],
  bad_robot_filter: ["No such robot: “{value}”", "그런 로봇이 없습니다: “{value}”"],
  apply_filter: ["Apply", "적용"],
});

export function eventsView() {
  const rows = h("tbody");
  const level = h("select", { "aria-label": t("level") }, ["", "info", "warning", "alarm"].map((l) => h("option", { value: l }, l ? levelWord(l) : t("all"))));
  const type = h("input", { "aria-label": t("type"), placeholder: "robot.*, order.status", size: 24 });
  const robot = h("input", { "aria-label": t("robot"), placeholder: t("robot"), size: 10 });
  const problem = h("p", { class: "form-error filter-error", role: "alert" });
  const filters = h("form", { class: "filters" }, h("label", {}, t("level"), " ", level), h("label", {}, t("type"), " ", type),
    h("label", {}, t("robot"), " ", robot), h("button", { type: "submit" }, t("apply_filter")));
  const el = h("section", { class: "events-view" }, filters, problem,
    h("table", { class: "events" }, h("thead", {}, h("tr", {}, ["time", "level", "type", "robot", "details"].map((k) => h("th", {}, t(k))))), rows));
  let f = null, attempt = 0;

  function values(input) { return input.value.split(",").map((v) => v.trim()).filter(Boolean); }
  function params() {
    const p = {};
    if (level.value) p.level = level.value;
    if (values(type).length) p.type = values(type).join(",");
    const robots = values(robot).map((v) => robotByName(v) || v); // names work as well as ids
    if (robots.length) p.robot = robots.join(",");
    return p;
  }
  /** Why the filter is refused, in words (null: it is fine). */
  function refusal(ex) {
    const p = ex.problem || {};
    const m = /^(type|robot)\[(\d+)\]$/.exec(p.field || "");
    if (p.code === "invalid_field" && m) {
      const list = m[1] === "type" ? values(type) : values(robot);
      return tf(m[1] === "type" ? "bad_type_filter" : "bad_robot_filter", { value: list[Number(m[2])] ?? "" });
    }
    return problemText(ex);
  }
  async function start() {
    const mine = ++attempt;
    const p = params();
    if (f) { unfeed(f); f = null; }
    try {
      await api(`/api/events?${new URLSearchParams({ ...p, limit: 1 })}`);
    } catch (ex) {
      if (mine !== attempt) return;
      clear(rows);
      problem.textContent = refusal(ex);
      type.setAttribute("aria-invalid", String(/^type/.test(ex.problem?.field || "")));
      return;
    }
    if (mine !== attempt) return;
    problem.textContent = "";
    type.removeAttribute("aria-invalid");
    clear(rows);
    f = feed("/ws/events", (fr) => {
      if (fr.type === "snapshot") { clear(rows); for (const e of fr.items) add(e.event, e.id); }
      else if (fr.type === "event") add(fr.event, fr.id);
    }, p);
  }
  function row(e) {
    return h("tr", { class: `lv-${e.level}`, "data-type": e.type, "data-level": e.level }, eventCells(e, () => redraw(e)));
  }
  const shown = new Map(); // event -> its row, to redraw once an order's table is known
  function redraw(e) { const tr = shown.get(e); if (tr && tr.isConnected) { const n = row(e); tr.replaceWith(n); shown.set(e, n); } }
  function add(e) {
    const tr = row(e);
    shown.set(e, tr);
    rows.prepend(tr);
    while (rows.children.length > 300) rows.lastChild.remove();
    if (shown.size > 600) for (const [k, v] of shown) if (!v.isConnected) shown.delete(k);
  }
  filters.onsubmit = (e) => { e.preventDefault(); start(); };
  level.onchange = start;
  loadRobotNames().finally(start);
  return el;
}
