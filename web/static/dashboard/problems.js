// Server problems (RFC 9457 bodies, socket error frames) in the page's language. The `code`
// is stable and the values come as members (`item`, `needed`, `left`, `retry_after` ...), so
// the message is ours, never the server's English `detail` with its "body:" prefix.
import { addStrings, t, tf } from "./i18n.js";
import { roleWord } from "./words.js";

addStrings({
  p_invalid_field: ["That value is not valid ({field})", "입력값이 올바르지 않습니다 ({field})"],
  p_invalid_field_plain: ["That value is not valid", "입력값이 올바르지 않습니다"],
  p_bad_request: ["The request could not be read", "요청을 처리할 수 없습니다"],
  p_login_again: ["Your session has ended; log in again", "세션이 끝났습니다. 다시 로그인하세요"],
  p_forbidden: ["Your role ({role}) may not do that", "이 역할({role})로는 할 수 없습니다"],
  p_forbidden_plain: ["You may not do that", "권한이 없습니다"],
  p_origin: ["This address may not use the dashboard (web.origins)", "이 주소에서는 대시보드를 쓸 수 없습니다 (web.origins)"],
  p_not_found: ["Not found; it may have been removed", "찾을 수 없습니다. 삭제되었을 수 있습니다"],
  p_delivered: ["This order was delivered already", "이미 서빙 완료된 주문입니다"],
  p_order_status: ["This order is {status} now", "이 주문은 지금 '{status}' 상태입니다"],
  p_conflict: ["Someone changed this meanwhile; look again and retry", "그사이 다른 곳에서 바뀌었습니다. 확인 후 다시 시도하세요"],
  p_last_admin: ["The last admin cannot be removed", "마지막 관리자는 삭제할 수 없습니다"],
  p_out_of_stock: ["{item}: not enough in stock (needs {needed}, {left} left)", "{item}: 재고가 부족합니다 ({needed}개 필요, {left}개 남음)"],
  p_out_of_ingredient: ["{item}: not enough {short_of} (needs {needed}, {left} left)", "{item}: 재료 {short_of}이(가) 부족합니다 ({needed} 필요, {left} 남음)"],
  p_item_unavailable: ["{item} cannot be ordered now", "{item}: 지금은 주문할 수 없습니다"],
  p_table_unavailable: ["Table {table} is out of service", "테이블 {table}은(는) 사용 중지 상태입니다"],
  p_too_many_attempts: ["Too many failed logins; try again in {n} s", "로그인 실패가 너무 많습니다. {n}초 후에 다시 시도하세요"],
  p_too_many_attempts_plain: ["Too many failed logins; try again shortly", "로그인 실패가 너무 많습니다. 잠시 후 다시 시도하세요"],
  p_rate_limited: ["Too fast; you can send again in {n} s", "너무 빨리 보내고 있습니다. {n}초 후에 보낼 수 있습니다"],
  p_too_many_feeds: ["Too many open screens; close some tabs", "열린 화면이 너무 많습니다. 탭을 몇 개 닫으세요"],
  p_unavailable_server: ["The server is busy for a moment; try again", "서버가 잠시 응답하지 않습니다. 다시 시도하세요"],
  p_too_large: ["That is too large to send", "보내기에는 너무 큽니다"],
  p_internal: ["Server error (request {request_id})", "서버 오류 (요청 {request_id})"],
  p_content_empty: ["The message is empty", "메시지가 비어 있습니다"],
  p_content_long: ["The message is too long", "메시지가 너무 깁니다"],
  p_content_control: ["The message contains a character that cannot be sent", "메시지에 보낼 수 없는 문자가 있습니다"],
  p_unknown_room: ["There is no such chat room", "그런 채팅방이 없습니다"],
  p_read_only: ["You can read this room only", "이 방은 읽기만 할 수 있습니다"],
  p_network: ["The server cannot be reached; check the network", "서버에 연결할 수 없습니다. 네트워크를 확인하세요"],
  p_other: ["Something went wrong ({code})", "문제가 생겼습니다 ({code})"],
});

/** Seconds to wait, rounded up, from a problem's `retry_after` (or null). */
export function waitSeconds(p) {
  const s = Number(p.retry_after);
  return Number.isFinite(s) && s > 0 ? Math.max(1, Math.ceil(s)) : null;
}

const STATUS_WORDS = ["placed", "cooking", "ready", "delivering", "delivered", "cancelled"];

/** The message for an ApiError, a problem body or a socket error frame. */
export function problemText(err) {
  const p = (err && err.problem) || err || {};
  const code = p.code || "";
  switch (code) {
    case "invalid_field": return p.field ? tf("p_invalid_field", { field: p.field }) : t("p_invalid_field_plain");
    case "invalid_json": case "unsupported_media_type": case "bad_message": return t("p_bad_request");
    case "missing_token": case "invalid_token": case "token_expired": return t("p_login_again");
    case "invalid_credentials": return t("login_failed");
    case "forbidden": return p.role ? tf("p_forbidden", { role: roleWord(p.role) }) : t("p_forbidden_plain");
    case "origin_not_allowed": return t("p_origin");
    case "not_found": return t("p_not_found");
    case "conflict":
      if (p.order_status === "delivered") return t("p_delivered");
      if (STATUS_WORDS.includes(p.order_status)) return tf("p_order_status", { status: t(`st_${p.order_status}`) });
      return t("p_conflict");
    case "last_admin": return t("p_last_admin");
    case "out_of_stock":
      if (p.short_of && p.short_of !== p.item) return tf("p_out_of_ingredient", p);
      return tf("p_out_of_stock", p);
    case "unavailable": return p.table ? tf("p_table_unavailable", p) : tf("p_item_unavailable", { item: p.item || "" });
    case "too_many_attempts": {
      const n = waitSeconds(p);
      return n ? tf("p_too_many_attempts", { n }) : t("p_too_many_attempts_plain");
    }
    case "rate_limited": return tf("p_rate_limited", { n: waitSeconds(p) || 1 });
    case "too_many_feeds": case "feeds_full": return t("p_too_many_feeds");
    case "redis_unavailable": case "database_unavailable": case "queue_unavailable": case "store_unavailable":
      return t("p_unavailable_server");
    case "body_too_large": case "upload_too_large": case "store_full": return t("p_too_large");
    case "internal": return tf("p_internal", { request_id: p.request_id || "?" });
    case "invalid_content": return contentText(p.detail || "");
    case "unknown_room": return t("p_unknown_room");
    default: break;
  }
  if (!code && err instanceof TypeError) return t("p_network"); // fetch: no answer at all
  return tf("p_other", { code: code || p.status || "?" });
}

function contentText(detail) {
  if (detail.includes("empty")) return t("p_content_empty");
  if (detail.includes("longer")) return t("p_content_long");
  return t("p_content_control");
}
