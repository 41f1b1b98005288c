"""The outbound event types, and how stream entries become them (sans-IO)."""

from __future__ import annotations

from typing import Any, Final

import orjson

from robodine.redisio.keys import KEYS

ORDER_TYPES: Final = tuple(
    f"order.{s}" for s in ("placed", "cooking", "ready", "delivering", "delivered", "cancelled")
)
JOB_TYPES: Final = ("job.completed", "job.failed", "job.cancelled")
EVENT_TYPES: Final = (*ORDER_TYPES, "alarm", *JOB_TYPES)


def event_id(stream: str, sid: str) -> str:
    """The idempotency key: one per stream entry, the same on every retry and endpoint."""
    return f"evt_{KEYS.short(stream)}_{sid}"


def outbound(stream: str, sid: str, fields: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
    """(event type, data) for an entry integrators may subscribe to, else None."""
    if stream == KEYS.events:
        data = orjson.loads(fields.get("data") or "{}")
        if fields.get("type") == "order.status" and f"order.{data.get('status')}" in ORDER_TYPES:
            return f"order.{data['status']}", {
                "order": data.get("order"),
                "status": data.get("status"),
                "previous": data.get("previous"),
                "table": data.get("table"),
                "robot": fields.get("robot", ""),
            }
        if fields.get("level") == "alarm":
            return "alarm", {
                "event": fields.get("type", ""),
                "robot": fields.get("robot", ""),
                "data": data,
            }
        return None
    if stream == KEYS.jobs and f"job.{fields.get('status')}" in JOB_TYPES:
        out: dict[str, Any] = {
            "job": fields.get("job"),
            "kind": fields.get("kind"),
            "status": fields.get("status"),
        }
        if fields.get("error"):
            out["error"] = fields["error"]
        if fields.get("data"):
            out["result"] = orjson.loads(fields["data"])
        return f"job.{fields['status']}", out
    return None
