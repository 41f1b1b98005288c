// The order board (a column per status, a dish's photo on its card) and, for staff, the order form.
import { api, canWrite, contentSrc, session } from "./api.js";
import { clear, h } from "./dom.js";
import { addStrings, ago, clock, lang, money, t, tf } from "./i18n.js";
import { problemText } from "./problems.js";
import { followRestaurant } from "./restaurant.js";
import { feed, toast } from "./ui.js";
import { loadRobotNames, noteOrder, robotName } from "./words.js";

addStrings({
  cancel_confirm: ["Cancel this order?", "이 주문을 취소할까요?"],
  cancel_yes: ["Yes, cancel", "예, 취소"],
  cancel_no: ["No", "아니요"],
  qty_whole: ["a whole number of portions", "수량은 정수로 입력하세요"],
  qty_max: ["at most {n} portions", "최대 {n}개까지 주문할 수 있습니다"],
  qty_stock: ["only {n} left", "{n}개만 남았습니다"],
  sold_out: ["sold out", "품절"],
  stock_left: ["{n} left", "{n}개 남음"],
});

const STATUSES = ["placed", "cooking", "ready", "delivering", "delivered", "cancelled"];
const FINISHED = ["delivered", "cancelled"];
const MAX_QTY = 99; // the API's bound on one line
const CONFIRM_MS = 6000; // how long "cancel this order?" waits for its answer

export function ordersView() {
  const orders = new Map();
  const menu = new Map(); // menu item id -> the item (names in both languages, photo, stock)
  const cols = Object.fromEntries(STATUSES.map((st) => [st, h("ol", { class: "cards" })]));
  const board = h("div", { class: "board" }, STATUSES.map((st) =>
    h("section", { class: `col col-${st}`, "data-status": st }, h("h2", {}, t(`st_${st}`)), cols[st])));
  const form = h("form", { class: "order-form", novalidate: true });
  // A viewer (a kitchen or hall display) has no form: the board takes the whole width.
  const el = h("section", { class: `orders-view${canWrite() ? " with-form" : ""}` }, canWrite() ? form : null, board);
  const confirming = new Map(); // order id -> timer: its cancel button asks first
  let orderForm = null;

  function loadMenu() {
    return api("/api/menu?limit=500").then((m) => {
      menu.clear();
      for (const i of m.items) menu.set(i.id, i);
      changed();
      if (orderForm) orderForm.menuChanged();
    });
  }
  loadRobotNames().then(changed);
  loadMenu().then(() => { if (canWrite()) orderForm = buildOrderForm(form, menu, loadMenu); })
    .catch((e) => toast(problemText(e), true));
  followRestaurant(["menu_item", "inventory"], () => loadMenu().catch(() => {})); // live prices, availability, stock
  let menuTimer = null; // others' orders take stock too: re-read the menu now and then
  function menuSoon() { if (!menuTimer) menuTimer = setTimeout(() => { menuTimer = null; loadMenu().catch(() => {}); }, 1000); }

  function photoOf(o) {
    const line = (o.items || []).find((i) => menu.get(i.menu_item_id)?.photo);
    if (!line) return null;
    const s = session(); // an <img> cannot send the Authorization header
    return h("img", { class: "photo", alt: dishName(line, menu), loading: "lazy",
      src: `${menu.get(line.menu_item_id).photo}?token=${encodeURIComponent(s ? s.token : "")}` });
  }

  let timer = null;
  function changed() { if (!timer) timer = setTimeout(render, 100); }
  const ageTimer = setInterval(() => { if (el.isConnected) changed(); else clearInterval(ageTimer); }, 30000);
  function render() {
    timer = null;
    for (const c of Object.values(cols)) clear(c);
    const all = [...orders.values()].sort((a, b) => String(b.created_at || "").localeCompare(String(a.created_at || "")));
    for (const o of all) {
      const col = cols[o.status];
      if (!col || (FINISHED.includes(o.status) && col.children.length >= 20)) continue;
      const items = (o.items || []).map((i) => `${dishName(i, menu)} ×${i.quantity}`).join(", ");
      const open = !FINISHED.includes(o.status);
      col.append(h("li", { class: "card", "data-order": o.id, "data-status": o.status, "data-trail": (o.trail || []).join(",") },
        photoOf(o),
        h("div", { class: "card-head" }, h("strong", {}, `${t("table")} ${o.table || "?"}`), h("span", { class: "oid" }, o.id.slice(-6))),
        o.created_at ? h("div", { class: "placed-at" }, h("time", { datetime: o.created_at }, clock(o.created_at).slice(0, 5)),
          open ? h("span", { class: "age" }, ` · ${ago(o.created_at)}`) : null) : null,
        items ? h("div", { class: "items" }, items) : null,
        o.note ? h("div", { class: "note" }, h("b", {}, `${t("note")}: `), o.note) : null,
        h("div", { class: "card-foot" },
          o.total_minor != null ? h("span", {}, money(o.total_minor, o.currency)) : null,
          o.robot ? h("span", { class: "robot-tag" }, `${t("robot")} ${robotName(o.robot)}`) : null,
          canWrite() && !["delivered", "cancelled", "delivering"].includes(o.status) ? cancelButtons(o) : null,
          canWrite() && o.status === "delivering"
            ? h("button", { class: "small", onclick: () => act(o.id, "pickup") }, t("pickup")) : null)));
    }
  }
  function cancelButtons(o) {
    if (!confirming.has(o.id)) {
      return h("button", { class: "small", "data-act": "cancel", onclick: () => {
        confirming.set(o.id, setTimeout(() => { confirming.delete(o.id); changed(); }, CONFIRM_MS));
        render();
        el.querySelector(`.card[data-order="${o.id}"] button[data-act="cancel-no"]`)?.focus();
      } }, t("cancel_order"));
    }
    const done = () => { clearTimeout(confirming.get(o.id)); confirming.delete(o.id); };
    return h("span", { class: "confirm", role: "group", "aria-label": t("cancel_order") },
      h("span", {}, t("cancel_confirm")),
      h("button", { class: "small danger", "data-act": "cancel-yes", onclick: () => { done(); act(o.id, "cancel"); render(); } }, t("cancel_yes")),
      h("button", { class: "small", "data-act": "cancel-no", onclick: () => { done(); render(); } }, t("cancel_no")));
  }
  async function act(id, what) {
    try { await api(`/api/orders/${encodeURIComponent(id)}/${what}`, { method: "POST" }); }
    catch (e) { toast(problemText(e), true); }
  }
  feed("/ws/orders", (f) => {
    if (f.type === "snapshot") {
      orders.clear(); // a snapshot is the whole board (only sent when `since` could not resume)
      for (const o of f.items || []) { orders.set(o.id, { ...o, trail: (o.history || []).map((x) => x.status) }); noteOrder(o); }
    } else if (f.type === "order") {
      const o = { ...(orders.get(f.order) || { id: f.order }), ...(f.detail || {}) };
      o.status = f.status; o.table = f.table || o.table; o.robot = f.robot || o.robot;
      o.trail = [...(o.trail || []), f.status]; // every status seen, in order: shows gaps and repeats
      orders.set(f.order, o);
      noteOrder(o);
      if (f.status === "placed" || f.status === "cancelled") menuSoon();
    } else return;
    changed();
  });
  return el;
}

/** A dish in the page's language: lines keep the (Korean) name they were ordered under. */
function dishName(line, menu) {
  const m = menu.get(line.menu_item_id);
  return lang === "ko" || !m ? line.name : (m.name_en || line.name);
}

/** How many portions may be ordered: the stock when it is counted, at most MAX_QTY. */
function maxOf(m) { return m.stock == null ? MAX_QTY : Math.max(0, Math.min(MAX_QTY, m.stock)); }

/** A quantity field's value: a whole number from 0 to `max`, or an error message. */
function quantity(raw, max) {
  const s = String(raw).trim();
  if (s === "") return { n: 0 };
  if (!/^\d+$/.test(s)) return { error: t("qty_whole") };
  const n = Number(s);
  if (n > max) return { error: max < MAX_QTY ? tf("qty_stock", { n: max }) : tf("qty_max", { n: max }) };
  return { n };
}

function buildOrderForm(form, menu, reloadMenu) {
  const rows = new Map(); // menu item id -> {input, stockEl, li}
  const table = h("select", { id: "order-table", "aria-label": t("table") });
  const total = h("strong", { class: "total" });
  const problem = h("p", { class: "form-error", role: "alert" });
  const note = h("input", { id: "order-note", placeholder: t("note"), "aria-label": t("note"), maxlength: 500 });
  const list = h("ul", { class: "menu" });
  api("/api/tables?limit=500").then((x) => {
    for (const tb of x.items.filter((tb) => tb.active)) table.append(h("option", { value: tb.id }, `${t("table")} ${tb.name}`));
  }).catch((e) => toast(problemText(e), true));

  /** Every line, checked: {items, sum} or {error}; marks the fields that are wrong. */
  function check() {
    const items = [];
    let sum = 0, error = "";
    for (const [id, row] of rows) {
      const m = menu.get(id);
      const q = quantity(row.input.value, maxOf(m));
      row.input.setCustomValidity(q.error || "");
      row.li.classList.toggle("invalid", !!q.error);
      if (q.error) { error = error || `${dishLabel(m)}: ${q.error}`; continue; }
      if (q.n > 0) { items.push({ menu_item_id: id, quantity: q.n }); sum += q.n * m.price_minor; }
    }
    return error ? { error } : { items, sum };
  }
  function update() {
    const c = check();
    total.textContent = `${t("total")}: ${c.error ? "—" : money(c.sum)}`; // never a total of what cannot be ordered
    problem.textContent = c.error || "";
    return c;
  }
  function dishLabel(m) { return lang === "ko" ? m.name : (m.name_en || m.name); }
  function stockText(m) {
    if (m.stock == null) return "";
    if (m.stock <= 0) return t("sold_out");
    return tf("stock_left", { n: m.stock });
  }
  function drawMenu() {
    clear(list);
    rows.clear();
    for (const m of [...menu.values()].filter((m) => m.available)) {
      const out = m.stock != null && m.stock <= 0;
      const input = h("input", { type: "number", inputmode: "numeric", min: 0, max: maxOf(m), step: 1, value: 0,
        "aria-label": `${t("quantity")} ${dishLabel(m)}`, "data-menu": m.name_en || m.name, disabled: out, oninput: update });
      const stockEl = h("small", { class: `stock${m.low_stock ? " low" : ""}`, "data-stock": m.stock ?? "" }, stockText(m));
      const priceEl = h("span", { class: "amount" }, money(m.price_minor, m.currency));
      const secondary = lang === "ko" ? m.name_en : m.name;
      const li = h("li", { class: out ? "out" : "", "data-item": m.id },
        h("span", { class: "dish" }, m.photo ? h("img", { class: "thumb", src: contentSrc(m.photo), alt: dishLabel(m), loading: "lazy", width: 32, height: 32 }) : null,
          dishLabel(m), secondary && secondary !== dishLabel(m) ? h("small", {}, ` ${secondary}`) : null),
        h("span", { class: "price" }, priceEl, " ", stockEl), input);
      rows.set(m.id, { input, stockEl, priceEl, li, photo: m.photo || null });
      list.append(li);
    }
  }
  form.append(h("h2", {}, t("new_order")), table, list, note, total, problem, h("button", { type: "submit", class: "primary" }, t("place_order")));
  drawMenu();
  update();
  form.onsubmit = async (e) => {
    e.preventDefault();
    const c = update();
    if (c.error) { toast(c.error, true); return; }
    if (!c.items.length) { toast(t("empty_order"), true); return; }
    try {
      await api("/api/orders", { method: "POST", body: { table_id: Number(table.value), items: c.items, note: note.value }, headers: { "Idempotency-Key": crypto.randomUUID() } });
      toast(t("order_placed"));
      for (const row of rows.values()) row.input.value = 0;
      note.value = "";
      update();
      reloadMenu().catch(() => {});
    } catch (ex) {
      const p = ex.problem || {};
      const m = menu.get(p.menu_item_id); // the dish in the page's language, not as stored
      toast(problemText(m ? { ...p, item: dishLabel(m), short_of: p.short_of === p.item ? dishLabel(m) : p.short_of } : ex), true);
      if (ex.problem?.code === "out_of_stock") reloadMenu().catch(() => {});
    }
  };
  return {
    /** The menu was re-read: new stock figures in place (what is typed and the focus stay). */
    menuChanged() {
      const ids = [...menu.values()].filter((m) => m.available).map((m) => m.id);
      if (ids.length !== rows.size || ids.some((id) => !rows.has(id) || rows.get(id).photo !== (menu.get(id).photo || null))) {
        const typed = new Map([...rows].map(([id, r]) => [id, r.input.value]));
        drawMenu();
        for (const [id, v] of typed) if (rows.has(id) && !rows.get(id).input.disabled) rows.get(id).input.value = v;
      } else {
        for (const [id, row] of rows) {
          const m = menu.get(id);
          const out = m.stock != null && m.stock <= 0;
          row.input.max = maxOf(m);
          row.input.disabled = out;
          if (out) row.input.value = 0;
          row.li.classList.toggle("out", out);
          row.stockEl.textContent = stockText(m);
          row.priceEl.textContent = money(m.price_minor, m.currency); // an admin's new price
          row.stockEl.dataset.stock = m.stock ?? "";
          row.stockEl.classList.toggle("low", !!m.low_stock);
        }
      }
      update();
    },
  };
}
