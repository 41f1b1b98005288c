// Chat: the rooms you may read, the live log, who is online, and posting. A message stays in
// the input until the room echoes it back: one the server refuses (too fast, too long) is
// kept, with the reason and, when rate-limited, when it can be sent.
import { api, session } from "./api.js";
import { clear, h } from "./dom.js";
import { addStrings, clock, t, tf } from "./i18n.js";
import { problemText, waitSeconds } from "./problems.js";
import { feed, toast, unfeed } from "./ui.js";
import { eventText, levelWord, loadRobotNames, robotName, roomTitle, userLabel } from "./words.js";

addStrings({
  chat_count: ["{n} / {max} characters", "{n} / {max}자"],
  chat_too_long: ["Too long to send: {n} of at most {max} characters", "너무 길어서 보낼 수 없습니다: {n}자 (최대 {max}자)"],
  chat_wait: ["Kept here: you can send it in {n} s", "입력한 내용은 그대로 있습니다. {n}초 후에 보낼 수 있습니다"],
  chat_not_sent: ["Not sent; kept here: {reason}", "보내지 못했습니다 (내용은 그대로 있습니다): {reason}"],
  chat_offline: ["Not connected; it is sent once the room is back", "연결이 끊겼습니다. 다시 연결되면 보내세요"],
});

export function chatView() {
  const me = session();
  const tabs = h("div", { class: "rooms", role: "tablist" });
  const log = h("ol", { class: "messages", "aria-live": "polite" });
  const people = h("ul", { class: "presence" });
  // No maxlength: a long paste is kept whole and said to be too long, never cut silently.
  const input = h("input", { id: "chat-input", "aria-label": t("message"), placeholder: t("message"), autocomplete: "off" });
  const send = h("button", { type: "submit", class: "primary" }, t("send"));
  const note = h("p", { class: "chat-note", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "chat-form" }, input, send);
  const el = h("section", { class: "chat-view" }, tabs, h("div", { class: "chat-body" }, log, h("aside", {}, h("h3", {}, t("online")), people)), form, note);
  let current = null, roomFeed = null, pending = null, waitUntil = 0, waitTimer = null;
  const seen = new Set();
  const messages = []; // [li, message]: redrawn when robot names arrive

  function join(room) {
    if (roomFeed) unfeed(roomFeed);
    current = room;
    for (const b of tabs.children) b.setAttribute("aria-selected", String(b.dataset.room === room.name));
    clear(log); clear(people); seen.clear(); messages.length = 0;
    pending = null;
    setNote("");
    input.disabled = send.disabled = !room.can_post;
    input.placeholder = room.can_post ? t("message") : t("read_only");
    check();
    roomFeed = feed(`/ws/chat/${encodeURIComponent(room.name)}`, (f) => {
      if (f.type === "history") {
        if (!f.resumed) { clear(log); seen.clear(); messages.length = 0; }
        for (const m of f.messages) add(m);
      } else if (f.type === "message") add(f);
      else if (f.type === "presence") {
        clear(people);
        for (const u of f.users) people.append(h("li", {}, userLabel(u.username, u.role)));
      } else if (f.type === "error") refused(f);
    });
  }
  function text(m) {
    if (!m.system || !m.event) return m.content;
    const e = m.event;
    const redraw = () => redrawLine(m);
    return `${levelWord(e.level)} · ${e.robot ? `${robotName(e.robot)}: ` : ""}${eventText(e, redraw)}`;
  }
  function line(m) {
    return h("li", { class: m.system ? `system lv-${m.event?.level || ""}` : "", "data-id": m.id },
      h("time", {}, clock(m.timestamp)), " ", h("b", {}, m.system ? t("app") : m.username), " ", h("span", { class: "content" }, text(m)));
  }
  function redrawLine(m) {
    const i = messages.findIndex(([, x]) => x.id === m.id);
    if (i < 0) return;
    const li = line(m);
    messages[i][0].replaceWith(li);
    messages[i][0] = li;
  }
  function add(m) {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    const li = line(m);
    messages.push([li, m]);
    log.append(li);
    log.scrollTop = log.scrollHeight;
    if (pending !== null && me && m.username === me.username && m.content === pending) {
      if (input.value.trim() === pending) input.value = ""; // echoed: it is in the room
      pending = null;
      if (note.dataset.kind !== "wait") setNote("");
      check();
    }
  }
  function setNote(kind, msg = "", bad = true) {
    note.dataset.kind = kind;
    note.textContent = msg;
    note.className = `chat-note${bad && msg ? " bad" : ""}`;
  }
  function refused(f) {
    pending = null; // the text stays in the input
    if (f.code === "rate_limited") {
      waitUntil = Date.now() + (waitSeconds(f) || 1) * 1000;
      countdown();
    } else setNote("error", tf("chat_not_sent", { reason: problemText(f) }));
  }
  function countdown() {
    clearTimeout(waitTimer);
    const left = Math.ceil((waitUntil - Date.now()) / 1000);
    if (left <= 0) { waitUntil = 0; setNote(""); check(); return; }
    setNote("wait", tf("chat_wait", { n: left }));
    send.disabled = true;
    waitTimer = setTimeout(countdown, 250);
  }
  const maxChars = () => (current && current.max_chars) || 2000;
  /** Length and wait: the send button is off while the message cannot go. */
  function check() {
    if (!current || !current.can_post) { send.disabled = true; return false; }
    const n = [...input.value.trim()].length, max = maxChars();
    const long = n > max, kind = note.dataset.kind || "";
    input.setAttribute("aria-invalid", String(long));
    if (long) setNote("length", tf("chat_too_long", { n, max }));
    else if (n > max * 0.8 && ["", "length", "count"].includes(kind)) setNote("count", tf("chat_count", { n, max }), false);
    else if (kind === "length" || kind === "count") setNote("");
    send.disabled = long || Date.now() < waitUntil;
    return !send.disabled;
  }
  input.addEventListener("input", () => { if (note.dataset.kind === "error") setNote(""); check(); });
  form.onsubmit = (e) => {
    e.preventDefault();
    const content = input.value.trim();
    if (!content || !roomFeed || !check()) return;
    if (roomFeed.send({ content })) pending = content;
    else setNote("error", t("chat_offline"));
  };
  Promise.all([api("/api/chat/rooms"), loadRobotNames()]).then(([{ items }]) => {
    for (const r of items) tabs.append(h("button", { role: "tab", "data-room": r.name, onclick: () => join(r) }, roomTitle(r)));
    if (items.length) join(items[0]);
  }).catch((e) => toast(problemText(e), true));
  return el;
}
