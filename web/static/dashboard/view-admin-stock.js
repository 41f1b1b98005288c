// Stock: counts and low-stock thresholds of ready-made items and ingredients; what is low first.
// A new row counts an ingredient (with the dishes that use it) or a ready-made dish.
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { lang, t } from "./i18n.js";
import { toast } from "./ui.js";
import { field, fillRows, send } from "./admin-ui.js";

function addForm(reload) {
  const what = h("select", {});
  const ingredient = h("input", { pattern: "[a-z0-9][a-z0-9_\\-]{0,63}", maxlength: 64, autocomplete: "off" });
  const unit = h("input", { maxlength: 16, value: "portion", required: true });
  const stock = h("input", { type: "number", min: 0, value: 0, required: true });
  const low = h("input", { type: "number", min: 0, value: 0, required: true });
  const usedBy = h("select", { multiple: true, size: 5 });
  const amount = h("input", { type: "number", min: 1, value: 1, required: true });
  const ingredientBox = h("fieldset", { class: "ingredient" }, h("legend", {}, t("ingredient_new")),
    field("ingredient_name", ingredient, t("ingredient_hint")), field("used_by", usedBy, t("used_by_hint")),
    field("amount_per_portion", amount));
  const sync = () => {
    ingredientBox.hidden = what.value !== "";
    ingredient.required = !ingredientBox.hidden;
  };
  what.onchange = sync;
  const dish = (m) => (lang === "ko" ? m.name : (m.name_en || m.name));
  async function fill() {
    let menu, inv;
    try { [menu, inv] = await Promise.all([api("/api/menu?limit=500"), api("/api/inventory?limit=500")]); }
    catch (e) { toast(e.message, true); return; }
    const counted = new Set(inv.items.map((i) => i.menu_item_id).filter((x) => x != null));
    clear(what);
    what.append(h("option", { value: "" }, t("ingredient_new")));
    for (const m of menu.items.filter((m) => !counted.has(m.id))) what.append(h("option", { value: String(m.id) }, dish(m)));
    clear(usedBy);
    for (const m of menu.items) usedBy.append(h("option", { value: String(m.id) }, dish(m)));
    sync();
  }
  const form = h("form", { class: "admin-form", "data-form": "stock", onsubmit: async (e) => {
    e.preventDefault();
    const body = { stock: Number(stock.value), low_stock: Number(low.value), unit: unit.value };
    if (what.value) body.menu_item_id = Number(what.value);
    else {
      body.ingredient = ingredient.value;
      body.used_by = [...usedBy.selectedOptions].map((o) => ({ menu_item_id: Number(o.value), amount: Number(amount.value) }));
    }
    try {
      const made = await api("/api/inventory", { method: "POST", body });
      form.reset();
      await fill(); // the new row's dish leaves the list before anyone picks again
      toast(`${t("stock_added")}: ${made.name}`);
      reload();
    } catch (ex) { toast(ex.message, true); }
  } }, h("h3", {}, t("add_stock")), field("stock_counts", what), ingredientBox, field("unit", unit),
  field("stock", stock), field("low_stock", low), h("button", { type: "submit", class: "primary" }, t("add")));
  fill();
  return form;
}

export function stockAdmin() {
  const rows = h("tbody");
  const lowOnly = h("input", { type: "checkbox", id: "stock-low-only", onchange: () => load() });
  const el = h("div", { class: "admin-stock" }, addForm(() => load()),
    h("div", {}, h("label", { class: "check" }, lowOnly, " ", t("low_only")),
      h("div", { class: "scroll" }, h("table", { class: "admin-table" },
        h("thead", {}, h("tr", {}, ["stock_item", "stock", "low_stock", "unit", ""].map((k) => h("th", {}, k ? t(k) : "")))),
        rows))));

  const load = () => fillRows(rows, `/api/inventory?limit=500${lowOnly.checked ? "&low=true" : ""}`, row,
    (a, b) => (b.low - a.low) || a.name.localeCompare(b.name));
  function row(i) {
    const count = h("input", { type: "number", min: 0, value: i.stock, "aria-label": `${t("stock")}: ${i.name}` });
    const low = h("input", { type: "number", min: 0, value: i.low_stock, "aria-label": `${t("low_stock")}: ${i.name}` });
    const save = h("button", { type: "button", class: "small", onclick: () => patch(i, { stock: Number(count.value), low_stock: Number(low.value) }) }, t("save"));
    for (const inp of [count, low]) inp.onkeydown = (e) => { if (e.key === "Enter") { e.preventDefault(); save.click(); } };
    return h("tr", { "data-stock": i.id, class: i.low ? "low" : "" },
      h("td", {}, i.name, i.ingredient ? h("small", {}, ` ${t("ingredient")}`) : null),
      h("td", {}, count, i.low ? h("span", { class: "badge low" }, t("low")) : null), h("td", {}, low), h("td", {}, i.unit),
      h("td", { class: "actions" }, save));
  }
  async function patch(i, body) {
    await send(`/api/inventory/${i.id}`, body, `${t("saved")}: ${i.name}`);
    load();
  }
  load();
  return el;
}
