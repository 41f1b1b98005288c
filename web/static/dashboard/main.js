// The staff dashboard: login, then the shell (tabs, language, live/reconnecting state) and
// the views, one module each: floor map + robots, order board, chat, events, todos, jobs.
import { login, logout, onLogout, session } from "./api.js";
import { clear, h } from "./dom.js";
import { onFeedState } from "./feed.js";
import { lang, setLang, t } from "./i18n.js";
import { onOriginRefused, originRefused } from "./origin.js";
import { problemText } from "./problems.js";
import { userLabel } from "./words.js";
import { stopAll } from "./ui.js";
import { chatView } from "./view-chat.js";
import { eventsView } from "./view-events.js";
import { floorView } from "./view-floor.js";
import { jobsView } from "./view-jobs.js";
import { ordersView } from "./view-orders.js";
import { todosView } from "./view-todos.js";
import { alarmBanner } from "./alarms.js";
import { MANAGER_TABS, managerViews } from "./manager.js";
import { hashState } from "./route.js";

const root = document.getElementById("root");
let currentTab = hashState().tab || "floor";

// ---------------------------------------------------------------- login
function showLogin(error = "") {
  stopAll();
  clear(root);
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const err = h("p", { class: "error", role: "alert" }, error);
  const form = h("form", { class: "login", onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      await login(user.value, pass.value);
      showShell();
    } catch (ex) {
      err.textContent = ex.status === 401 ? t("login_failed") : problemText(ex);
    }
  } },
  h("h1", {}, t("app")),
  h("label", { for: "username" }, t("username")), user,
  h("label", { for: "password" }, t("password")), pass,
  h("button", { type: "submit", class: "primary" }, t("login")), err, langSwitch(() => showLogin()));
  // A stale error must not stay under the browser's own bubble, nor while a fix is typed.
  form.addEventListener("invalid", () => { err.textContent = ""; }, true);
  for (const input of [user, pass]) input.addEventListener("input", () => { err.textContent = ""; });
  root.append(form);
  user.focus();
}

function langSwitch(redraw) {
  const sel = h("select", { "aria-label": t("language"), class: "lang", onchange: () => { setLang(sel.value); redraw(); } },
    h("option", { value: "ko", selected: lang === "ko" }, "한국어"),
    h("option", { value: "en", selected: lang === "en" }, "English"));
  return sel;
}


// ---------------------------------------------------------------- shell
const TABS = ["floor", "orders", "chat", "events", "todos", "jobs", ...MANAGER_TABS];

function showShell() {
  stopAll();
  clear(root);
  const me = session();
  const status = h("span", { class: "live", role: "status", "aria-live": "polite" });
  const showState = (down) => {
    const refused = originRefused();
    status.textContent = refused ? t("origin_refused") : down ? t("reconnecting") : t("connected");
    status.className = refused ? "live refused" : down ? "live down" : "live";
    document.body.classList.toggle("reconnecting", down || refused);
  };
  onFeedState(showState);
  onOriginRefused(() => showState(true));
  const nav = h("nav", { role: "tablist" }, TABS.map((name) =>
    h("button", { role: "tab", id: `tab-${name}`, "aria-controls": `view-${name}`,
      "aria-selected": String(name === currentTab), onclick: () => selectTab(name) }, t(name))));
  const header = h("header", {},
    h("strong", { class: "brand" }, t("app")), nav, status,
    h("span", { class: "who" }, userLabel(me.username, me.role)),
    langSwitch(() => showShell()),
    h("button", { class: "logout", onclick: () => logout() }, t("logout")));
  const main = h("main", {});
  root.append(header, alarmBanner({ onShowAll: () => selectTab("alarms") }), main);
  const views = {
    floor: floorView(), orders: ordersView(), chat: chatView(), events: eventsView(), todos: todosView(),
    jobs: jobsView(), ...managerViews(me),
  };
  for (const b of [...nav.children]) if (!views[b.id.slice(4)]) b.remove(); // admin only
  for (const [name, el] of Object.entries(views)) {
    el.id = `view-${name}`;
    el.setAttribute("role", "tabpanel");
    el.setAttribute("aria-labelledby", `tab-${name}`);
    main.append(el);
  }
  function selectTab(name) {
    currentTab = TABS.includes(name) && views[name] ? name : "floor";
    if (hashState().tab !== currentTab) history.replaceState(null, "", `#${currentTab}`);
    for (const b of nav.children) b.setAttribute("aria-selected", String(b.id === `tab-${currentTab}`));
    for (const [n, el] of Object.entries(views)) el.hidden = n !== currentTab;
  }
  selectTab(currentTab);
}

// ---------------------------------------------------------------- start
onLogout(() => showLogin());
if (session()) showShell(); else showLogin();
