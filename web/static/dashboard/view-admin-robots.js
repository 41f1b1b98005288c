// The robots registry: add a robot (TCP, MQTT or VDA 5050); a TCP robot's key is shown once,
// to copy into the robot; edit, give a new key or remove a robot added here. Config robots
// are fixed.
import { api } from "./api.js";
import { h } from "./dom.js";
import { t, word } from "./i18n.js";
import { toast } from "./ui.js";
import { confirmAction, field, fillRows, openDialog } from "./admin-ui.js";
import { connectionWord, transportWord } from "./words.js";

/** The controls a robot's form carries (add and edit alike); `r` pre-fills them. */
function robotControls(r = null) {
  const name = h("input", { maxlength: 100, value: r ? r.name || "" : "" });
  const kind = h("select", {}, ["serving", "cooking"].map((k) => h("option", { value: k }, word("k", k))));
  const transport = h("select", {}, ["tcp", "mqtt", "vda5050"].map((tr) => h("option", { value: tr }, transportWord(tr))));
  const network = h("input", { maxlength: 128, autocomplete: "off", value: r ? r.network || "" : "" });
  const maker = h("input", { maxlength: 100, autocomplete: "off", value: r?.vda?.manufacturer || "" });
  const serial = h("input", { maxlength: 100, pattern: "[A-Za-z0-9_.:\\-]+", autocomplete: "off", value: r?.vda?.serial || "" });
  const version = h("select", {}, h("option", { value: "" }, t("vda_version_auto")),
    ["2.1.0", "2.0.0", "1.1.0"].map((v) => h("option", { value: v }, v)));
  const vdaBox = h("fieldset", { class: "vda", hidden: true }, h("legend", {}, t("vda_identity")),
    field("vda_manufacturer", maker), field("vda_serial", serial), field("vda_version", version));
  if (r) {
    kind.value = r.kind || "serving";
    transport.value = r.transport || "tcp";
    version.value = r.vda?.version || "";
  }
  const sync = () => {
    vdaBox.hidden = transport.value !== "vda5050";
    maker.required = serial.required = !vdaBox.hidden;
    if (!vdaBox.hidden) kind.value = "serving";
  };
  transport.onchange = sync;
  sync();
  const body = () => {
    const out = { kind: kind.value, name: name.value, network: network.value, transport: transport.value };
    out.vda = transport.value === "vda5050"
      ? { manufacturer: maker.value, serial: serial.value, version: version.value || null } : null;
    return out;
  };
  return { name, kind, transport, network, vdaBox, sync, body };
}

export function robotsAdmin() {
  const rows = h("tbody");
  const id = h("input", { required: true, maxlength: 64, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}", autocomplete: "off" });
  const c = robotControls();
  const { name, kind, transport, network, vdaBox } = c;
  const form = h("form", { class: "admin-form", "data-form": "robot", onsubmit: async (e) => {
    e.preventDefault();
    const body = { id: id.value, ...c.body() };
    if (!body.vda) delete body.vda;
    try {
      const made = await api("/api/robots", { method: "POST", body });
      form.reset();
      c.sync();
      showKey(made);
      load();
    } catch (ex) { toast(ex.message, true); }
  } }, h("h3", {}, t("add_robot")), field("robot_id", id), field("robot_name", name), field("kind", kind),
  field("transport", transport), field("network", network, t("network_hint")), vdaBox,
  h("button", { type: "submit", class: "primary" }, t("add")));
  const el = h("div", { class: "admin-robots" }, form,
    h("div", { class: "scroll" }, h("table", { class: "admin-table" },
      h("thead", {}, h("tr", {}, ["robot", "kind", "transport", "registered_in", "connection", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      rows)));

  const load = () => fillRows(rows, "/api/robots", row);
  function row(r) {
    const mine = r.source === "api";
    const vda = r.vda ? ` · ${r.vda.manufacturer}/${r.vda.serial}${r.vda.version ? ` ${r.vda.version}` : ""}` : "";
    return h("tr", { "data-robot": r.id },
      h("td", {}, r.name && r.name !== r.id ? `${r.name} (${r.id})` : r.id),
      h("td", {}, word("k", r.kind)), h("td", {}, `${transportWord(r.transport || "tcp")}${vda}`),
      h("td", {}, r.source ? t(`src_${r.source}`) : t("src_none")), h("td", {}, connectionWord(r.connection)),
      h("td", { class: "actions" },
        mine ? h("button", { type: "button", class: "small", "data-edit": r.id, onclick: () => edit(r) }, t("edit")) : null,
        mine && r.transport === "tcp" ? h("button", { type: "button", class: "small", onclick: () => rekey(r) }, t("new_key")) : null,
        mine ? h("button", { type: "button", class: "small danger", onclick: () => remove(r) }, t("delete")) : null));
  }
  function showKey(r) {
    if (!r.key) {
      toast(`${t("robot_added")}: ${r.id} · ${t("broker_login")}`);
      return;
    }
    const key = h("code", { class: "robot-key", "data-key": "" }, r.key);
    const copy = h("button", { type: "button", onclick: () => navigator.clipboard.writeText(r.key).then(() => toast(t("copied")), () => {}) }, t("copy"));
    openDialog(`${t("robot_key")}: ${r.id}`, h("div", { class: "stack" },
      h("p", { class: "warn" }, t("key_once")), key, h("div", { class: "actions" }, copy)));
  }
  function edit(r) {
    const e = robotControls(r);
    const save = h("button", { type: "submit", class: "primary" }, t("save"));
    const cancel = h("button", { type: "button", onclick: () => dlg.close() }, t("cancel"));
    const form = h("form", { class: "admin-form", "data-form": "robot-edit", onsubmit: async (ev) => {
      ev.preventDefault();
      save.disabled = true;
      try {
        const changed = await api(`/api/robots/${encodeURIComponent(r.id)}`, { method: "PATCH", body: e.body() });
        dlg.close();
        if (changed.key) showKey(changed);
        else toast(`${t("robot_saved")}: ${r.id}${changed.transport !== r.transport && changed.transport !== "tcp" ? ` · ${t("broker_login")}` : ""}`);
      } catch (ex) { toast(ex.message, true); save.disabled = false; return; }
      load();
    } }, field("robot_name", e.name), field("kind", e.kind), field("transport", e.transport),
    field("network", e.network, t("network_hint")), e.vdaBox,
    h("p", { class: "hint" }, t("robot_edit_hint")), h("div", { class: "actions" }, save, cancel));
    const dlg = openDialog(`${t("edit_robot")}: ${r.id}`, form);
    e.name.focus();
  }
  async function rekey(r) {
    if (!(await confirmAction(`${t("new_key")}: ${r.id}?`, t("new_key"), true))) return;
    try { showKey(await api(`/api/robots/${encodeURIComponent(r.id)}/key`, { method: "POST" })); }
    catch (e) { toast(e.message, true); }
  }
  async function remove(r) {
    if (!(await confirmAction(`${t("delete")}: ${r.id}?`, t("delete"), true))) return;
    try { await api(`/api/robots/${encodeURIComponent(r.id)}`, { method: "DELETE" }); toast(`${t("removed")}: ${r.id}`); }
    catch (e) { toast(e.message, true); }
    load();
  }
  load();
  return el;
}
