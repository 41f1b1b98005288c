// Background jobs: the live list with progress bars, a sales report for a day, cancel.
import { api, canWrite, session } from "./api.js";
import { clear, h } from "./dom.js";
import { clock, t, word } from "./i18n.js";
import { problemText } from "./problems.js";
import { feed, toast } from "./ui.js";

const OPEN = ["queued", "running", "cancelling"];

export function jobsView() {
  const jobs = new Map();
  const list = h("ul", { class: "jobs" });
  const day = h("input", { type: "date", "aria-label": t("report_day"), value: new Date().toISOString().slice(0, 10) });
  const form = h("form", { class: "job-form" }, h("label", {}, t("sales_report"), " ", day),
    h("button", { type: "submit", class: "primary" }, t("start_job")));
  form.onsubmit = async (e) => {
    e.preventDefault();
    try { await api("/api/jobs", { method: "POST", body: { kind: "sales_report", input: { date: day.value } } }); }
    catch (ex) { toast(problemText(ex), true); }
  };
  const el = h("section", { class: "jobs-view" }, canWrite() ? form : null, list);

  let timer = null;
  function changed() { if (!timer) timer = setTimeout(render, 100); }
  function render() {
    timer = null;
    clear(list);
    const all = [...jobs.values()].sort((a, b) => String(b.created_at || "").localeCompare(String(a.created_at || ""))).slice(0, 100);
    for (const j of all) {
      const pct = Math.round((j.progress || 0) * 100);
      const fill = h("span", {});
      fill.style.width = `${pct}%`; // CSSOM, not a style attribute: the page's CSP has no inline styles
      list.append(h("li", { class: `job job-${j.status}`, "data-job": j.id, "data-status": j.status },
        h("div", { class: "job-head" },
          h("strong", {}, word("jk", j.kind)),
          h("span", { class: "job-status" }, word("js", j.status)),
          j.created_at ? h("small", {}, clock(j.created_at)) : null),
        h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct, "aria-label": t("progress") },
          fill),
        h("div", { class: "job-foot" },
          h("span", {}, j.error ? `${t("error")}: ${j.error}` : (j.message || "")),
          j.status === "completed" && j.result && j.result.upload_id
            ? h("a", { href: "#", onclick: (e) => { e.preventDefault(); download(j.result.upload_id); } }, t("download")) : null,
          canWrite() && OPEN.slice(0, 2).includes(j.status)
            ? h("button", { class: "small", onclick: () => cancel(j.id) }, t("cancel")) : null)));
    }
    if (!all.length) list.append(h("li", { class: "empty" }, t("nothing")));
  }
  async function cancel(id) {
    try { await api(`/api/jobs/${id}/cancel`, { method: "POST" }); } catch (ex) { toast(problemText(ex), true); }
  }
  feed("/ws/jobs", (f) => {
    if (f.type === "snapshot") { jobs.clear(); for (const j of f.items || []) jobs.set(j.id, j); }
    else if (f.type === "job") {
      const j = { ...(jobs.get(f.job) || { id: f.job, created_at: new Date(f.ts * 1000).toISOString() }) };
      Object.assign(j, { kind: f.kind, status: f.status, progress: f.progress, message: f.message, attempts: f.attempt, error: f.error || null });
      if (f.result) j.result = f.result;
      jobs.set(f.job, j);
    } else return;
    changed();
  });
  return el;
}

/** A job's output file, fetched with the session's token (an <a href> cannot send it). */
function download(uploadId) {
  const s = session();
  window.open(`/api/uploads/${uploadId}/content?token=${encodeURIComponent(s ? s.token : "")}`, "_blank", "noopener");
}
