// Internal names as people say them, in the page's language: robots by their names, tasks
// as "T5 · cooking Bibimbap", docks, chat rooms, event types and levels, and an event's data
// as a sentence rather than JSON. Robot names and orders are fetched once and kept.
import { api } from "./api.js";
import { addStrings, lang, t, tf, word } from "./i18n.js";
import { roleWord } from "./problems.js";

addStrings({
  dock_n: ["Dock {n}", "충전소 {n}"],
  room_kitchen: ["Kitchen", "주방"],
  room_floor: ["Floor", "홀"],
  room_managers: ["Managers", "매니저"],
  task_cook: ["{table} · cooking {dish}", "{table} · {dish} 조리"],
  task_deliver: ["{table} · delivering", "{table} · 서빙"],
  task_order: ["order …{id}", "주문 …{id}"],
  lv_info: ["info", "정보"],
  lv_warning: ["warning", "경고"],
  lv_alarm: ["alarm", "경보"],
  "et_robot.connection": ["connection", "연결"],
  "et_robot.state": ["robot state", "로봇 상태"],
  "et_robot.transition_refused": ["state change refused", "상태 변경 거부"],
  "et_robot.event": ["robot report", "로봇 알림"],
  "et_command.sent": ["command sent", "명령 전송"],
  "et_command.acked": ["command done", "명령 완료"],
  "et_command.failed": ["command failed", "명령 실패"],
  "et_command.duplicate": ["command repeated", "중복 명령"],
  "et_order.status": ["order status", "주문 상태"],
  "et_task.assigned": ["task assigned", "작업 배정"],
  "et_task.released": ["task released", "작업 해제"],
  "et_inventory.low": ["low stock", "재고 부족"],
  "et_registry.changed": ["robot registry", "로봇 등록 변경"],
  "et_gateway.started": ["gateway started", "게이트웨이 시작"],
  "et_gateway.stopped": ["gateway stopped", "게이트웨이 중지"],
  "et_gateway.spool_overflow": ["events lost", "이벤트 유실"],
  "et_gateway.spool_degraded": ["spool disk failing", "스풀 디스크 문제"],
  ev_charged: ["charged", "충전 완료"],
  ev_dish_ready: ["dish ready", "요리 완료"],
  ev_docked: ["at the dock", "충전소 도착"],
  ev_arrived: ["arrived", "도착"],
  ev_returned: ["back", "복귀 완료"],
  ev_battery_low: ["battery low", "배터리 부족"],
  ev_fault: ["fault", "고장"],
  ev_cancelled: ["task cancelled", "작업 취소됨"],
  ev_estop: ["e-stop", "비상 정지"],
  ev_released: ["released", "해제됨"],
  ev_pickup_done: ["guest took it", "손님 수령"],
  ev_dish_taken: ["dish taken", "요리 가져감"],
  rs_refused: ["the robot refused", "로봇이 거부함"],
  rs_timeout: ["no answer", "응답 없음"],
  rs_robot_offline: ["robot offline", "로봇 연결 끊김"],
  rs_offline: ["offline", "연결 끊김"],
  rs_expired: ["too late", "시간 초과"],
  rs_invalid_command: ["invalid command", "잘못된 명령"],
  rs_unknown_robot: ["unknown robot", "등록되지 않은 로봇"],
  rs_unknown_action: ["unknown command", "알 수 없는 명령"],
  rs_unsupported_for_kind: ["not for this kind of robot", "이 종류의 로봇은 할 수 없음"],
  rs_unsupported_version: ["unsupported version", "지원하지 않는 버전"],
  rs_fault: ["fault", "고장"],
  rs_estop: ["e-stop", "비상 정지"],
  rs_dropped: ["dropped", "작업 포기"],
  rs_heard: ["heard again", "다시 응답"],
  rs_silent: ["silent", "응답 없음"],
  rs_closed: ["connection closed", "연결 종료"],
  ch_added: ["added", "추가됨"],
  ch_updated: ["updated", "변경됨"],
  ch_removed: ["removed", "삭제됨"],
  ev_table: ["table {v}", "테이블 {v}"],
  ev_battery: ["battery {v}%", "배터리 {v}%"],
  ev_order: ["order …{v}", "주문 …{v}"],
  ev_stock: ["{v} left", "{v}개 남음"],
  ev_low_stock: ["threshold {v}", "기준 {v}"],
  ev_attempts: ["attempt {v}", "{v}번째 시도"],
  ev_lost: ["{v} lost", "{v}건 유실"],
  by_user: ["by {v}", "{v} 요청"],
  refused_to: ["{from} → {to} refused", "{from} → {to} 거부됨"],
});

// ---------------------------------------------------------------- robots
const robotNames = new Map(); // id -> name
let robotsLoading = null;

/** The robot list's names, once per page (`noteRobot` keeps them current). */
export function loadRobotNames() {
  if (!robotsLoading) {
    robotsLoading = api("/api/robots").then(({ items }) => { for (const r of items) noteRobot(r); })
      .catch(() => { robotsLoading = null; });
  }
  return robotsLoading;
}

export function noteRobot(r) { if (r && r.id) robotNames.set(r.id, r.name || ""); }

/** A robot as people call it: its name, else its id. */
export function robotName(id) {
  if (!id) return "—";
  const n = robotNames.get(id);
  return n && n !== id ? n : id;
}

/** The id of the robot called `name` (any case), or null. */
export function robotByName(name) {
  const want = String(name).trim().toLowerCase();
  for (const [id, n] of robotNames) if (n && n.toLowerCase() === want) return id;
  return null;
}

/** Has the robot a name of its own (then its id is shown beside it, small)? */
export function hasName(id) { return robotName(id) !== id; }

// ---------------------------------------------------------------- orders, tasks
const orderInfo = new Map(); // order id -> {table, items} (or a promise while it loads)

/** What people know of an order: its table and dishes (fetched once; null until then). */
export function orderOf(id, onLoaded) {
  const known = orderInfo.get(id);
  if (known && !(known instanceof Promise)) return known;
  if (!known) {
    orderInfo.set(id, api(`/api/orders/${encodeURIComponent(id)}`)
      .then((o) => { orderInfo.set(id, o); return o; })
      .catch(() => { orderInfo.delete(id); return null; }));
  }
  if (onLoaded) orderInfo.get(id).then((o) => { if (o) onLoaded(o); });
  return null;
}

/** Remember an order seen elsewhere (the board), so no fetch is needed. */
export function noteOrder(o) { if (o && o.id && o.table) orderInfo.set(o.id, o); }

const TASK = /^([0-9a-f]{16}):(?:c(\d+)|d)$/;

/** A dispatcher task id (`<order>:c<line>`, `<order>:d`) in words; anything else as it is.
 *  `onLoaded` is called once the order's table and dishes are known (redraw then). */
export function taskText(task, onLoaded) {
  if (!task) return "—";
  const m = TASK.exec(task);
  if (!m) return task;
  const [, id, line] = m;
  const o = orderOf(id, onLoaded);
  const table = o ? `${t("table")} ${o.table}` : tf("task_order", { id: id.slice(-6) });
  if (line === undefined) return tf("task_deliver", { table });
  const item = o && (o.items || []).find((i) => String(i.line) === line);
  return tf("task_cook", { table, dish: item ? lineName(item, onLoaded) : `#${line}` });
}

const menuNames = new Map(); // menu item id -> English name, for dishes in English
let menuLoading = null;
function lineName(item, onLoaded) {
  if (lang === "ko") return item.name;
  if (!menuLoading) {
    menuLoading = api("/api/menu?limit=500")
      .then(({ items }) => { for (const m of items) menuNames.set(m.id, m.name_en); })
      .catch(() => { menuLoading = null; });
  }
  if (!menuNames.size && onLoaded) menuLoading.then(() => { if (menuNames.size) onLoaded(); });
  return menuNames.get(item.menu_item_id) || item.name;
}

// ---------------------------------------------------------------- places, rooms
/** A dock's name: "dock-1" reads "충전소 1" / "Dock 1"; other names as configured. */
export function dockName(name) {
  const m = /^dock-?(\d+)$/i.exec(name || "");
  return m ? tf("dock_n", { n: m[1] }) : name;
}

/** A chat room: the default rooms in the page's language, others by their title. */
export function roomTitle(room) {
  const k = `room_${room.name}`;
  const w = t(k);
  return w === k ? (room.title || room.name) : w;
}

/** "minji · 직원": a user and their role in words. */
export function userLabel(username, role) { return role ? `${username} · ${roleWord(role)}` : username; }

// ---------------------------------------------------------------- events
export function levelWord(level) { return known(`lv_${level}`, level); }
export function eventTypeWord(type) { return known(`et_${type}`, type); }

function known(key, fallback) {
  const w = t(key);
  return w === key ? String(fallback || "").replace(/_/g, " ") : w;
}

/** A state id in words (`en_route` -> 이동 중); unknown ones with spaces for underscores. */
export function stateWord(s) { return s ? known(`s_${s}`, s) : "?"; }
export function reasonWord(r) { return known(`rs_${r}`, r); }
function actionWord(a) { return known(a, a); }

/** What a robot reported, as words: known keys labelled, the rest "key value", no JSON. */
function detailWords(data, onLoaded) {
  if (!data || typeof data !== "object") return [];
  const out = [];
  for (const [k, v] of Object.entries(data)) {
    if (v === null || v === undefined || v === "" || typeof v === "object") continue;
    if (k === "task") out.push(taskText(String(v), onLoaded));
    else if (k === "dock") out.push(dockName(String(v)));
    else if (k === "was" || k === "state") out.push(stateWord(String(v)));
    else if (k === "reason") out.push(reasonWord(String(v)));
    else if (k === "order") out.push(tf("ev_order", { v: String(v).slice(-6) }));
    else if (k === "auto") { if (v) out.push(t("auto")); }
    else if (["table", "battery", "stock", "low_stock", "attempts", "lost"].includes(k)) out.push(tf(`ev_${k}`, { v }));
    else out.push(`${k.replace(/_/g, " ")} ${v}`);
  }
  return out;
}
addStrings({ auto: ["by itself", "자동"] });

/** An event's data as a sentence in the page's language (the robot is said separately). */
export function eventText(e, onLoaded) {
  const d = e.data || {};
  const join = (head, rest) => [head, ...rest].filter(Boolean).join(" · ");
  switch (e.type) {
    case "robot.connection":
      return join(`${word("c", d.previous) === "—" ? "?" : word("c", d.previous)} → ${word("c", d.state)}`,
        d.reason ? [reasonWord(d.reason)] : []);
    case "robot.state":
      return join(`${stateWord(d.previous)} → ${stateWord(d.state)}`,
        [d.task ? taskText(d.task, onLoaded) : "", d.reason && d.reason !== d.state ? reasonWord(d.reason) : ""]);
    case "robot.transition_refused":
      return tf("refused_to", { from: stateWord(d.from), to: stateWord(d.to) });
    case "robot.event":
      return join(known(`ev_${d.name}`, d.name), detailWords(d.data, onLoaded));
    case "command.sent":
      return join(actionWord(d.action), [d.source ? tf("by_user", { v: d.source }) : ""]);
    case "command.acked":
      return join(actionWord(d.action), [t("cmd_acked")]);
    case "command.failed":
      return join(actionWord(d.action), [reasonWord(d.reason || "refused"), d.detail || ""]);
    case "command.duplicate":
      return actionWord(d.action);
    case "order.status":
      return join(`${d.table ? `${t("table")} ${d.table}` : tf("ev_order", { v: String(d.order || "").slice(-6) })}`,
        [`${d.previous ? `${t(`st_${d.previous}`)} → ` : ""}${t(`st_${d.status}`)}`]);
    case "task.assigned": case "task.released":
      return join(taskText(d.task || `${d.order}:d`, onLoaded), [d.reason ? reasonWord(d.reason) : "", d.attempt > 1 ? tf("ev_attempts", { v: d.attempt }) : ""]);
    case "inventory.low":
      return join(d.name, detailWords({ stock: d.stock, low_stock: d.low_stock }));
    case "registry.changed":
      return join(robotName(d.robot), [known(`ch_${d.change}`, d.change)]);
    default:
      return detailWords(d, onLoaded).join(" · ") || "—";
  }
}
