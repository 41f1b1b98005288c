// What every view shares: toasts, and the live feeds it opened (closed together at logout).
import { h } from "./dom.js";
import { Feed } from "./feed.js";

let feeds = [];

export function toast(msg, bad = false) {
  const stack = toastStack(); // one column, newest at the bottom: toasts never cover each other
  const same = [...stack.children].find((x) => x.textContent === String(msg));
  if (same) same.remove(); // said again: once, at the bottom, for the full time
  const el = h("div", { class: `toast${bad ? " bad" : ""}`, role: "status" }, msg);
  stack.append(el);
  setTimeout(() => el.remove(), bad ? 6000 : 3500);
}

function toastStack() {
  let stack = document.querySelector(".toasts");
  if (!stack) { stack = h("div", { class: "toasts", "aria-live": "polite" }); document.body.append(stack); }
  return stack;
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
