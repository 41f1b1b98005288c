// The floor view: the live map, the robot list, a robot's details and its commands.
import { api, canWrite } from "./api.js";
import { cameraPanel } from "./cameras.js";
import { clear, h } from "./dom.js";
import { FloorMap, stateClass, stateText } from "./floor.js";
import { t, word } from "./i18n.js";
import { problemText } from "./problems.js";
import { feed, toast } from "./ui.js";
import { hasName, noteRobot, reasonWord, robotName, taskText } from "./words.js";

export function floorView() {
  const robots = new Map();
  const mapBox = h("div", { class: "map" });
  const list = h("tbody");
  const detail = h("aside", { class: "detail", hidden: true, "aria-live": "polite" });
  let picked = null;
  const lastCommand = new Map(); // robot id -> {action, outcome, reason}: what became of the last command
  const map = new FloorMap(mapBox, (id) => pick(id));
  // The commands each kind carries out come from the API; the buttons are those that need no
  // arguments, less the ones the order board gives (pickup_done) and cancel (of the robot's task).
  const kinds = new Map();
  const buttonsFor = (kind) => (kinds.get(kind) || [])
    .filter((a) => !a.needs_args && a.action !== "pickup_done" && a.action !== "cancel").map((a) => a.action);
  api("/api/robot-kinds").then(({ items }) => {
    for (const k of items) kinds.set(k.kind, k.actions);
    renderDetail();
  }).catch((e) => toast(problemText(e), true));
  const el = h("section", { class: "floor-view" }, mapBox, detail,
    h("table", { class: "robots" }, h("caption", {}, t("robots")),
      h("thead", {}, h("tr", {}, ["robot", "kind", "connection", "state", "battery", "task"].map((k) => h("th", {}, t(k))))),
      list));

  Promise.all([api("/api/floor"), api("/api/tables?limit=500").catch(() => ({ items: [] }))])
    .then(([floor, tables]) => { map.plan(floor, tables.items); for (const r of robots.values()) map.update(r); })
    .catch((e) => toast(problemText(e), true));

  let listTimer = null;
  function changed(r) {
    map.update(r);
    if (!listTimer) listTimer = setTimeout(renderList, 250); // the table need not move at 10 Hz
    if (picked === r.id) renderDetail();
  }
  function renderList() {
    listTimer = null;
    clear(list);
    const rows = [...robots.values()].sort((a, b) => a.id.localeCompare(b.id));
    for (const r of rows) {
      list.append(h("tr", { class: stateClass(r), tabindex: 0, "data-robot": r.id, onclick: () => pick(r.id),
        onkeydown: (e) => { if (e.key === "Enter") pick(r.id); } },
        h("td", { class: "name" }, robotName(r.id), hasName(r.id) ? h("small", { class: "rid" }, ` ${r.id}`) : null),
        h("td", {}, word("k", r.kind)), h("td", {}, word("c", r.connection)),
        h("td", { class: "state" }, stateText(r)), h("td", {}, battery(r.battery)),
        h("td", { class: "task", "data-task": r.task || "" }, taskText(r.task, later))));
    }
    if (!rows.length) list.append(h("tr", {}, h("td", { colspan: 6 }, t("nothing"))));
  }
  function later() { if (!listTimer) listTimer = setTimeout(renderList, 250); renderDetail(); } // an order's table came
  function pick(id) { picked = id; renderDetail(); }
  function renderDetail() {
    const r = robots.get(picked);
    clear(detail);
    detail.hidden = !r;
    if (!r) { cameraPanel(null); return; }
    const rows = [["kind", word("k", r.kind)], ["connection", word("c", r.connection)], ["state", stateText(r)],
      ["battery", battery(r.battery)], ["task", taskText(r.task, later)],
      ["position", r.x == null ? "—" : `${r.x.toFixed(1)}, ${r.y.toFixed(1)} m`]];
    const c = lastCommand.get(r.id);
    if (c) rows.push(["last_command", `${t(c.action) } · ${t(`cmd_${c.outcome}`)}${c.reason ? ` (${reasonWord(c.reason)})` : ""}`]);
    detail.append(h("h2", {}, `${t("robot")} ${robotName(r.id)}`, hasName(r.id) ? h("small", { class: "rid" }, ` ${r.id}`) : null), h("dl", {}, rows.map(([k, v]) => [h("dt", {}, t(k)), h("dd", { "data-field": k, class: k === "state" && stateClass(r) === "st-paused" ? "st-paused" : null }, v || "—")])));
    if (canWrite()) {
      const acts = buttonsFor(r.kind);
      detail.append(h("div", { class: "actions" }, acts.map((a) =>
        h("button", { class: a === "estop" ? "danger" : "", "data-action": a, onclick: () => command(r.id, a) }, t(a)))));
    }
    detail.append(cameraPanel(r.id));
    detail.append(h("button", { class: "close", onclick: () => { picked = null; renderDetail(); } }, t("close")));
  }
  async function command(id, action) {
    try {
      await api(`/api/robots/${encodeURIComponent(id)}/commands`, { method: "POST", body: { action }, headers: { "Idempotency-Key": crypto.randomUUID() } });
      toast(`${t("command_sent")}: ${t(action)} → ${robotName(id)}`);
    } catch (e) { toast(`${t("command_failed")}: ${problemText(e)}`, true); }
  }
  function merge(id, fields) {
    const r = { ...(robots.get(id) || { id }), ...fields };
    if (fields.name !== undefined) noteRobot(r);
    robots.set(id, r);
    changed(r);
  }
  feed("/ws/robots", (f) => {
    if (f.type === "snapshot") {
      const keep = new Set(f.items.map((r) => r.id));
      for (const id of robots.keys()) if (!keep.has(id)) { robots.delete(id); map.remove(id); }
      for (const r of f.items) merge(r.id, r);
    } else if (f.type === "robot" && f.robot) {
      const { x, y, theta, battery: _b, ...rest } = f.robot; // positions come from telemetry
      const known = robots.get(f.robot.id);
      merge(f.robot.id, known && known.x != null ? rest : f.robot);
    }
  }, {}, (f) => f.robot?.id);
  feed("/ws/events", (f) => {
    const evs = f.type === "snapshot" ? f.items.map((e) => e.event) : f.type === "event" ? [f.event] : [];
    for (const e of evs) {
      if (!e.robot || !e.type.startsWith("command.")) continue;
      lastCommand.set(e.robot, { action: e.data.action, outcome: e.type.slice(8), reason: e.data.reason || e.data.error || "" });
      if (picked === e.robot) renderDetail();
    }
  }, { type: "command.*" });
  feed("/ws/telemetry", (f) => {
    const apply = (smp) => merge(smp.robot, { x: smp.x, y: smp.y, theta: smp.theta, battery: smp.battery, speed: smp.speed });
    if (f.type === "snapshot") for (const e of f.items) apply(e.sample);
    else if (f.type === "telemetry") apply(f.sample);
  }, { max_hz: 10 }, (f) => f.sample?.robot);
  return el;
}

function battery(b) { return b == null ? "—" : `${Math.round(b)}%`; }
