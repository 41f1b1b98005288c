// The settings an admin may change while the box runs (GET/PATCH /api/settings).
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { toast } from "./ui.js";
import { field, when } from "./admin-ui.js";

// How each setting is shown: seconds as minutes for people.
const SHOWN = {
  "alarms.escalate_after_s": { label: "set_escalate_after", scale: 60, unit: "minutes" },
  "alarms.escalate_room": { label: "set_escalate_room" },
  "alarms.battery_below": { label: "set_battery_below", scale: 1, unit: "percent" },
};

export function settingsAdmin() {
  const form = h("form", { class: "admin-form settings", "data-form": "settings" });
  const el = h("div", { class: "admin-settings" }, h("p", { class: "hint" }, t("settings_hint")), form);
  let items = [];

  async function load() {
    try { items = (await api("/api/settings")).items; } catch (e) { toast(e.message, true); return; }
    clear(form);
    const inputs = new Map();
    for (const s of items) {
      const how = SHOWN[s.key] || { label: s.key };
      let input;
      if (s.choices) {
        input = h("select", { "data-setting": s.key }, s.choices.map((c) => h("option", { value: c, selected: c === s.value }, t(`room_${c}`))));
      } else {
        const scale = how.scale || 1;
        input = h("input", { type: "number", "data-setting": s.key, step: "any", value: +(s.value / scale).toFixed(2),
          min: s.minimum != null ? s.minimum / scale : undefined, max: s.maximum != null ? s.maximum / scale : undefined });
      }
      inputs.set(s.key, input);
      const from = s.updated_by ? `${t("set_by")} ${s.updated_by} · ${when(s.updated_at)}` : t("from_file");
      const unit = how.unit ? ` (${t(how.unit)})` : "";
      const reset = s.updated_by ? h("button", { type: "button", class: "small", onclick: () => send({ [s.key]: null }) }, t("reset_default")) : null;
      form.append(h("div", { class: "setting" }, field(how.label, input, `${from}${unit}`), reset));
    }
    form.append(h("button", { type: "submit", class: "primary" }, t("save")));
    form.onsubmit = (e) => {
      e.preventDefault();
      const body = {};
      for (const s of items) {
        const input = inputs.get(s.key);
        const how = SHOWN[s.key] || {};
        const value = s.choices ? input.value : Number(input.value) * (how.scale || 1);
        if (value !== s.value) body[s.key] = value;
      }
      send(body);
    };
  }
  async function send(body) {
    if (!Object.keys(body).length) return;
    try { await api("/api/settings", { method: "PATCH", body }); toast(t("saved")); }
    catch (e) { toast(e.message, true); }
    load();
  }
  load();
  return el;
}
