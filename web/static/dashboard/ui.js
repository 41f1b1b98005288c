// What every view shares: toasts, and the live feeds it opened (closed together at logout).
import { h } from "./dom.js";
import { Feed } from "./feed.js";

let feeds = [];

export function toast(msg, bad = false) {
  const el = h("div", { class: `toast${bad ? " bad" : ""}`, role: "status" }, msg);
  document.body.append(el);
  setTimeout(() => el.remove(), 3500);
}

/** Open a feed that lives until `stopAll` (logout, redraw) or `unfeed`. */
export function feed(path, onFrame, params, keyOf) {
  const f = new Feed(path, onFrame, params, keyOf).start();
  feeds.push(f);
  return f;
}

export function unfeed(f) {
  f.stop();
  feeds = feeds.filter((x) => x !== f);
}

export function stopAll() { for (const f of feeds) f.stop(); feeds = []; }
