// Every label in Korean and English; Korean first when the browser says so.
const STRINGS = {
  app: ["Robodine", "로보다인"],
  login: ["Log in", "로그인"],
  logout: ["Log out", "로그아웃"],
  username: ["User name", "사용자 이름"],
  password: ["Password", "비밀번호"],
  login_failed: ["Wrong user name or password", "사용자 이름 또는 비밀번호가 틀립니다"],
  login_error: ["Cannot log in", "로그인할 수 없습니다"],
  reconnecting: ["Reconnecting…", "다시 연결하는 중…"],
  connected: ["Live", "실시간"],
  language: ["Language", "언어"],
  floor: ["Floor", "홀 지도"],
  robots: ["Robots", "로봇"],
  orders: ["Orders", "주문"],
  chat: ["Chat", "채팅"],
  events: ["Events", "이벤트"],
  todos: ["Todos", "할 일"],
  robot: ["Robot", "로봇"],
  kind: ["Kind", "종류"],
  connection: ["Connection", "연결"],
  state: ["State", "상태"],
  battery: ["Battery", "배터리"],
  task: ["Task", "작업"],
  position: ["Position", "위치"],
  close: ["Close", "닫기"],
  dock: ["Send to dock", "충전소로 보내기"],
  pause: ["Pause", "일시 정지"],
  resume: ["Resume", "재개"],
  estop: ["E-stop", "비상 정지"],
  release: ["Release", "해제"],
  command_sent: ["Command sent", "명령을 보냈습니다"],
  command_failed: ["Command refused", "명령이 거부되었습니다"],
  kitchen_pass: ["Kitchen pass", "주방 패스"],
  table: ["Table", "테이블"],
  new_order: ["New order", "새 주문"],
  place_order: ["Place order", "주문하기"],
  cancel: ["Cancel", "취소"],
  cancel_order: ["Cancel order", "주문 취소"],
  pickup: ["Guest took it", "손님 수령 확인"],
  last_command: ["Last command", "최근 명령"],
  cmd_sent: ["sent", "전송됨"],
  cmd_acked: ["done", "완료"],
  cmd_failed: ["failed", "실패"],
  total: ["Total", "합계"],
  note: ["Note", "메모"],
  quantity: ["Qty", "수량"],
  empty_order: ["Choose at least one dish", "메뉴를 하나 이상 고르세요"],
  order_placed: ["Order placed", "주문이 접수되었습니다"],
  st_placed: ["Placed", "접수"],
  st_cooking: ["Cooking", "조리 중"],
  st_ready: ["Ready", "준비 완료"],
  st_delivering: ["Delivering", "서빙 중"],
  st_delivered: ["Delivered", "서빙 완료"],
  st_cancelled: ["Cancelled", "취소됨"],
  room: ["Room", "방"],
  send: ["Send", "보내기"],
  message: ["Message", "메시지"],
  online: ["Online", "접속 중"],
  read_only: ["You can read this room only", "이 방은 읽기만 할 수 있습니다"],
  level: ["Level", "수준"],
  type: ["Type", "유형"],
  all: ["All", "전체"],
  time: ["Time", "시간"],
  details: ["Details", "내용"],
  add_todo: ["Add", "추가"],
  new_todo: ["New todo", "새 할 일"],
  done: ["Done", "완료"],
  delete: ["Delete", "삭제"],
  nothing: ["Nothing here yet", "아직 없습니다"],
  unknown: ["unknown", "알 수 없음"],
  c_online: ["online", "연결됨"],
  c_stale: ["stale", "응답 지연"],
  c_offline: ["offline", "연결 끊김"],
  s_idle: ["idle", "대기"],
  s_ready: ["dish ready", "조리 완료"],
  s_loading: ["loading", "적재 중"],
  k_serving: ["serving", "서빙"],
  k_cooking: ["cooking", "조리"],
  goto: ["Go to", "이동"],
  cook: ["Cook", "조리"],
  cancel_cmd: ["Cancel task", "작업 취소"],
  pickup_done: ["Pickup done", "수령 완료"],
  s_assigned: ["assigned", "배정됨"],
  s_en_route: ["en route", "이동 중"],
  s_at_table: ["at table", "테이블 도착"],
  s_returning: ["returning", "복귀 중"],
  s_charging: ["charging", "충전 중"],
  s_cooking: ["cooking", "조리 중"],
  s_paused: ["paused", "일시 정지"],
  s_error: ["error", "오류"],
  s_estop: ["e-stop", "비상 정지"],
  jobs: ["Jobs", "작업 목록"],
  progress: ["Progress", "진행률"],
  error: ["Error", "오류"],
  download: ["Download", "내려받기"],
  report_day: ["Day", "날짜"],
  sales_report: ["Sales report", "매출 보고서"],
  start_job: ["Start", "시작"],
  jk_sales_report: ["Sales report", "매출 보고서"],
  jk_robot_logs: ["Robot logs", "로봇 로그"],
  jk_analysis: ["Analysis", "분석"],
  js_queued: ["queued", "대기 중"],
  js_running: ["running", "실행 중"],
  js_cancelling: ["cancelling", "취소 중"],
  js_completed: ["completed", "완료"],
  js_failed: ["failed", "실패"],
  js_cancelled: ["cancelled", "취소됨"],
  photo: ["Photo", "사진"],
  origin_refused: ["This address is not allowed: add it to web.origins", "이 주소는 허용되지 않습니다: web.origins에 추가하세요"],
};

const KEY = "robodine.lang";
export let lang = localStorage.getItem(KEY) ||
  ((navigator.language || "en").toLowerCase().startsWith("ko") ? "ko" : "en");

export function setLang(next) {
  lang = next === "ko" ? "ko" : "en";
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang;
}
document.documentElement.lang = lang;

/** The label for `key` in the current language (the key itself when unknown). */
export function t(key) {
  const s = STRINGS[key];
  return s ? s[lang === "ko" ? 1 : 0] : key;
}

/** A state or connection word, translated when we know it. */
export function word(prefix, value) {
  if (!value) return "—";
  const k = `${prefix}_${value}`;
  return STRINGS[k] ? t(k) : value;
}

const won = new Intl.NumberFormat("ko-KR", { style: "currency", currency: "KRW" });
/** Prices are in won (minor unit = 1 won). */
export function money(minor, currency = "KRW") {
  if (currency !== "KRW") return `${minor} ${currency}`;
  return won.format(minor);
}

export function clock(tsOrIso) {
  const d = typeof tsOrIso === "number" ? new Date(tsOrIso * 1000) : new Date(tsOrIso);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; // same in both languages
}

/** More labels, kept by the module that uses them: {key: [English, Korean]}. */
export function addStrings(more) { Object.assign(STRINGS, more); }

/** `t(key)` with each `{name}` filled from `values`. */
export function tf(key, values = {}) {
  return t(key).replace(/\{(\w+)\}/g, (m, k) => (values[k] === undefined || values[k] === null ? m : String(values[k])));
}

/** How long ago, in the page's language: "3분 전", "3 minutes ago" ("now" under a minute). */
export function ago(tsOrIso, now = Date.now()) {
  const then = typeof tsOrIso === "number" ? tsOrIso * 1000 : Date.parse(tsOrIso);
  const min = Math.floor((now - then) / 60000);
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  if (min < 1) return rtf.format(0, "second");
  if (min < 60) return rtf.format(-min, "minute");
  return rtf.format(-Math.floor(min / 60), "hour");
}

/** Every label with its two languages (the translation test reads it). */
export function allStrings() { return STRINGS; }
