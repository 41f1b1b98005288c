// The order board (a column per status, a dish's photo on its card) and, for staff, the order form.
import { api, canWrite, session } from "./api.js";
import { clear, h } from "./dom.js";
import { lang, money, t } from "./i18n.js";
import { followRestaurant } from "./restaurant.js";
import { feed, toast } from "./ui.js";

const STATUSES = ["placed", "cooking", "ready", "delivering", "delivered", "cancelled"];

export function ordersView() {
  const orders = new Map();
  const cols = Object.fromEntries(STATUSES.map((st) => [st, h("ol", { class: "cards" })]));
  const board = h("div", { class: "board" }, STATUSES.map((st) =>
    h("section", { class: `col col-${st}`, "data-status": st }, h("h2", {}, t(`st_${st}`)), cols[st])));
  const form = h("form", { class: "order-form" });
  const el = h("section", { class: "orders-view" }, canWrite() ? form : null, board);
  if (canWrite()) {
    buildOrderForm(form);
    followRestaurant(["menu_item", "table"], () => buildOrderForm(form)); // live prices, availability, tables
  }
  const photos = new Map(); // menu item id -> its photo's content URL
  api("/api/menu?limit=500").then((m) => {
    for (const i of m.items) if (i.photo) photos.set(i.id, i.photo);
    changed();
  }).catch(() => {});
  function photoOf(o) {
    const line = (o.items || []).find((i) => photos.has(i.menu_item_id));
    if (!line) return null;
    const s = session(); // an <img> cannot send the Authorization header
    return h("img", { class: "photo", alt: line.name, loading: "lazy",
      src: `${photos.get(line.menu_item_id)}?token=${encodeURIComponent(s ? s.token : "")}` });
  }

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
        photoOf(o),
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
