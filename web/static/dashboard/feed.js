// A WebSocket feed that reconnects by itself (backoff with jitter), resumes from the last
// stream id with ?since= (docs/api.md §5), and drops any frame it has already applied.
import { logout, refresh, session } from "./api.js";
import { originAllowed, originRefused } from "./origin.js";

/** Stream ids "ms-seq" compared as numbers; -1, 0, 1. */
export function cmpId(a, b) {
  const [am, as = "0"] = String(a).split("-");
  const [bm, bs = "0"] = String(b).split("-");
  const d = Number(am) - Number(bm);
  if (d) return Math.sign(d);
  return Math.sign(Number(as) - Number(bs));
}

const feeds = new Set();
const stateListeners = new Set();

/** Call `fn(reconnecting: boolean)` whenever any feed goes down or every feed is up. */
export function onFeedState(fn) { stateListeners.add(fn); fn(anyDown()); }
function anyDown() { return [...feeds].some((f) => f.running && !f.live); }
function announce() { const down = anyDown(); for (const fn of stateListeners) fn(down); }

export class Feed {
  /**
   * @param {string} path e.g. "/ws/orders" or "/ws/chat/kitchen"
   * @param {(frame: object) => void} onFrame every frame not seen before
   * @param {object} params extra query parameters (filters)
   * @param {(frame: object) => string} keyOf for "latest" topics (robots, telemetry): the
   *   server coalesces per robot, so frames of different robots may arrive out of stream
   *   order; duplicates are then dropped per key instead of against one cursor.
   */
  constructor(path, onFrame, params = {}, keyOf = null) {
    this.keyOf = keyOf;
    this.perKey = new Map();
    this.path = path;
    this.onFrame = onFrame;
    this.params = params;
    this.lastId = null;
    this.live = false;
    this.running = false;
    this.delay = 500;
    this.ws = null;
    this.timer = null;
    this.session = null; // the server's session from hello
  }

  start() {
    this.running = true;
    feeds.add(this);
    this.connect();
    return this;
  }

  stop() {
    this.running = false;
    feeds.delete(this);
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    announce();
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  url() {
    const s = session();
    const q = new URLSearchParams({ ...this.params, token: s ? s.token : "" });
    if (this.lastId) q.set("since", this.lastId);
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}${this.path}?${q}`;
  }

  /** One frame, on its own or out of a batch. */
  handle(frame) {
    if (frame.type === "auth_expiring") {
      // Swap the socket's token in-band: the subscription and its cursor stay as they are.
      refresh().then((s) => this.send({ type: "auth", token: s.token })).catch(() => {});
      return;
    }
    if (frame.type === "hello" || frame.type === "history" || frame.type === "snapshot") {
      this.live = true;
      this.delay = 500;
      announce();
    }
    if (frame.type === "snapshot" || frame.type === "history") {
      // A snapshot replaces state; history starts the room. Both set the cursor.
      if (frame.id) this.lastId = frame.id;
      this.perKey.clear();
      this.onFrame(frame);
      return;
    }
    if (frame.id && typeof frame.id === "string" && frame.type !== "presence") {
      if (this.keyOf) {
        const k = this.keyOf(frame);
        const prev = this.perKey.get(k);
        if (prev && cmpId(frame.id, prev) <= 0) return; // seen already
        this.perKey.set(k, frame.id);
        if (!this.lastId || cmpId(frame.id, this.lastId) > 0) this.lastId = frame.id;
      } else {
        if (this.lastId && cmpId(frame.id, this.lastId) <= 0) return; // seen already
        this.lastId = frame.id;
      }
    }
    this.onFrame(frame);
  }

  connect() {
    if (!this.running) return;
    if (!session()) { logout(); return; }
    if (originRefused()) return; // the server said so already: the header shows it
    const ws = new WebSocket(this.url());
    this.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      // Latest-wins topics send everything pending in one message (docs/api.md §5).
      if (frame.type === "batch" && Array.isArray(frame.frames)) for (const f of frame.frames) this.handle(f);
      else this.handle(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.live = false;
      announce();
      if (!this.running) return;
      if (ev.code === 4001) { logout(); return; }
      if (ev.code === 1012) this.lastId = null; // the stream was reset: start over
      // Refused before it opened: perhaps this page's address is not in web.origins.
      if (!opened) originAllowed().then((ok) => { if (ok) this.retry(); });
      else this.retry();
    };
  }

  retry() {
    if (!this.running) return;
    const wait = this.delay * (0.75 + Math.random() * 0.5);
    this.delay = Math.min(this.delay * 2, 10000);
    this.timer = setTimeout(() => this.connect(), wait);
  }
}
