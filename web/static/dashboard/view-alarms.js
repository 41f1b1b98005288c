// The alarms tab: every alarm with its state, acknowledging with a note, and one alarm's history.
import { api, canWrite } from "./api.js";
import { clear, h } from "./dom.js";
import { t, word } from "./i18n.js";
import { feed, toast } from "./ui.js";
import { field, openDialog, when } from "./admin-ui.js";
import { hashState, setHashParams } from "./route.js";
import { alarmKindWord, severityWord } from "./words.js";

const STATES = ["needs_ack", "open", "active", "all"];

export function alarmsView() {
  const params = hashState().tab === "alarms" ? hashState().params : new URLSearchParams();
  const state = h("select", { id: "alarm-state" }, STATES.map((s) =>
    h("option", { value: s, selected: (params.get("state") || "open") === s }, t(`as_${s}`))));
  const sev = h("select", { id: "alarm-severity" }, h("option", { value: "" }, t("all")),
    ["critical", "major", "minor"].map((s) => h("option", { value: s, selected: params.get("severity") === s }, severityWord(s))));
  const rows = h("tbody");
  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const el = h("section", { class: "alarms-view" },
    h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); load(); } },
      field("alarm_state", state), field("severity", sev)),
    summary,
    h("div", { class: "scroll" }, h("table", { class: "alarms" },
      h("thead", {}, h("tr", {}, ["time", "severity", "alarm_kind", "robot", "count", "state", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      rows)));
  state.onchange = sev.onchange = () => load();

  let timer = null;
  async function load() {
    timer = null;
    if (hashState().tab === "alarms") setHashParams("alarms", { state: state.value, severity: sev.value });
    const q = new URLSearchParams({ state: state.value, limit: "200" });
    if (sev.value) q.set("severity", sev.value);
    let body;
    try { body = await api(`/api/alarms?${q}`); } catch (e) { toast(e.message, true); return; }
    clear(rows);
    summary.textContent = `${t("alarms_waiting")}: ${body.needs_ack} · ${t("shown")}: ${body.items.length} / ${body.total}`;
    for (const a of body.items) rows.append(row(a));
    if (!body.items.length) rows.append(h("tr", {}, h("td", { colspan: 7 }, t("nothing"))));
  }
  function row(a) {
    const where = a.robot || (a.order ? `${t("order")} ${a.order.slice(-6)}` : "—");
    return h("tr", { class: `sev-${a.severity}${a.needs_ack ? " waiting" : ""}`, "data-alarm": a.id },
      h("td", {}, when(a.raised_at)), h("td", {}, h("span", { class: "sev" }, severityWord(a.severity))),
      h("td", {}, alarmKindWord(a.kind)), h("td", {}, where), h("td", {}, String(a.count)),
      h("td", {}, stateText(a)),
      h("td", { class: "actions" },
        canWrite() && !a.acked_at ? h("button", { type: "button", class: "small primary", "data-ack": a.id, onclick: () => ackDialog(a) }, t("ack")) : null,
        h("button", { type: "button", class: "small", onclick: () => details(a.id) }, t("details"))));
  }
  function ackDialog(a) {
    const note = h("input", { maxlength: 500, autocomplete: "off" });
    const form = h("form", { class: "stack", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api(`/api/alarms/${a.id}/ack`, { method: "POST", body: { note: note.value } });
        toast(t("alarm_acked"));
        dlg.close();
      } catch (ex) { toast(ex.message, true); }
      load();
    } }, field("note", note), h("button", { type: "submit", class: "primary" }, t("ack")));
    const dlg = openDialog(`${alarmKindWord(a.kind)} · ${a.robot || a.order || ""}`, form);
    note.focus();
  }
  async function details(id) {
    let a;
    try { a = await api(`/api/alarms/${id}`); } catch (e) { toast(e.message, true); return; }
    const facts = [["severity", severityWord(a.severity)], ["robot", a.robot || "—"], ["order", a.order || "—"],
      ["raised", when(a.raised_at)], ["cleared", when(a.cleared_at)],
      ["acked", a.acked_at ? `${when(a.acked_at)} · ${a.acked_by}${a.ack_note ? ` · ${a.ack_note}` : ""}` : "—"],
      ["escalated", when(a.escalated_at)], ["count", String(a.count)]];
    openDialog(alarmKindWord(a.kind), h("div", {},
      h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)])),
      h("h3", {}, t("alarm_history")),
      h("ol", { class: "history" }, a.history.map((x) =>
        h("li", {}, h("time", {}, when(x.at)), " ", t(`ah_${x.action}`), x.by ? ` · ${byWho(x.by)}` : "")))));
  }
  feed("/ws/events", (f) => {
    if ((f.type === "snapshot" || f.type === "event") && !timer) timer = setTimeout(load, 200);
  }, { type: "alarm.*" });
  load();
  return el;
}

function stateText(a) {
  if (a.acked_at) return `${t("acked_by")} ${a.acked_by} · ${when(a.acked_at)}`;
  return a.active ? t("alarm_active") : t("alarm_cleared");
}

/** Who changed an alarm: a user, or the kind of event that did it. */
function byWho(by) {
  const k = by.replace(/[. ]/g, "_");
  const w = word("by", k);
  return w === k ? by : w;
}
