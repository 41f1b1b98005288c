// Users: add one with a role, change a role, reset a password, disable or enable.
import { api, session } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { toast } from "./ui.js";
import { confirmAction, field, fillRows, openDialog, send, when } from "./admin-ui.js";
import { roleWord } from "./words.js";

const ROLES = ["admin", "staff", "viewer"];

function roleSelect(value) {
  return h("select", {}, ROLES.map((r) => h("option", { value: r, selected: r === value }, roleWord(r))));
}

export function usersAdmin() {
  const rows = h("tbody");
  const name = h("input", { required: true, maxlength: 32, pattern: "[a-z0-9][a-z0-9._\\-]{0,31}", autocomplete: "off" });
  const pass = h("input", { type: "password", required: true, minlength: 8, autocomplete: "new-password" });
  const role = roleSelect("staff");
  const form = h("form", { class: "admin-form", "data-form": "user", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("/api/users", { method: "POST", body: { username: name.value, password: pass.value, role: role.value } });
      toast(`${t("user_added")}: ${name.value}`);
      name.value = pass.value = "";
      load();
    } catch (ex) { toast(ex.message, true); }
  } }, h("h3", {}, t("add_user")), field("username", name, t("username_hint")), field("password", pass),
  field("role", role), h("button", { type: "submit", class: "primary" }, t("add")));
  const el = h("div", { class: "admin-users" }, form,
    h("div", { class: "scroll" }, h("table", { class: "admin-table" },
      h("thead", {}, h("tr", {}, ["username", "role", "user_state", "created", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      rows)));

  const load = () => fillRows(rows, "/api/users", row);
  function row(u) {
    const me = session() && session().username === u.username;
    const sel = roleSelect(u.role);
    sel.setAttribute("aria-label", `${t("role")}: ${u.username}`);
    sel.onchange = () => patch(u, { role: sel.value }, `${t("role_changed")}: ${u.username}`);
    return h("tr", { "data-user": u.username, class: u.disabled ? "disabled" : "" },
      h("td", {}, u.username), h("td", {}, sel),
      h("td", {}, u.disabled ? t("user_disabled") : t("user_active")), h("td", {}, when(u.created_at)),
      h("td", { class: "actions" },
        h("button", { type: "button", class: "small", onclick: () => resetPassword(u) }, t("reset_password")),
        h("button", { type: "button", class: `small${u.disabled ? "" : " danger"}`, disabled: me,
          onclick: () => toggle(u) }, u.disabled ? t("enable") : t("disable"))));
  }
  async function patch(u, body, done) {
    await send(`/api/users/${encodeURIComponent(u.username)}`, body, done);
    load();
  }
  async function toggle(u) {
    if (!u.disabled && !(await confirmAction(`${t("disable")}: ${u.username}?`, t("disable"), true))) return;
    patch(u, { disabled: !u.disabled }, `${u.disabled ? t("enable") : t("disable")}: ${u.username}`);
  }
  function resetPassword(u) {
    const input = h("input", { type: "password", required: true, minlength: 8, autocomplete: "new-password" });
    const dlg = openDialog(`${t("reset_password")}: ${u.username}`, h("form", { class: "stack", onsubmit: async (e) => {
      e.preventDefault();
      await patch(u, { password: input.value }, `${t("password_reset")}: ${u.username}`);
      dlg.close();
    } }, field("new_password", input, t("password_hint")), h("button", { type: "submit", class: "primary" }, t("save"))));
    input.focus();
  }
  load();
  return el;
}
