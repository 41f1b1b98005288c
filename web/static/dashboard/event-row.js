// One rd:events entry as table cells, the same in the live Events tab and the Event log:
// time, level and type in words, the robot by name (its id small beside), the details as
// a sentence.
import { h } from "./dom.js";
import { clock } from "./i18n.js";
import { eventText, eventTypeWord, hasName, levelWord, robotName } from "./words.js";

/** The cells of `e`; `onLoaded` is called when an order it names has loaded (redraw then). */
export function eventCells(e, onLoaded) {
  return [
    h("td", {}, clock(e.ts)), h("td", {}, levelWord(e.level)), h("td", {}, eventTypeWord(e.type)),
    h("td", {}, e.robot ? [robotName(e.robot), hasName(e.robot) ? h("small", { class: "rid" }, ` ${e.robot}`) : null] : "—"),
    h("td", { class: "data" }, eventText(e, onLoaded)),
  ];
}
