// The camera panel in a robot's details: live view (WebSocket of JPEG frames drawn on a
// canvas), snapshot, "record N minutes" for staff, and the robot's recordings. One panel at a
// time: picking another robot (or closing the details) stops the previous one's socket.
import { api, canWrite, onLogout, session } from "./api.js";
import { clear, h } from "./dom.js";
import { lang } from "./i18n.js";
import { toast } from "./ui.js";

const WORDS = {
  cameras: ["Cameras", "카메라"], no_cameras: ["No cameras", "카메라 없음"],
  live: ["live", "실시간"], stale: ["stale", "지연"], off: ["off", "꺼짐"],
  snapshot: ["Snapshot", "스냅샷"], record: ["Record", "녹화"], minutes: ["min", "분"],
  recording_until: ["Recording until", "녹화 종료"], recordings: ["Recordings", "녹화 목록"],
  none: ["none yet", "아직 없음"], continuous: ["continuous", "상시"], request: ["requested", "요청"],
  incident: ["incident", "사고"],
};
const w = (k) => (WORDS[k] ? WORDS[k][lang === "ko" ? 1 : 0] : k);

let current = null; // {robot, el, stop}
onLogout(() => cameraPanel(null));

/** The panel for `robot` (the same element while the same robot stays picked); null stops it. */
export function cameraPanel(robot) {
  if (current && current.robot === robot) return current.el;
  if (current) current.stop();
  current = null;
  if (!robot) return null;
  current = build(robot);
  return current.el;
}

function build(robot) {
  const el = h("section", { class: "cameras", "aria-label": w("cameras") }, h("h3", {}, w("cameras")));
  const body = h("div", {});
  const recs = h("ul", { class: "recordings" });
  el.append(body, h("h4", {}, w("recordings")), recs);
  let views = [];
  let stopped = false;
  api("/api/video-streams").then(({ items }) => {
    if (stopped) return;
    const mine = items.filter((c) => c.robot === robot);
    if (!mine.length) body.append(h("p", { class: "muted" }, w("no_cameras")));
    for (const cam of mine) { const v = view(cam); views.push(v); body.append(v.el); }
  }).catch((e) => toast(e.message, true));
  listRecordings(robot, recs);
  return { robot, el, stop: () => { stopped = true; for (const v of views) v.stop(); views = []; } };
}

function view(cam) {
  const canvas = h("canvas", { width: cam.width, height: cam.height, class: "camera-live", "data-stream": cam.id,
    "aria-label": `${cam.id} ${w("live")}` });
  const state = h("span", { class: `camera-state cam-${cam.state}` }, w(cam.state));
  const s = session();
  const snap = h("a", { href: `${cam.snapshot}?token=${encodeURIComponent(s ? s.token : "")}`, target: "_blank",
    rel: "noopener" }, w("snapshot"));
  const foot = h("div", { class: "camera-foot" }, h("strong", {}, cam.camera), state, snap);
  if (canWrite()) {
    const minutes = h("select", { "aria-label": w("minutes") }, [1, 5, 15, 30].map((m) => h("option", { value: m }, `${m} ${w("minutes")}`)));
    foot.append(minutes, h("button", { "data-action": "record", onclick: async () => {
      try {
        const r = await api(`/api/video-streams/${encodeURIComponent(cam.id)}/record`, { method: "POST", body: { minutes: Number(minutes.value) } });
        toast(`${w("recording_until")} ${new Date(r.until).toLocaleTimeString()}`);
      } catch (e) { toast(e.message, true); }
    } }, w("record")));
  }
  const el = h("figure", { class: "camera" }, canvas, h("figcaption", {}, foot));
  const ctx = canvas.getContext("2d");
  let ws = null, timer = null, running = true, delay = 500, drawing = false, pending = null;
  function draw(blob) {
    // Latest-wins here too: a frame that comes while one is decoding replaces the waiting one.
    if (drawing) { pending = blob; return; }
    drawing = true;
    createImageBitmap(blob).then((bmp) => {
      if (canvas.width !== bmp.width) canvas.width = bmp.width;
      if (canvas.height !== bmp.height) canvas.height = bmp.height;
      ctx.drawImage(bmp, 0, 0);
      bmp.close();
      el.dataset.frames = String(Number(el.dataset.frames || 0) + 1);
    }).catch(() => {}).finally(() => {
      drawing = false;
      if (pending) { const next = pending; pending = null; draw(next); }
    });
  }
  function connect() {
    const now = session();
    if (!running || !now) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${proto}//${location.host}${cam.websocket}?token=${encodeURIComponent(now.token)}`);
    ws.binaryType = "blob";
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") { delay = 500; return; }
      if (state.className !== "camera-state cam-live") { state.className = "camera-state cam-live"; state.textContent = w("live"); }
      draw(ev.data);
    };
    ws.onclose = () => {
      ws = null;
      if (!running) return;
      state.className = "camera-state cam-off";
      state.textContent = w("off");
      timer = setTimeout(connect, delay * (0.75 + Math.random() * 0.5));
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
  return { el, stop: () => { running = false; clearTimeout(timer); if (ws) ws.close(1000); } };
}

async function listRecordings(robot, ul) {
  try {
    const { items } = await api(`/api/recordings?robot=${encodeURIComponent(robot)}&limit=20`);
    clear(ul);
    if (!items.length) ul.append(h("li", { class: "muted" }, w("none")));
    const s = session();
    for (const r of items) {
      const when = new Date(r.started_at).toLocaleString();
      const secs = Math.round((Date.parse(r.ended_at) - Date.parse(r.started_at)) / 1000);
      ul.append(h("li", { "data-recording": r.id },
        h("a", { href: `${r.url}?token=${encodeURIComponent(s ? s.token : "")}`, download: "" }, `${r.camera} · ${when}`),
        ` ${secs} s · ${Math.round(r.bytes / 1024)} KB · ${w(r.reason)}`));
    }
  } catch (e) {
    clear(ul);
    ul.append(h("li", { class: "muted" }, e.message));
  }
}
