// The staff dashboard: login, then the shell (tabs, language, live/reconnecting state) and
// the views: floor map + robots, order board, chat, events, todos.
import { api, canWrite, login, logout, onLogout, session } from "./api.js";
import { clear, h } from "./dom.js";
import { Feed, onFeedState } from "./feed.js";
import { FloorMap, stateClass } from "./floor.js";
import { clock, lang, money, setLang, t, word } from "./i18n.js";

const root = document.getElementById("root");
let feeds = [];
let currentTab = location.hash.slice(1) || "floor";

function toast(msg, bad = false) {
  const el = h("div", { class: `toast${bad ? " bad" : ""}`, role: "status" }, msg);
  document.body.append(el);
  setTimeout(() => el.remove(), 3500);
}

// ---------------------------------------------------------------- login
function showLogin(error = "") {
  stopAll();
  clear(root);
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const err = h("p", { class: "error", role: "alert" }, error);
  const form = h("form", { class: "login", onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      await login(user.value, pass.value);
      showShell();
    } catch (ex) {
      err.textContent = ex.status === 401 ? t("login_failed") : `${t("login_error")}: ${ex.message}`;
    }
  } },
  h("h1", {}, t("app")),
  h("label", { for: "username" }, t("username")), user,
  h("label", { for: "password" }, t("password")), pass,
  h("button", { type: "submit", class: "primary" }, t("login")), err, langSwitch(() => showLogin()));
  root.append(form);
  user.focus();
}

function langSwitch(redraw) {
  const sel = h("select", { "aria-label": t("language"), class: "lang", onchange: () => { setLang(sel.value); redraw(); } },
    h("option", { value: "ko", selected: lang === "ko" }, "한국어"),
    h("option", { value: "en", selected: lang === "en" }, "English"));
  return sel;
}

function stopAll() { for (const f of feeds) f.stop(); feeds = []; }
function feed(path, onFrame, params, keyOf) { const f = new Feed(path, onFrame, params, keyOf).start(); feeds.push(f); return f; }

// ---------------------------------------------------------------- shell
const TABS = ["floor", "orders", "chat", "events", "todos"];

function showShell() {
  stopAll();
  clear(root);
  const me = session();
  const status = h("span", { class: "live", role: "status", "aria-live": "polite" });
  onFeedState((down) => {
    status.textContent = down ? t("reconnecting") : t("connected");
    status.className = down ? "live down" : "live";
    document.body.classList.toggle("reconnecting", down);
  });
  const nav = h("nav", { role: "tablist" }, TABS.map((name) =>
    h("button", { role: "tab", id: `tab-${name}`, "aria-controls": `view-${name}`,
      "aria-selected": String(name === currentTab), onclick: () => selectTab(name) }, t(name))));
  const header = h("header", {},
    h("strong", { class: "brand" }, t("app")), nav, status,
    h("span", { class: "who" }, `${me.username} (${me.role})`),
    langSwitch(() => showShell()),
    h("button", { class: "logout", onclick: () => logout() }, t("logout")));
  const main = h("main", {});
  root.append(header, main);
  const views = {
    floor: floorView(), orders: ordersView(), chat: chatView(), events: eventsView(), todos: todosView(),
  };
  for (const [name, el] of Object.entries(views)) {
    el.id = `view-${name}`;
    el.setAttribute("role", "tabpanel");
    el.setAttribute("aria-labelledby", `tab-${name}`);
    main.append(el);
  }
  function selectTab(name) {
    currentTab = TABS.includes(name) ? name : "floor";
    history.replaceState(null, "", `#${currentTab}`);
    for (const b of nav.children) b.setAttribute("aria-selected", String(b.id === `tab-${currentTab}`));
    for (const [n, el] of Object.entries(views)) el.hidden = n !== currentTab;
  }
  selectTab(currentTab);
}

// ---------------------------------------------------------------- floor + robots
function floorView() {
  const robots = new Map();
  const mapBox = h("div", { class: "map" });
  const list = h("tbody");
  const detail = h("aside", { class: "detail", hidden: true, "aria-live": "polite" });
  let picked = null;
  const lastCommand = new Map(); // robot id -> {action, outcome, reason}: what became of the last command
  const map = new FloorMap(mapBox, (id) => pick(id));
  const el = h("section", { class: "floor-view" }, mapBox, detail,
    h("table", { class: "robots" }, h("caption", {}, t("robots")),
      h("thead", {}, h("tr", {}, ["robot", "kind", "connection", "state", "battery", "task"].map((k) => h("th", {}, t(k))))),
      list));

  Promise.all([api("/api/floor"), api("/api/tables?limit=500").catch(() => ({ items: [] }))])
    .then(([floor, tables]) => { map.plan(floor, tables.items); for (const r of robots.values()) map.update(r); })
    .catch((e) => toast(e.message, true));

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
        h("td", {}, r.id), h("td", {}, word("k", r.kind)), h("td", {}, word("c", r.connection)),
        h("td", { class: "state" }, word("s", r.state)), h("td", {}, battery(r.battery)), h("td", {}, r.task || "—")));
    }
    if (!rows.length) list.append(h("tr", {}, h("td", { colspan: 6 }, t("nothing"))));
  }
  function pick(id) { picked = id; renderDetail(); }
  function renderDetail() {
    const r = robots.get(picked);
    clear(detail);
    detail.hidden = !r;
    if (!r) return;
    const rows = [["kind", word("k", r.kind)], ["connection", word("c", r.connection)], ["state", word("s", r.state)],
      ["battery", battery(r.battery)], ["task", r.task || "—"],
      ["position", r.x == null ? "—" : `${r.x.toFixed(1)}, ${r.y.toFixed(1)} m`]];
    const c = lastCommand.get(r.id);
    if (c) rows.push(["last_command", `${t(c.action) } · ${t(`cmd_${c.outcome}`)}${c.reason ? ` (${c.reason})` : ""}`]);
    detail.append(h("h2", {}, `${t("robot")} ${r.id}`), h("dl", {}, rows.map(([k, v]) => [h("dt", {}, t(k)), h("dd", { "data-field": k }, v || "—")])));
    if (canWrite()) {
      const acts = r.kind === "cooking" ? ["pause", "resume", "estop", "release"] : ["dock", "pause", "resume", "estop", "release"];
      detail.append(h("div", { class: "actions" }, acts.map((a) =>
        h("button", { class: a === "estop" ? "danger" : "", "data-action": a, onclick: () => command(r.id, a) }, t(a)))));
    }
    detail.append(h("button", { class: "close", onclick: () => { picked = null; renderDetail(); } }, t("close")));
  }
  async function command(id, action) {
    try {
      await api(`/api/robots/${encodeURIComponent(id)}/commands`, { method: "POST", body: { action }, headers: { "Idempotency-Key": crypto.randomUUID() } });
      toast(`${t("command_sent")}: ${t(action)} → ${id}`);
    } catch (e) { toast(`${t("command_failed")}: ${e.message}`, true); }
  }
  function merge(id, fields) {
    const r = { ...(robots.get(id) || { id }), ...fields };
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

// ---------------------------------------------------------------- orders
const STATUSES = ["placed", "cooking", "ready", "delivering", "delivered", "cancelled"];

function ordersView() {
  const orders = new Map();
  const cols = Object.fromEntries(STATUSES.map((st) => [st, h("ol", { class: "cards" })]));
  const board = h("div", { class: "board" }, STATUSES.map((st) =>
    h("section", { class: `col col-${st}`, "data-status": st }, h("h2", {}, t(`st_${st}`)), cols[st])));
  const form = h("form", { class: "order-form" });
  const el = h("section", { class: "orders-view" }, canWrite() ? form : null, board);
  if (canWrite()) buildOrderForm(form);

  let timer = null;
  function changed() { if (!timer) timer = setTimeout(render, 100); }
  function render() {
    timer = null;
    for (const c of Object.values(cols)) clear(c);
    const all = [...orders.values()].sort((a, b) => String(b.created_at || "").localeCompare(String(a.created_at || "")));
    for (const o of all) {
      const col = cols[o.status];
      if (!col || ((o.status === "delivered" || o.status === "cancelled") && col.children.length >= 20)) continue;
      const items = (o.items || []).map((i) => `${itemName(i)} ×${i.quantity}`).join(", ");
      col.append(h("li", { class: "card", "data-order": o.id, "data-status": o.status, "data-trail": (o.trail || []).join(",") },
        h("div", { class: "card-head" }, h("strong", {}, `${t("table")} ${o.table || "?"}`), h("span", { class: "oid" }, o.id.slice(-6))),
        items ? h("div", { class: "items" }, items) : null,
        h("div", { class: "card-foot" },
          o.total_minor != null ? h("span", {}, money(o.total_minor, o.currency)) : null,
          o.robot ? h("span", { class: "robot-tag" }, `${t("robot")} ${o.robot}`) : null,
          canWrite() && !["delivered", "cancelled", "delivering"].includes(o.status)
            ? h("button", { class: "small", onclick: () => act(o.id, "cancel") }, t("cancel_order")) : null,
          canWrite() && o.status === "delivering"
            ? h("button", { class: "small", onclick: () => act(o.id, "pickup") }, t("pickup")) : null)));
    }
  }
  async function act(id, what) {
    try { await api(`/api/orders/${encodeURIComponent(id)}/${what}`, { method: "POST" }); }
    catch (e) { toast(e.message, true); }
  }
  feed("/ws/orders", (f) => {
    if (f.type === "snapshot") {
      orders.clear(); // a snapshot is the whole board (only sent when `since` could not resume)
      for (const o of f.items || []) orders.set(o.id, { ...o, trail: (o.history || []).map((x) => x.status) });
    } else if (f.type === "order") {
      const o = { ...(orders.get(f.order) || { id: f.order }), ...(f.detail || {}) };
      o.status = f.status; o.table = f.table || o.table; o.robot = f.robot || o.robot;
      o.trail = [...(o.trail || []), f.status]; // every status seen, in order: shows gaps and repeats
      orders.set(f.order, o);
    } else return;
    changed();
  });
  return el;
}

function itemName(i) { return i.name; }

async function buildOrderForm(form) {
  let menu = [], tables = [];
  try {
    [menu, tables] = await Promise.all([api("/api/menu?limit=500").then((m) => m.items), api("/api/tables?limit=500").then((x) => x.items)]);
  } catch (e) { toast(e.message, true); }
  const qty = new Map();
  const table = h("select", { id: "order-table", "aria-label": t("table") }, tables.map((tb) => h("option", { value: tb.id }, `${t("table")} ${tb.name}`)));
  const total = h("strong", { class: "total" });
  const note = h("input", { id: "order-note", placeholder: t("note"), maxlength: 500 });
  const update = () => {
    let sum = 0;
    for (const m of menu) sum += (qty.get(m.id) || 0) * m.price_minor;
    total.textContent = `${t("total")}: ${money(sum)}`;
  };
  const list = h("ul", { class: "menu" }, menu.filter((m) => m.available).map((m) => {
    const input = h("input", { type: "number", min: 0, max: 99, value: 0, "aria-label": `${t("quantity")} ${m.name}`,
      "data-menu": m.name_en || m.name, oninput: () => { qty.set(m.id, Math.max(0, Math.min(99, Number(input.value) || 0))); update(); } });
    const primary = lang === "ko" ? m.name : (m.name_en || m.name);
    const secondary = lang === "ko" ? m.name_en : m.name;
    return h("li", {}, h("span", { class: "dish" }, primary, secondary && secondary !== primary ? h("small", {}, ` ${secondary}`) : null),
      h("span", { class: "price" }, money(m.price_minor, m.currency)), input);
  }));
  clear(form);
  form.append(h("h2", {}, t("new_order")), table, list, note, total, h("button", { type: "submit", class: "primary" }, t("place_order")));
  update();
  form.onsubmit = async (e) => {
    e.preventDefault();
    const items = [...qty].filter(([, q]) => q > 0).map(([id, q]) => ({ menu_item_id: id, quantity: q }));
    if (!items.length) { toast(t("empty_order"), true); return; }
    try {
      await api("/api/orders", { method: "POST", body: { table_id: Number(table.value), items, note: note.value }, headers: { "Idempotency-Key": crypto.randomUUID() } });
      toast(t("order_placed"));
      qty.clear();
      for (const i of list.querySelectorAll("input")) i.value = 0;
      note.value = "";
      update();
    } catch (ex) { toast(ex.message, true); }
  };
}

// ---------------------------------------------------------------- chat
function chatView() {
  const tabs = h("div", { class: "rooms", role: "tablist" });
  const log = h("ol", { class: "messages", "aria-live": "polite" });
  const people = h("ul", { class: "presence" });
  const input = h("input", { id: "chat-input", "aria-label": t("message"), placeholder: t("message"), maxlength: 2000, autocomplete: "off" });
  const form = h("form", { class: "chat-form" }, input, h("button", { type: "submit", class: "primary" }, t("send")));
  const el = h("section", { class: "chat-view" }, tabs, h("div", { class: "chat-body" }, log, h("aside", {}, h("h3", {}, t("online")), people)), form);
  let current = null, roomFeed = null;
  const seen = new Set();
  function join(room) {
    if (roomFeed) { roomFeed.stop(); feeds = feeds.filter((f) => f !== roomFeed); }
    current = room;
    for (const b of tabs.children) b.setAttribute("aria-selected", String(b.dataset.room === room.name));
    clear(log); clear(people); seen.clear();
    input.disabled = !room.can_post;
    input.placeholder = room.can_post ? t("message") : t("read_only");
    roomFeed = feed(`/ws/chat/${encodeURIComponent(room.name)}`, (f) => {
      if (f.type === "history") {
        if (!f.resumed) { clear(log); seen.clear(); }
        for (const m of f.messages) add(m);
      } else if (f.type === "message") add(f);
      else if (f.type === "presence") {
        clear(people);
        for (const u of f.users) people.append(h("li", {}, `${u.username} (${u.role})`));
      } else if (f.type === "error") toast(f.detail || f.code, true);
    });
  }
  function add(m) {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    log.append(h("li", { class: m.system ? "system" : "", "data-id": m.id },
      h("time", {}, clock(m.timestamp)), " ", h("b", {}, m.username), " ", h("span", { class: "content" }, m.content)));
    log.scrollTop = log.scrollHeight;
  }
  form.onsubmit = (e) => {
    e.preventDefault();
    const content = input.value.trim();
    if (!content || !roomFeed) return;
    if (roomFeed.send({ content })) input.value = "";
  };
  api("/api/chat/rooms").then(({ items }) => {
    for (const r of items) tabs.append(h("button", { role: "tab", "data-room": r.name, onclick: () => join(r) }, r.title));
    if (items.length) join(items[0]);
  }).catch((e) => toast(e.message, true));
  return el;
}

// ---------------------------------------------------------------- events
function eventsView() {
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
    if (f) { f.stop(); feeds = feeds.filter((x) => x !== f); }
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

// ---------------------------------------------------------------- todos
function todosView() {
  const todos = new Map();
  const list = h("ul", { class: "todos" });
  const title = h("input", { "aria-label": t("new_todo"), placeholder: t("new_todo"), maxlength: 200 });
  const form = h("form", { class: "todo-form" }, title, h("button", { type: "submit", class: "primary" }, t("add_todo")));
  const el = h("section", { class: "todos-view" }, canWrite() ? form : null, list);
  form.onsubmit = async (e) => {
    e.preventDefault();
    if (!title.value.trim()) return;
    try { await api("/api/todos", { method: "POST", body: { title: title.value.trim() } }); title.value = ""; }
    catch (ex) { toast(ex.message, true); }
  };
  function render() {
    clear(list);
    const all = [...todos.values()].sort((a, b) => (a.done - b.done) || (a.id - b.id));
    for (const td of all) {
      const box = h("input", { type: "checkbox", checked: td.done, disabled: !canWrite(), "aria-label": `${t("done")}: ${td.title}`,
        onchange: () => api(`/api/todos/${td.id}`, { method: "PATCH", body: { done: box.checked, version: td.version } }).catch((ex) => toast(ex.message, true)) });
      list.append(h("li", { class: td.done ? "done" : "" }, h("label", {}, box, " ", td.title),
        td.assignee ? h("small", {}, ` → ${td.assignee}`) : null,
        canWrite() ? h("button", { class: "small", onclick: () => api(`/api/todos/${td.id}`, { method: "DELETE" }).catch((ex) => toast(ex.message, true)) }, t("delete")) : null));
    }
    if (!all.length) list.append(h("li", { class: "empty" }, t("nothing")));
  }
  feed("/ws/todos", (f) => {
    if (f.type === "snapshot") { todos.clear(); for (const td of f.items) todos.set(td.id, td); }
    else if (f.type === "todo") { if (f.op === "deleted") todos.delete(f.todo.id); else todos.set(f.todo.id, f.todo); }
    else return;
    render();
  });
  return el;
}

// ---------------------------------------------------------------- start
onLogout(() => showLogin());
if (session()) showShell(); else showLogin();
