// Chat: the rooms you may read, the live log, who is online, and posting.
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { clock, t } from "./i18n.js";
import { feed, toast, unfeed } from "./ui.js";

export function chatView() {
  const tabs = h("div", { class: "rooms", role: "tablist" });
  const log = h("ol", { class: "messages", "aria-live": "polite" });
  const people = h("ul", { class: "presence" });
  const input = h("input", { id: "chat-input", "aria-label": t("message"), placeholder: t("message"), maxlength: 2000, autocomplete: "off" });
  const form = h("form", { class: "chat-form" }, input, h("button", { type: "submit", class: "primary" }, t("send")));
  const el = h("section", { class: "chat-view" }, tabs, h("div", { class: "chat-body" }, log, h("aside", {}, h("h3", {}, t("online")), people)), form);
  let current = null, roomFeed = null;
  const seen = new Set();
  function join(room) {
    if (roomFeed) unfeed(roomFeed);
    current = room;
    for (const b of tabs.children) b.setAttribute("aria-selected", String(b.dataset.room === room.name));
    clear(log); clear(people); seen.clear();
    input.disabled = !room.can_post;
    input.placeholder = room.can_post ? t("message") : t("read_only");
    roomFeed = feed(`/ws/chat/${encodeURIComponent(room.name)}`, (f) => {
      if (f.type === "history") {
        if (!f.resumed) { clear(log); seen.clear(); }
        for (const m of f.messages) add(m);
      } else if (f.type === "message") add(f);
      else if (f.type === "presence") {
        clear(people);
        for (const u of f.users) people.append(h("li", {}, `${u.username} (${u.role})`));
      } else if (f.type === "error") toast(f.detail || f.code, true);
    });
  }
  function add(m) {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    log.append(h("li", { class: m.system ? "system" : "", "data-id": m.id },
      h("time", {}, clock(m.timestamp)), " ", h("b", {}, m.username), " ", h("span", { class: "content" }, m.content)));
    log.scrollTop = log.scrollHeight;
  }
  form.onsubmit = (e) => {
    e.preventDefault();
    const content = input.value.trim();
    if (!content || !roomFeed) return;
    if (roomFeed.send({ content })) input.value = "";
  };
  api("/api/chat/rooms").then(({ items }) => {
    for (const r of items) tabs.append(h("button", { role: "tab", "data-room": r.name, onclick: () => join(r) }, r.title));
    if (items.length) join(items[0]);
  }).catch((e) => toast(e.message, true));
  return el;
}
