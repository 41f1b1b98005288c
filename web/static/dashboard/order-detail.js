// One order in a dialog: its lines, every status with its time, and the robots' work: who
// cooked each dish, who carried it, who dropped out of a task and why.
import { api } from "./api.js";
import { h } from "./dom.js";
import { money, t } from "./i18n.js";
import { toast } from "./ui.js";
import { openDialog, when } from "./admin-ui.js";
import { outcomeWord, reasonWord, statusWord, taskKindWord } from "./words.js";

export async function openOrderDetail(id) {
  let o;
  try { o = await api(`/api/orders/${encodeURIComponent(id)}`); } catch (e) { toast(e.message, true); return null; }
  const lines = h("table", { class: "lines" },
    h("thead", {}, h("tr", {}, ["dish", "quantity", "price", "subtotal"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, o.items.map((i) => h("tr", {}, h("td", {}, i.name), h("td", {}, String(i.quantity)),
      h("td", {}, money(i.unit_price_minor, o.currency)), h("td", {}, money(i.subtotal_minor, o.currency))))),
    h("tfoot", {}, h("tr", {}, h("td", { colspan: 3 }, t("total")), h("td", {}, money(o.total_minor, o.currency)))));
  const history = h("ol", { class: "history", "data-history": "" }, o.history.map((x) =>
    h("li", { "data-status": x.status }, h("time", {}, when(x.at)), " ", statusWord(x.status),
      x.robot ? ` · ${t("robot")} ${x.robot}` : "", x.source ? ` · ${x.source}` : "")));
  const tasks = h("table", { class: "tasks" },
    h("thead", {}, h("tr", {}, ["task", "robot", "attempt", "time", "outcome"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, o.tasks.map((a) => h("tr", { class: `to-${a.outcome}`, "data-task": a.task },
      h("td", {}, a.kind === "cook" ? `${taskKindWord("cook")}: ${a.item}` : taskKindWord("deliver")),
      h("td", {}, a.robot), h("td", {}, String(a.attempt)), h("td", {}, when(a.assigned_at)),
      h("td", {}, outcomeWord(a.outcome), a.reason ? h("div", { class: "reason" }, reasonWord(a.reason)) : null)))));
  if (!o.tasks.length) tasks.tBodies[0].append(h("tr", {}, h("td", { colspan: 5 }, t("no_tasks"))));
  const moved = o.tasks.filter((a) => a.outcome === "released").length;
  const facts = [["table", o.table], ["status", statusWord(o.status)], ["placed_at", when(o.created_at)],
    ["placed_by", o.created_by], ["cooked_by", o.cooked_by.join(", ") || "—"], ["carried_by", o.carried_by || "—"],
    ["reassigned", String(moved)]];
  if (o.note) facts.push(["note", o.note]);
  const body = h("div", { class: "order-detail", "data-order": o.id },
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, t(k)), h("dd", { "data-field": k }, v)])),
    h("h3", {}, t("dishes")), lines,
    h("h3", {}, t("status_history")), history,
    h("h3", {}, t("robots_work")), h("div", { class: "scroll" }, tasks));
  const title = `${t("order")} ${o.id.slice(-6)} · ${t("table")} ${o.table}`;
  return openDialog(title, body, { wide: true });
}
