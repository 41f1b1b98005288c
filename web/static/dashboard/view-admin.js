// The manager's screens (admin only): users, menu, tables and floor plan, stock, robots,
// settings; one module each, made when first opened. The section is kept in #admin?section=.
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { hashState, setHashParams } from "./route.js";
import { menuAdmin } from "./view-admin-menu.js";
import { robotsAdmin } from "./view-admin-robots.js";
import { settingsAdmin } from "./view-admin-settings.js";
import { stockAdmin } from "./view-admin-stock.js";
import { tablesAdmin } from "./view-admin-tables.js";
import { usersAdmin } from "./view-admin-users.js";

const SECTIONS = { users: usersAdmin, menu: menuAdmin, tables: tablesAdmin, stock: stockAdmin,
  robots: robotsAdmin, settings: settingsAdmin };

export function adminView() {
  const body = h("div", { class: "admin-body" });
  const nav = h("div", { class: "admin-nav", role: "tablist", "aria-label": t("admin") },
    Object.keys(SECTIONS).map((name) => h("button", { type: "button", role: "tab", id: `admin-${name}`,
      "aria-controls": "admin-panel", onclick: () => show(name), onkeydown: arrows }, t(`adm_${name}`))));
  const panel = h("div", { id: "admin-panel", role: "tabpanel" }, body);
  const el = h("section", { class: "admin-view" }, nav, panel);
  const made = new Map();

  function show(name) {
    if (!SECTIONS[name]) name = "users";
    for (const b of nav.children) {
      const on = b.id === `admin-${name}`;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    panel.setAttribute("aria-labelledby", `admin-${name}`);
    if (!made.has(name)) made.set(name, SECTIONS[name]());
    clear(body);
    body.append(made.get(name));
    if (hashState().tab === "admin") setHashParams("admin", { section: name });
  }
  /** Left and right arrows move between the sections, as in any tab list. */
  function arrows(e) {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const tabs = [...nav.children];
    const i = tabs.indexOf(e.currentTarget) + (e.key === "ArrowRight" ? 1 : -1);
    const next = tabs[(i + tabs.length) % tabs.length];
    next.focus();
    next.click();
  }
  const p = hashState();
  show(p.tab === "admin" ? p.params.get("section") || "users" : "users");
  return el;
}
