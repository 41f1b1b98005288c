"""Request and answer models of /api/alarms."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from web.http.schemas import Offset, Query, Request, RobotId
from web.http.schemas import RowId as Id

Severity = Literal["critical", "major", "minor"]
Kind = Literal[
    "estop", "fault", "vda_fatal", "offline", "stale", "battery_low", "delivery_failed", "system"
]
State = Literal["needs_ack", "active", "open", "all"]


class AlarmPath(Query):
    alarm_id: Id


class AlarmsQuery(Query):
    # needs_ack: what the banner shows (not acknowledged; cleared minor alarms need none);
    # active: the condition still holds; open: either; all: every alarm ever raised
    state: State = "open"
    severity: list[Severity] = []
    kind: list[Kind] = []
    robot: RobotId | None = None
    limit: Annotated[int, Meta(ge=1, le=500)] = 100
    offset: Offset = 0


class AckIn(Request):
    note: Annotated[str, Meta(max_length=500)] = ""


class AlarmHistory(Struct, kw_only=True):
    action: Literal["raised", "repeated", "cleared", "acked", "escalated"]
    at: datetime
    by: str  # the user, or the event type that did it
    detail: dict[str, Any]


class AlarmOut(Struct, kw_only=True):
    id: int
    key: str  # the condition, e.g. "estop:serve-1": raised again, it is this alarm again
    kind: Kind
    severity: Severity
    latched: bool  # true: needs an acknowledgement even after it cleared
    robot: str
    order: str
    detail: dict[str, Any]
    count: int  # times raised while open
    raised_at: datetime
    last_at: datetime
    cleared_at: datetime | None
    acked_at: datetime | None
    acked_by: str
    ack_note: str
    escalated_at: datetime | None
    active: bool  # the condition still holds
    needs_ack: bool  # shown in the banner until someone acknowledges it
    history: list[AlarmHistory] | None = None  # GET /api/alarms/{id} only


class AlarmList(Struct, kw_only=True):
    items: list[AlarmOut]  # newest first
    total: int  # matching the filters
    needs_ack: int  # every alarm that needs an acknowledgement, whatever the filters
