// The alarm banner under the header: every alarm waiting for an acknowledgement, and a sound
// while a critical or major one waits, until a staff member acknowledges it. It follows
// /ws/events?type=alarm.* and re-reads GET /api/alarms?state=needs_ack (also every 30 s).
// The sound can be muted per browser (remembered in localStorage, shown on the banner); the
// banner itself stays until the alarms are acknowledged.
import { api, canWrite } from "./api.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { feed, toast } from "./ui.js";
import { when } from "./admin-ui.js";
import { alarmKindWord, severityWord } from "./words.js";

const LOUD = new Set(["critical", "major"]);
const MUTE_KEY = "robodine.alarm_muted";

function muted() {
  try { return localStorage.getItem(MUTE_KEY) === "1"; } catch { return false; }
}

/** Two short tones every two seconds (Web Audio: no sound file, nothing to fetch). */
class Beeper {
  constructor() { this.ctx = null; this.timer = null; }
  start() {
    if (this.timer) return;
    this.timer = setInterval(() => this.beep(), 2000);
    this.beep();
  }
  stop() { clearInterval(this.timer); this.timer = null; }
  get on() { return this.timer !== null; }
  beep() {
    try {
      if (!this.ctx) this.ctx = new AudioContext();
      if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
      for (const [at, hz] of [[0, 880], [0.25, 660]]) {
        const osc = this.ctx.createOscillator();
        const gain = this.ctx.createGain();
        osc.frequency.value = hz;
        gain.gain.value = 0.15;
        osc.connect(gain).connect(this.ctx.destination);
        const start = this.ctx.currentTime + at;
        osc.start(start);
        osc.stop(start + 0.18);
      }
    } catch { /* no audio device: the banner still shows */ }
  }
}

export function alarmBanner({ onShowAll } = {}) {
  const beeper = new Beeper();
  const list = h("ul", { class: "alarm-list" });
  const count = h("strong", { class: "alarm-count" });
  const all = h("button", { type: "button", class: "small", onclick: () => onShowAll && onShowAll() }, t("alarms_all"));
  const mute = h("button", { type: "button", class: "small mute", "data-mute": "", onclick: () => {
    try { localStorage.setItem(MUTE_KEY, muted() ? "0" : "1"); } catch { /* private mode: this page only */ }
    sound();
  } });
  const el = h("section", { class: "alarm-banner", role: "alert", "aria-label": t("alarms"), hidden: true,
    dataset: { sounding: "false", count: "0", muted: "false" } }, h("div", { class: "alarm-head" }, count, all, mute), list);
  let timer = null;
  let poll = null;
  let loud = false;

  /** Start or stop the sound as the alarms and the mute say; show the mute's state. */
  function sound() {
    const off = muted();
    mute.setAttribute("aria-pressed", String(off));
    mute.textContent = off ? `🔇 ${t("alarm_sound_muted")}` : `🔔 ${t("alarm_sound_on")}`;
    mute.title = t(off ? "alarm_unmute" : "alarm_mute");
    if (loud && !off) beeper.start(); else beeper.stop();
    el.dataset.sounding = String(beeper.on);
    el.dataset.muted = String(off);
  }
  window.addEventListener("storage", (e) => { if (e.key === MUTE_KEY && el.isConnected) sound(); });
  sound();

  async function refresh() {
    timer = null;
    if (!el.isConnected && poll) { stop(); return; }
    let body;
    try { body = await api("/api/alarms?state=needs_ack&limit=5"); } catch { return; }
    render(body);
  }
  function later() { if (!timer) timer = setTimeout(refresh, 150); }
  function stop() { beeper.stop(); clearInterval(poll); poll = null; el.dataset.sounding = "false"; }

  function render(body) {
    clear(list);
    const n = body.needs_ack;
    el.hidden = n === 0;
    el.dataset.count = String(n);
    count.textContent = `⚠ ${t("alarms_waiting")}: ${n}`;
    for (const a of body.items) {
      const what = a.robot || (a.order ? `${t("order")} ${a.order.slice(-6)}` : "");
      list.append(h("li", { class: `sev-${a.severity}`, "data-alarm": a.id },
        h("span", { class: "sev" }, severityWord(a.severity)),
        h("span", { class: "what" }, `${alarmKindWord(a.kind)}${what ? ` · ${what}` : ""}`),
        h("time", {}, when(a.raised_at)),
        a.active ? null : h("small", {}, t("alarm_cleared")),
        canWrite() ? h("button", { type: "button", class: "small", "data-ack": a.id, onclick: () => ack(a.id) }, t("ack")) : null));
    }
    loud = body.items.some((a) => LOUD.has(a.severity));
    sound();
  }
  async function ack(id) {
    try { await api(`/api/alarms/${id}/ack`, { method: "POST", body: {} }); toast(t("alarm_acked")); }
    catch (e) { toast(e.message, true); }
    refresh();
  }

  feed("/ws/events", (f) => { if (f.type === "snapshot" || f.type === "event") later(); }, { type: "alarm.*" });
  poll = setInterval(() => { if (!el.isConnected) stop(); else refresh(); }, 30000);
  return el;
}
