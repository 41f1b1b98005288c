// The event log: rd:events page by page back in time (GET /api/events?before=), filtered by
// level, type and robot; the filters and the page's cursor live in the address (#log?...).
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { toast } from "./ui.js";
import { field, when } from "./admin-ui.js";
import { hashState, setHashParams } from "./route.js";
import { eventCells } from "./event-row.js";
import { eventTypeWord, levelWord, loadRobotNames } from "./words.js";

const PAGE = 50;
const LEVELS = ["info", "warning", "alarm"];
const TYPES = ["robot.*", "robot.connection", "robot.state", "robot.event", "command.*", "order.status",
  "task.*", "alarm.*", "inventory.low", "registry.changed", "gateway.*"];

export function eventLogView() {
  const p = hashState().tab === "log" ? hashState().params : new URLSearchParams();
  const level = h("select", {}, h("option", { value: "" }, t("all")),
    LEVELS.map((l) => h("option", { value: l, selected: p.get("level") === l }, levelWord(l))));
  const type = h("select", {}, h("option", { value: "" }, t("all")),
    TYPES.map((ty) => h("option", { value: ty, selected: p.get("type") === ty }, typeLabel(ty))));
  const robot = h("input", { value: p.get("robot") || "", size: 12, autocomplete: "off", pattern: "[A-Za-z0-9._\\-]*" });
  const rows = h("tbody");
  const status = h("p", { class: "summary", "aria-live": "polite" });
  const older = h("button", { type: "button", "data-page": "older", onclick: () => go(cursor, true) }, t("older"));
  const newer = h("button", { type: "button", "data-page": "newer", onclick: () => go(stack.pop() ?? null, false) }, t("newer"));
  const el = h("section", { class: "event-log-view" },
    h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); restart(); } },
      field("level", level), field("type", type), field("robot", robot),
      h("button", { type: "submit" }, t("search"))),
    status,
    h("div", { class: "scroll" }, h("table", { class: "events event-log" },
      h("thead", {}, h("tr", {}, ["time", "level", "type", "robot", "details"].map((k) => h("th", {}, t(k))))), rows)),
    h("div", { class: "pager" }, newer, older));
  level.onchange = type.onchange = () => restart();
  let cursor = null; // where the next older page starts
  let shown = null; // the `before` of the page shown (null: the newest), kept in the address
  const stack = []; // the `before` of the newer pages, to go back to them

  function filters() {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (level.value) q.set("level", level.value);
    if (type.value) q.set("type", type.value);
    if (robot.value.trim()) q.set("robot", robot.value.trim());
    return q;
  }
  function restart() { stack.length = 0; go(null, false); }
  async function go(before, deeper) {
    if (deeper) stack.push(shown);
    shown = before;
    if (hashState().tab === "log") {
      setHashParams("log", { level: level.value, type: type.value, robot: robot.value.trim(), before: shown || "" });
    }
    const q = filters();
    if (before) q.set("before", before);
    let body;
    try { body = await api(`/api/events?${q}`); } catch (e) { status.textContent = e.message; toast(e.message, true); return; }
    clear(rows);
    for (const entry of [...body.items].reverse()) rows.append(row(entry)); // newest first
    cursor = body.before;
    older.disabled = !cursor || !body.items.length;
    newer.disabled = shown === null;
    status.textContent = body.items.length
      ? `${when(new Date(body.items[0].event.ts * 1000).toISOString())} – ${when(new Date(body.items.at(-1).event.ts * 1000).toISOString())}`
      : t("nothing");
  }
  function row(entry) {
    const e = entry.event;
    const tr = h("tr", { class: `lv-${e.level}`, "data-id": entry.id, "data-type": e.type, "data-level": e.level },
      eventCells(e, () => { if (tr.isConnected) tr.replaceWith(row(entry)); }));
    tr.firstChild.title = when(new Date(e.ts * 1000).toISOString());
    return tr;
  }
  loadRobotNames().finally(() => go(p.get("before") || null, false));
  return el;
}

function typeLabel(ty) {
  return ty.endsWith(".*") ? `${t(`evg_${ty.slice(0, -2)}`)}` : eventTypeWord(ty);
}
