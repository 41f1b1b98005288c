// The events view: rd:events live, filtered by level, type and robot.
import { clear, h } from "./dom.js";
import { clock, t } from "./i18n.js";
import { feed, unfeed } from "./ui.js";

export function eventsView() {
  const rows = h("tbody");
  const level = h("select", { "aria-label": t("level") }, ["", "info", "warning", "alarm"].map((l) => h("option", { value: l }, l || t("all"))));
  const type = h("input", { "aria-label": t("type"), placeholder: "robot.*, order.status", size: 24 });
  const robot = h("input", { "aria-label": t("robot"), placeholder: t("robot"), size: 10 });
  const filters = h("form", { class: "filters" }, h("label", {}, t("level"), " ", level), h("label", {}, t("type"), " ", type),
    h("label", {}, t("robot"), " ", robot), h("button", { type: "submit" }, "↻"));
  const el = h("section", { class: "events-view" }, filters,
    h("table", { class: "events" }, h("thead", {}, h("tr", {}, ["time", "level", "type", "robot", "details"].map((k) => h("th", {}, t(k))))), rows));
  let f = null;
  function start() {
    if (f) unfeed(f);
    clear(rows);
    const params = {};
    if (level.value) params.level = level.value;
    if (type.value.trim()) params.type = type.value.trim();
    if (robot.value.trim()) params.robot = robot.value.trim();
    f = feed("/ws/events", (fr) => {
      if (fr.type === "snapshot") { clear(rows); for (const e of fr.items) add(e.event, e.id); }
      else if (fr.type === "event") add(fr.event, fr.id);
    }, params);
  }
  function add(e) {
    rows.prepend(h("tr", { class: `lv-${e.level}` }, h("td", {}, clock(e.ts)), h("td", {}, e.level), h("td", {}, e.type),
      h("td", {}, e.robot || "—"), h("td", { class: "data" }, JSON.stringify(e.data))));
    while (rows.children.length > 300) rows.lastChild.remove();
  }
  filters.onsubmit = (e) => { e.preventDefault(); start(); };
  level.onchange = start;
  start();
  return el;
}
