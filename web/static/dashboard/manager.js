// The manager's tabs (issue 20), added to the shell by main.js: alarms, past orders, the event
// log, and the admin screens for admins. Clicking an order card on the board opens its detail.
import "./admin-i18n.js";
import { adminView } from "./view-admin.js";
import { alarmsView } from "./view-alarms.js";
import { eventLogView } from "./view-event-log.js";
import { openOrderDetail } from "./order-detail.js";
import { orderLogView } from "./view-order-log.js";

export const MANAGER_TABS = ["alarms", "history", "log", "admin"];

/** The views of those tabs this user may see. */
export function managerViews(me) {
  const views = { alarms: alarmsView(), history: orderLogView(), log: eventLogView() };
  if (me && me.role === "admin") views.admin = adminView();
  return views;
}

// An order card of the board (view-orders.js) opens the order's detail, by click or by Enter
// once focused (each card is made focusable as it appears); its buttons keep their own jobs.
const CARD = ".board .card[data-order]";
document.addEventListener("click", (e) => {
  const card = e.target.closest && e.target.closest(CARD);
  if (card && !e.target.closest("button, a, input")) openOrderDetail(card.dataset.order);
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && e.target.matches && e.target.matches(CARD)) openOrderDetail(e.target.dataset.order);
});
new MutationObserver(() => {
  for (const card of document.querySelectorAll(`${CARD}:not([tabindex])`)) card.tabIndex = 0;
}).observe(document.getElementById("root"), { childList: true, subtree: true });
