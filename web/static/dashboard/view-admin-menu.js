// The menu: add a dish, change its price (whole won) and names, mark it available or not, give
// it a photo (uploaded with its progress shown) or take the photo away.
import { api, contentSrc, uploadFile } from "./api.js";
import { h } from "./dom.js";
import { lang, money, t } from "./i18n.js";
import { problemText } from "./problems.js";
import { toast } from "./ui.js";
import { field, fillRows, send } from "./admin-ui.js";

/** A price typed as people write it ("12,000", "12000원") as whole won, or null. */
export function parseWon(text) {
  const digits = String(text).replace(/[\s,원₩]/g, "");
  return /^\d{1,9}$/.test(digits) ? Number(digits) : null;
}

function wonInput(value) {
  return h("input", { inputmode: "numeric", value: value == null ? "" : String(value), size: 8, autocomplete: "off" });
}

export function menuAdmin() {
  const rows = h("tbody");
  const name = h("input", { required: true, maxlength: 100 });
  const nameEn = h("input", { maxlength: 100 });
  const category = h("input", { required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,31}", value: "mains" });
  const price = wonInput("");
  const recipe = h("input", { pattern: "[a-z0-9][a-z0-9_\\-]{0,63}" });
  const form = h("form", { class: "admin-form", "data-form": "menu", onsubmit: async (e) => {
    e.preventDefault();
    const won = parseWon(price.value);
    if (won === null) { toast(t("price_invalid"), true); price.focus(); return; }
    const body = { name: name.value, name_en: nameEn.value, category: category.value, price_minor: won,
      robot_cooked: !!recipe.value, recipe: recipe.value || null };
    try { await api("/api/menu", { method: "POST", body }); toast(`${t("dish_added")}: ${name.value}`); form.reset(); load(); }
    catch (ex) { toast(ex.message, true); }
  } }, h("h3", {}, t("add_dish")), field("dish_name_ko", name), field("dish_name_en", nameEn),
  field("category", category, t("category_hint")), field("price_won", price), field("recipe", recipe, t("recipe_hint")),
  h("button", { type: "submit", class: "primary" }, t("add")));
  const el = h("div", { class: "admin-menu" }, form,
    h("div", { class: "scroll" }, h("table", { class: "admin-table" },
      h("thead", {}, h("tr", {}, ["photo", "dish", "category", "price_won", "stock", "available", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      rows)));

  const load = () => fillRows(rows, "/api/menu?limit=500", row);
  function row(m) {
    const p = wonInput(m.price_minor);
    p.setAttribute("aria-label", `${t("price_won")}: ${m.name}`);
    const avail = h("input", { type: "checkbox", checked: m.available, "aria-label": `${t("available")}: ${m.name}`,
      onchange: () => patch(m, { available: avail.checked }) });
    const save = h("button", { type: "button", class: "small", onclick: () => {
      const won = parseWon(p.value);
      if (won === null) { toast(t("price_invalid"), true); p.focus(); return; }
      patch(m, { price_minor: won });
    } }, t("save"));
    p.onkeydown = (e) => { if (e.key === "Enter") { e.preventDefault(); save.click(); } };
    const primary = lang === "ko" ? m.name : (m.name_en || m.name);
    const secondary = lang === "ko" ? m.name_en : m.name;
    return h("tr", { "data-menu": m.id, class: m.available ? "" : "unavailable" },
      h("td", { class: "photo-cell" }, photoControls(m, primary)),
      h("td", {}, primary, secondary && secondary !== primary ? h("small", {}, ` ${secondary}`) : null),
      h("td", {}, m.category), h("td", { class: "price" }, p, h("small", { class: "won" }, money(m.price_minor, m.currency))),
      h("td", {}, m.stock == null ? t("not_counted") : String(m.stock), m.low_stock ? h("span", { class: "badge low" }, t("low")) : null),
      h("td", {}, avail), h("td", { class: "actions" }, save));
  }
  function photoControls(m, label) {
    const status = h("small", { class: "photo-status", role: "status", "aria-live": "polite" });
    const bar = h("progress", { max: 100, value: 0, hidden: true, "aria-label": `${t("photo_uploading")}: ${label}` });
    const file = h("input", { type: "file", accept: "image/*", hidden: true, onchange: () => {
      const chosen = file.files[0];
      file.value = "";
      if (chosen) upload(chosen);
    } });
    const thumb = m.photo
      ? h("img", { class: "thumb", src: contentSrc(m.photo), alt: label, loading: "lazy", width: 48, height: 48 })
      : null;
    const pick = h("button", { type: "button", class: "small", "data-photo": "pick", "aria-label": `${t(m.photo ? "photo_change" : "photo_pick")}: ${label}`,
      onclick: () => file.click() }, t(m.photo ? "photo_change" : "photo_pick"));
    const remove = m.photo ? h("button", { type: "button", class: "small", "data-photo": "remove", "aria-label": `${t("photo_remove")}: ${label}`,
      onclick: () => patch(m, { photo_upload_id: null }, t("photo_removed")) }, t("photo_remove")) : null;
    function fail(text) {
      bar.hidden = true;
      status.textContent = text;
      status.className = "photo-status error";
      pick.disabled = false;
      toast(`${label}: ${text}`, true);
    }
    async function upload(chosen) {
      if (!chosen.type.startsWith("image/")) { fail(t("photo_not_image")); return; }
      pick.disabled = true;
      bar.hidden = false;
      bar.value = 0;
      status.className = "photo-status";
      status.textContent = t("photo_uploading");
      let up;
      try {
        up = await uploadFile(chosen, (f) => { bar.value = Math.round(f * 100); status.textContent = `${t("photo_uploading")} ${Math.round(f * 100)}%`; });
      } catch (e) {
        const code = e.problem?.code;
        if (e.status === 413 || code === "upload_too_large") fail(t("photo_too_large"));
        else if (e.status === 415 || code === "unsupported_media_type") fail(t("photo_not_image"));
        else if (e.status === 0) fail(t("photo_failed"));
        else fail(problemText(e));
        return;
      }
      try { await api(`/api/menu/${m.id}`, { method: "PATCH", body: { photo_upload_id: up.id } }); }
      catch (e) { fail(e.status === 422 ? t("photo_not_image") : problemText(e)); return; }
      toast(`${t("photo_saved")}: ${label}`);
      load();
    }
    return h("div", { class: "photo-box" }, thumb, h("div", { class: "photo-actions" }, pick, remove, file), bar, status);
  }
  async function patch(m, body, done = null) {
    await send(`/api/menu/${m.id}`, body, `${done || t("saved")}: ${m.name}`);
    load();
  }
  load();
  return el;
}
