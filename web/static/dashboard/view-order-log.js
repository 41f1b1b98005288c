// Past orders: a day (in the browser's time zone), a table, a status; the day's totals; click
// (or Enter on) an order for its detail. The filters live in the address (#history?...).
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { money, t } from "./i18n.js";
import { toast } from "./ui.js";
import { field, timeZone, today, when } from "./admin-ui.js";
import { openOrderDetail } from "./order-detail.js";
import { hashState, setHashParams } from "./route.js";
import { statusWord } from "./words.js";

const STATUSES = ["placed", "cooking", "ready", "delivering", "delivered", "cancelled"];
const PAGE = 50;

export function orderLogView() {
  const p = hashState().tab === "history" ? hashState().params : new URLSearchParams();
  const day = h("input", { type: "date", value: p.get("day") ?? today() });
  const table = h("select", {}, h("option", { value: "" }, t("all")));
  const status = h("select", {}, h("option", { value: "" }, t("all")),
    STATUSES.map((s) => h("option", { value: s, selected: p.get("status") === s }, statusWord(s))));
  const totals = h("div", { class: "totals", "aria-live": "polite" });
  const rows = h("tbody");
  const more = h("button", { type: "button", hidden: true, onclick: () => load(offset) }, t("more"));
  const el = h("section", { class: "order-log-view" },
    h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); load(0); } },
      field("day", day), field("table", table), field("status", status)),
    totals,
    h("div", { class: "scroll" }, h("table", { class: "order-log" },
      h("thead", {}, h("tr", {}, ["time", "order", "table", "dishes", "total", "status", "robot"].map((k) => h("th", {}, t(k))))),
      rows)),
    more);
  for (const c of [day, table, status]) c.onchange = () => load(0);
  let offset = 0;

  api("/api/tables?limit=500").then((r) => {
    for (const tb of r.items) table.append(h("option", { value: tb.id, selected: p.get("table") === String(tb.id) }, `${t("table")} ${tb.name}`));
    load(0);
  }).catch((e) => { toast(e.message, true); load(0); });

  async function load(from) {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(from), tz: timeZone() });
    if (day.value) q.set("day", day.value);
    if (table.value) q.set("table_id", table.value);
    if (status.value) q.set("status", status.value);
    if (hashState().tab === "history") setHashParams("history", { day: day.value, table: table.value, status: status.value });
    let body;
    try { body = await api(`/api/orders?${q}`); } catch (e) { toast(e.message, true); return; }
    if (from === 0) clear(rows);
    for (const o of body.items) rows.append(row(o));
    if (!body.total) rows.append(h("tr", {}, h("td", { colspan: 7 }, t("nothing"))));
    offset = from + body.items.length;
    more.hidden = offset >= body.total;
    showTotals(body.totals);
  }
  function showTotals(s) {
    clear(totals);
    if (!s) return;
    const sum = (list) => list.map((m) => money(m.minor, m.currency)).join(" + ") || money(0);
    totals.append(
      h("div", { class: "tile" }, h("small", {}, t("orders")), h("strong", { "data-total": "orders" }, String(s.orders))),
      h("div", { class: "tile" }, h("small", {}, t("revenue")), h("strong", { "data-total": "revenue" }, sum(s.revenue))),
      h("div", { class: "tile" }, h("small", {}, statusWord("delivered")), h("strong", { "data-total": "delivered" }, sum(s.delivered))),
      h("ul", { class: "by-status" }, STATUSES.map((st) => h("li", { "data-status": st }, `${statusWord(st)} ${s.by_status[st] || 0}`))));
  }
  function row(o) {
    const open = () => openOrderDetail(o.id);
    return h("tr", { tabindex: 0, "data-order": o.id, onclick: open,
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } } },
    h("td", {}, when(o.created_at)), h("td", { class: "oid" }, o.id.slice(-6)), h("td", {}, o.table),
    h("td", {}, o.items.map((i) => `${i.name} ×${i.quantity}`).join(", ")),
    h("td", {}, money(o.total_minor, o.currency)), h("td", {}, statusWord(o.status)), h("td", {}, o.carried_by || "—"));
  }
  return el;
}
