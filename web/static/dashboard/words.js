// Internal names (event types, levels, alarm kinds, task outcomes, gateway reasons) as words a
// person reads, in the UI's language: no state or kind id reaches the screen as it is.
import { t, word } from "./i18n.js";

/** An id we know no word for: spaces instead of its separators, never the bare id. */
function spaced(id) { return String(id).replace(/[._:]+/g, " ").trim() || "—"; }

function known(prefix, value) {
  const w = word(prefix, value);
  return w === value ? spaced(value) : w;
}

export const eventType = (type) => known("ev", type);
export const level = (lv) => known("lv", lv);
export const alarmKind = (kind) => known("ak", kind);
export const severity = (sv) => known("sv", sv);
export const outcome = (o) => known("to", o);
export const taskKind = (k) => known("tk", k);
export const status = (st) => known("st", st);
export const robotState = (s) => (s ? known("s", s) : "—");
export const connection = (c) => (c ? known("c", c) : "—");
export const transport = (tr) => known("tr", tr);
export const role = (r) => known("role", r);

const REASONS = [
  [/^robot reported (\w+)$/, (m) => `${t("r_reported")}: ${robotState(m[1])}`],
  [/^robot offline$/, () => t("r_offline")],
  [/^robot stopped cooking$/, () => t("r_stopped_cooking")],
  [/^robot dropped the delivery$/, () => t("r_dropped_delivery")],
  [/^command failed: (\w+)$/, (m) => `${t("r_command_failed")}: ${known("cf", m[1])}`],
  [/^(\w+)$/, (m) => known("cf", m[1])],
];

/** A gateway's reason ("robot offline", "command failed: timeout") in words. */
export function reason(text) {
  if (!text) return "";
  for (const [re, fn] of REASONS) {
    const m = re.exec(text);
    if (m) return fn(m);
  }
  return text;
}

/** One line about an rd:events entry, without JSON. */
export function eventText(e) {
  const d = e.data || {};
  switch (e.type) {
    case "robot.connection": return `${connection(d.previous)} → ${connection(d.state)}`;
    case "robot.state": return `${robotState(d.previous)} → ${robotState(d.state)}`;
    case "robot.event": return d.name ? known("re", d.name) : "";
    case "command.sent": case "command.acked": return known("cmd", d.action);
    case "command.failed": return `${known("cmd", d.action)}: ${reason(d.reason)}`;
    case "order.status": return `${status(d.previous || "placed")} → ${status(d.status)}`;
    case "task.assigned": return `${taskKind(d.kind)} · ${t("attempt")} ${d.attempt ?? 1}`;
    case "task.released": return `${taskKind(d.kind)}: ${reason(d.reason)}`;
    case "inventory.low": return `${d.name}: ${d.stock}`;
    case "alarm.raised": case "alarm.cleared": case "alarm.acked": case "alarm.escalated":
      return `${alarmKind(d.kind)} (${severity(d.severity)})${d.by && e.type === "alarm.acked" ? ` · ${d.by}` : ""}`;
    case "registry.changed": return known("rc", d.change);
    default: return "";
  }
}
