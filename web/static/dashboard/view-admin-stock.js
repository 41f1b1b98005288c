// Stock: counts and low-stock thresholds of ready-made items and ingredients; what is low first.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { fillRows, send } from "./admin-ui.js";

export function stockAdmin() {
  const rows = h("tbody");
  const lowOnly = h("input", { type: "checkbox", id: "stock-low-only", onchange: () => load() });
  const el = h("div", { class: "admin-stock" },
    h("label", { class: "check" }, lowOnly, " ", t("low_only")),
    h("div", { class: "scroll" }, h("table", { class: "admin-table" },
      h("thead", {}, h("tr", {}, ["stock_item", "stock", "low_stock", "unit", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      rows)));

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
