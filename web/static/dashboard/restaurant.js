// The restaurant as it is now (tables, menu, stock), kept live by the `restaurant` topic:
// one feed for the page, shared by every view that follows it (docs/api.md §5).
import { feed } from "./ui.js";

export const live = { table: new Map(), menu_item: new Map(), inventory: new Map() };
let listeners = new Set();
let opened = null;

function apply(f) {
  if (f.type === "snapshot") {
    for (const m of Object.values(live)) m.clear();
    for (const e of f.items || []) live[e.kind].set(e.item.id, e.item);
  } else if (f.type in live) {
    if (f.op === "deleted") live[f.type].delete(f.item.id); else live[f.type].set(f.item.id, f.item);
  } else return;
  for (const l of listeners) l(f);
}

/** Call `fn()` shortly after a change of one of `kinds` ("table", "menu_item", "inventory")
 * arrives (several in a burst: once). The first snapshot is the state the view was drawn
 * from and does not count; a later one (a reconnect that missed too much) does. */
export function followRestaurant(kinds, fn) {
  if (!opened || !opened.running) { listeners = new Set(); opened = feed("/ws/restaurant", apply); }
  let timer = null, first = true;
  listeners.add((f) => {
    if (f.type === "snapshot" && first) { first = false; return; }
    if (f.type !== "snapshot" && !kinds.includes(f.type)) return;
    clearTimeout(timer);
    timer = setTimeout(fn, 250);
  });
  return live;
}
