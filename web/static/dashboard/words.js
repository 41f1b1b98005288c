// Internal names as people say them, in the page's language: robots by their names, tasks
// as "T5 · cooking Bibimbap", docks, chat rooms, and every id the server sends (event types,
// levels, states, reasons, commands, alarm kinds and severities, task outcomes, transports,
// roles) as a word; an event's data as a sentence rather than JSON. No id reaches the
// screen as it is. Robot names and orders are fetched once and kept.
//
// Words are keys `<prefix>_<id>` looked up with `word(prefix, id)`: s_ robot state, c_
// connection, st_ order status, lv_ level, ev_ event type, re_ robot report, rs_ reason,
// cmd_ command, rc_ registry change, ak_ alarm kind, sv_ severity, to_ task outcome, tk_ task
// kind, tr_ transport, role_ role, room_ chat room; ed_ labels an event's detail values.
import { api } from "./api.js";
import { addStrings, lang, t, tf, word } from "./i18n.js";

addStrings({
  dock_n: ["Dock {n}", "충전소 {n}"],
  room_kitchen: ["Kitchen", "주방"],
  room_floor: ["Floor", "홀"],
  room_managers: ["Managers", "관리자"],
  task_cook: ["{table} · cooking {dish}", "{table} · {dish} 조리"],
  task_deliver: ["{table} · delivering", "{table} · 서빙"],
  task_order: ["order …{id}", "주문 …{id}"],
  lv_info: ["info", "정보"],
  lv_warning: ["warning", "경고"],
  lv_alarm: ["alarm", "경보"],
  "ev_robot.connection": ["connection", "연결"],
  "ev_robot.state": ["robot state", "로봇 상태"],
  "ev_robot.transition_refused": ["state change refused", "상태 변경 거부"],
  "ev_robot.event": ["robot report", "로봇 알림"],
  "ev_command.sent": ["command sent", "명령 전송"],
  "ev_command.acked": ["command done", "명령 완료"],
  "ev_command.failed": ["command failed", "명령 실패"],
  "ev_command.duplicate": ["command repeated", "중복 명령"],
  "ev_order.status": ["order status", "주문 상태"],
  "ev_task.assigned": ["task assigned", "작업 배정"],
  "ev_task.released": ["task released", "작업 해제"],
  "ev_inventory.low": ["low stock", "재고 부족"],
  "ev_registry.changed": ["robot registry", "로봇 등록 변경"],
  "ev_gateway.started": ["gateway started", "게이트웨이 시작"],
  "ev_gateway.stopped": ["gateway stopped", "게이트웨이 중지"],
  "ev_gateway.spool_overflow": ["events lost", "이벤트 유실"],
  "ev_gateway.spool_degraded": ["spool disk failing", "스풀 디스크 문제"],
  "ev_audit": ["integration write", "연동 시스템 변경"],
  "ev_alarm.raised": ["alarm raised", "알람 발생"],
  "ev_alarm.cleared": ["alarm cleared", "알람 해소"],
  "ev_alarm.acked": ["alarm acknowledged", "알람 확인"],
  "ev_alarm.escalated": ["alarm escalated", "알람 관리자 알림"],
  "ev_settings.changed": ["settings changed", "설정 변경"],
  "ev_recorder.store_full": ["recording stopped: store full", "녹화 중지: 저장 공간 부족"],
  "ev_recorder.store_recovered": ["recording again", "녹화 재개"],
  "ev_recorder.clip": ["incident clip stored", "사고 영상 저장"],
  re_charged: ["charged", "충전 완료"],
  re_dish_ready: ["dish ready", "요리 완료"],
  re_docked: ["at the dock", "충전소 도착"],
  re_arrived: ["arrived", "도착"],
  re_returned: ["back", "복귀 완료"],
  re_battery_low: ["battery low", "배터리 부족"],
  re_fault: ["fault", "고장"],
  re_cancelled: ["task cancelled", "작업 취소됨"],
  re_estop: ["e-stop", "비상 정지"],
  re_released: ["released", "해제됨"],
  re_pickup_done: ["guest took it", "손님 수령"],
  re_dish_taken: ["dish taken", "요리 가져감"],
  re_message_rejected: ["message refused", "메시지 거부"],
  re_agv_error: ["AGV error", "AGV 오류"],
  re_order_rejected: ["order refused", "주문 거부"],
  re_order_update_error: ["order update refused", "주문 갱신 거부"],
  re_unsupported_version: ["unsupported version", "지원하지 않는 버전"],
  rs_refused: ["the robot refused", "로봇이 거부함"],
  rs_timeout: ["no answer", "응답 없음"],
  rs_robot_offline: ["robot offline", "로봇 연결 끊김"],
  rs_offline: ["offline", "연결 끊김"],
  rs_expired: ["too late", "시간 초과"],
  rs_invalid_command: ["invalid command", "잘못된 명령"],
  rs_invalid_order: ["invalid order", "잘못된 주문"],
  rs_unknown_order: ["unknown order", "알 수 없는 주문"],
  rs_already_delivered: ["already delivered", "이미 서빙됨"],
  rs_not_at_table: ["not at the table", "테이블에 없음"],
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
  r_reported: ["the robot reported", "로봇 보고"],
  r_offline: ["the robot went offline", "로봇 연결 끊김"],
  r_stopped_cooking: ["the robot stopped cooking", "로봇이 조리를 멈춤"],
  r_dropped_delivery: ["the robot dropped the delivery", "로봇이 서빙을 중단함"],
  r_command_failed: ["command failed", "명령 실패"],
  cmd_goto: ["go to", "이동"],
  cmd_dock: ["Send to dock", "충전소로 보내기"],
  cmd_cook: ["cook", "조리"],
  cmd_cancel: ["cancel task", "작업 취소"],
  cmd_pause: ["pause", "일시 정지"],
  cmd_resume: ["resume", "재개"],
  cmd_estop: ["e-stop", "비상 정지"],
  cmd_release: ["release", "해제"],
  cmd_pickup_done: ["pickup done", "수령 완료"],
  "cmd_order.place": ["order", "주문"],
  "cmd_order.cancel": ["order cancel", "주문 취소"],
  "cmd_order.pickup": ["order pickup", "주문 수령"],
  rc_added: ["added", "추가됨"],
  rc_updated: ["updated", "변경됨"],
  rc_removed: ["removed", "삭제됨"],
  rc_refused: ["refused", "거부됨"],
  rc_absent: ["not there", "없음"],
  sv_critical: ["critical", "긴급"],
  sv_major: ["major", "중요"],
  sv_minor: ["minor", "경미"],
  ak_estop: ["e-stop", "비상 정지"],
  ak_fault: ["robot fault", "로봇 오류"],
  ak_vda_fatal: ["AGV fatal error", "AGV 치명적 오류"],
  ak_offline: ["robot offline", "로봇 연결 끊김"],
  ak_stale: ["robot not responding", "로봇 응답 지연"],
  ak_battery_low: ["low battery", "배터리 부족"],
  ak_delivery_failed: ["delivery failed", "서빙 실패"],
  ak_system: ["system alarm", "시스템 경보"],
  to_running: ["in progress", "진행 중"],
  to_done: ["done", "완료"],
  to_released: ["released", "해제됨"],
  to_replaced: ["replaced", "교체됨"],
  to_cancelled: ["cancelled", "취소됨"],
  tk_cook: ["Cook", "조리"],
  tk_deliver: ["Delivery", "서빙"],
  tr_tcp: ["TCP + UDP", "TCP + UDP"],
  tr_mqtt: ["MQTT", "MQTT"],
  tr_vda5050: ["VDA 5050", "VDA 5050"],
  role_admin: ["admin", "관리자"],
  role_staff: ["staff", "직원"],
  role_viewer: ["viewer", "보기 전용"],
  role_system: ["system", "시스템"],
  ed_table: ["table {v}", "테이블 {v}"],
  ed_battery: ["battery {v}%", "배터리 {v}%"],
  ed_order: ["order …{v}", "주문 …{v}"],
  ed_stock: ["{v} left", "{v}개 남음"],
  ed_low_stock: ["threshold {v}", "기준 {v}"],
  ed_attempts: ["attempt {v}", "{v}번째 시도"],
  ed_lost: ["{v} lost", "{v}건 유실"],
  by_user: ["by {v}", "{v} 요청"],
  refused_to: ["{from} → {to} refused", "{from} → {to} 거부됨"],
  auto: ["by itself", "자동"],
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

// ---------------------------------------------------------------- words for ids
/** An id we know no word for: spaces instead of its separators, never the bare id. */
function spaced(id) { return String(id ?? "").replace(/[._:]+/g, " ").trim() || "—"; }

/** The word `<prefix>_<value>`, else the value spaced out. */
function known(prefix, value) {
  const w = word(prefix, value);
  return w === value ? spaced(value) : w;
}

export const levelWord = (lv) => known("lv", lv);
export const eventTypeWord = (type) => known("ev", type);
export const stateWord = (s) => (s ? known("s", s) : "?");
export const connectionWord = (c) => (c ? known("c", c) : "—");
export const statusWord = (st) => known("st", st);
export const commandWord = (a) => known("cmd", a);
export const alarmKindWord = (kind) => known("ak", kind);
export const severityWord = (sv) => known("sv", sv);
export const outcomeWord = (o) => known("to", o);
export const taskKindWord = (k) => known("tk", k);
export const transportWord = (tr) => known("tr", tr);
/** A role in words ("staff" -> 직원). */
export const roleWord = (r) => known("role", r);

const REASONS = [
  [/^robot reported (\w+)$/, (m) => `${t("r_reported")}: ${stateWord(m[1])}`],
  [/^robot offline$/, () => t("r_offline")],
  [/^robot stopped cooking$/, () => t("r_stopped_cooking")],
  [/^robot dropped the delivery$/, () => t("r_dropped_delivery")],
  [/^command failed: (\w+)$/, (m) => `${t("r_command_failed")}: ${known("rs", m[1])}`],
  [/^(\w+)$/, (m) => known("rs", m[1])],
];

/** A reason in words: a code ("timeout", "robot_offline") or a gateway's sentence
 *  ("robot offline", "command failed: timeout"); other text as it is. */
export function reasonWord(text) {
  if (!text) return "";
  for (const [re, fn] of REASONS) {
    const m = re.exec(text);
    if (m) return fn(m);
  }
  return text;
}

// ---------------------------------------------------------------- events
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
    else if (k === "order") out.push(tf("ed_order", { v: String(v).slice(-6) }));
    else if (k === "auto") { if (v) out.push(t("auto")); }
    else if (["table", "battery", "stock", "low_stock", "attempts", "lost"].includes(k)) out.push(tf(`ed_${k}`, { v }));
    else out.push(`${k.replace(/_/g, " ")} ${v}`);
  }
  return out;
}

/** An event's data as a sentence in the page's language (the robot is said separately).
 *  `onLoaded` is called when an order it names has loaded (redraw then). */
export function eventText(e, onLoaded) {
  const d = e.data || {};
  const join = (head, rest) => [head, ...rest].filter(Boolean).join(" · ");
  switch (e.type) {
    case "robot.connection":
      return join(`${d.previous ? connectionWord(d.previous) : "?"} → ${connectionWord(d.state)}`,
        d.reason ? [reasonWord(d.reason)] : []);
    case "robot.state":
      return join(`${stateWord(d.previous)} → ${stateWord(d.state)}`,
        [d.task ? taskText(d.task, onLoaded) : "", d.reason && d.reason !== d.state ? reasonWord(d.reason) : ""]);
    case "robot.transition_refused":
      return tf("refused_to", { from: stateWord(d.from), to: stateWord(d.to) });
    case "robot.event":
      return join(known("re", d.name), detailWords(d.data, onLoaded));
    case "command.sent":
      return join(commandWord(d.action), [d.source ? tf("by_user", { v: d.source }) : ""]);
    case "command.acked":
      return join(commandWord(d.action), [t("cmd_acked")]);
    case "command.failed":
      return join(commandWord(d.action), [reasonWord(d.reason || "refused"), d.detail || ""]);
    case "command.duplicate":
      return commandWord(d.action);
    case "order.status":
      return join(`${d.table ? `${t("table")} ${d.table}` : tf("ed_order", { v: String(d.order || "").slice(-6) })}`,
        [`${d.previous ? `${statusWord(d.previous)} → ` : ""}${statusWord(d.status)}`]);
    case "task.assigned": case "task.released":
      return join(taskText(d.task || `${d.order}:d`, onLoaded), [d.reason ? reasonWord(d.reason) : "", d.attempt > 1 ? tf("ed_attempts", { v: d.attempt }) : ""]);
    case "inventory.low":
      return join(d.name, detailWords({ stock: d.stock, low_stock: d.low_stock }));
    case "registry.changed":
      return join(robotName(d.robot), [known("rc", d.change)]);
    case "alarm.raised": case "alarm.cleared": case "alarm.acked": case "alarm.escalated":
      return join(`${alarmKindWord(d.kind)} (${severityWord(d.severity)})`,
        [e.type === "alarm.acked" && d.by ? tf("by_user", { v: d.by }) : ""]);
    default:
      return detailWords(d, onLoaded).join(" · ") || "—";
  }
}
