// What the manager's screens share: a modal dialog, a labelled field, a confirmation, dates.
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { toast } from "./ui.js";

/** A modal <dialog> (Esc closes it, focus stays inside); removed from the page when closed. */
export function openDialog(title, body, { onClose, wide = false } = {}) {
  const close = h("button", { type: "button", class: "close", onclick: () => dlg.close() }, t("close"));
  const dlg = h("dialog", { class: `admin-dialog${wide ? " wide" : ""}`, "aria-label": title },
    h("div", { class: "dialog-head" }, h("h2", {}, title), close), body);
  dlg.addEventListener("close", () => { dlg.remove(); if (onClose) onClose(); });
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

/** Resolves true when the person confirms. */
export function confirmAction(question, yesLabel, danger = false) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h("button", { type: "button", class: danger ? "danger" : "primary",
      onclick: () => { answer = true; dlg.close(); } }, yesLabel);
    const no = h("button", { type: "button", onclick: () => dlg.close() }, t("cancel"));
    const dlg = openDialog(question, h("div", { class: "actions" }, yes, no), { onClose: () => resolve(answer) });
    no.focus();
  });
}

let uid = 0;
/** A label and its control, tied by id. */
export function field(labelKey, control, hint = "") {
  if (!control.id) control.id = `f-${++uid}`;
  return h("div", { class: "field" }, h("label", { for: control.id }, t(labelKey)), control,
    hint ? h("small", {}, hint) : null);
}

/** Date and time in the browser's zone, e.g. 12-07 13:05. */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Today as YYYY-MM-DD in the browser's zone. */
export function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** Fill `rows` (a tbody) with `row(item)` for the items `path` answers (sorted by `order`). */
export async function fillRows(rows, path, row, order = null) {
  let body;
  try { body = await api(path); } catch (e) { toast(e.message, true); return null; }
  clear(rows);
  const items = order ? [...body.items].sort(order) : body.items;
  for (const item of items) rows.append(row(item));
  if (!items.length) rows.append(h("tr", {}, h("td", { colspan: 6 }, t("nothing"))));
  return body;
}

/** A change (PATCH by default) with its toast; the answer, or null when it was refused. */
export async function send(path, body, done, method = "PATCH") {
  try {
    const out = await api(path, { method, body });
    if (done) toast(done);
    return out ?? true;
  } catch (e) { toast(e.message, true); return null; }
}
