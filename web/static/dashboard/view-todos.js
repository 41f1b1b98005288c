// Staff todos: the live list, adding, ticking off and deleting. A title longer than the API
// takes is kept and said to be too long, never cut without a word.
import { api, canWrite } from "./api.js";
import { clear, h } from "./dom.js";
import { addStrings, t, tf } from "./i18n.js";
import { problemText } from "./problems.js";
import { feed, toast } from "./ui.js";

const MAX_TITLE = 200; // the API's bound on a title

addStrings({
  todo_too_long: ["Too long: {n} of at most {max} characters", "너무 깁니다: {n}자 (최대 {max}자)"],
});

export function todosView() {
  const todos = new Map();
  const list = h("ul", { class: "todos" });
  const title = h("input", { "aria-label": t("new_todo"), placeholder: t("new_todo") });
  const add = h("button", { type: "submit", class: "primary" }, t("add_todo"));
  const note = h("p", { class: "form-error todo-note", role: "alert" });
  const form = h("form", { class: "todo-form" }, title, add);
  const el = h("section", { class: "todos-view" }, canWrite() ? [form, note] : null, list);
  function check() {
    const n = [...title.value.trim()].length;
    const long = n > MAX_TITLE;
    note.textContent = long ? tf("todo_too_long", { n, max: MAX_TITLE }) : "";
    title.setAttribute("aria-invalid", String(long));
    add.disabled = long;
    return !long;
  }
  title.addEventListener("input", check);
  form.onsubmit = async (e) => {
    e.preventDefault();
    if (!title.value.trim() || !check()) return;
    try { await api("/api/todos", { method: "POST", body: { title: title.value.trim() } }); title.value = ""; check(); }
    catch (ex) { toast(problemText(ex), true); }
  };
  function render() {
    clear(list);
    const all = [...todos.values()].sort((a, b) => (a.done - b.done) || (a.id - b.id));
    for (const td of all) {
      const box = h("input", { type: "checkbox", checked: td.done, disabled: !canWrite(), "aria-label": `${t("done")}: ${td.title}`,
        onchange: () => api(`/api/todos/${td.id}`, { method: "PATCH", body: { done: box.checked, version: td.version } }).catch((ex) => toast(problemText(ex), true)) });
      list.append(h("li", { class: td.done ? "done" : "", "data-todo": td.id }, h("label", {}, box, h("span", { class: "title" }, td.title)),
        td.assignee ? h("small", {}, ` → ${td.assignee}`) : null,
        canWrite() ? h("button", { class: "small", onclick: () => api(`/api/todos/${td.id}`, { method: "DELETE" }).catch((ex) => toast(problemText(ex), true)) }, t("delete")) : null));
    }
    if (!all.length) list.append(h("li", { class: "empty" }, t("nothing")));
  }
  feed("/ws/todos", (f) => {
    if (f.type === "snapshot") { todos.clear(); for (const td of f.items) todos.set(td.id, td); }
    else if (f.type === "todo") { if (f.op === "deleted") todos.delete(f.todo.id); else todos.set(f.todo.id, f.todo); }
    else return;
    render();
  });
  return el;
}
