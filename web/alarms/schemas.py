"""Request and answer models of /api/alarms."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from web.http.schemas import Offset, Query, Request, RobotId, doc
from web.http.schemas import RowId as Id

Severity = Literal["critical", "major", "minor"]
Kind = Literal[
    "estop", "fault", "vda_fatal", "offline", "stale", "battery_low", "delivery_failed", "system"
]
State = Literal["needs_ack", "active", "open", "all"]


class AlarmPath(Query):
    alarm_id: Id


class AlarmsQuery(Query):
    state: Annotated[
        State,
        doc(
            "`needs_ack`: what the banner shows (not acknowledged; cleared minor alarms need "
            "none); `active`: the condition still holds; `open`: either; `all`: every alarm "
            "ever raised"
        ),
    ] = "open"
    severity: Annotated[list[Severity], doc("only these severities (repeat it for several)")] = []
    kind: Annotated[list[Kind], doc("only these kinds (repeat it for several)")] = []
    robot: RobotId | None = None
    limit: Annotated[int, Meta(ge=1, le=500, description="rows per page")] = 100
    offset: Offset = 0


class AckIn(Request):
    note: Annotated[
        str, Meta(max_length=500, description="why, or what was done", examples=["reset e-stop"])
    ] = ""


class AlarmHistory(Struct, kw_only=True):
    action: Annotated[
        Literal["raised", "repeated", "cleared", "acked", "escalated"],
        doc("what happened to the alarm", "raised"),
    ]
    at: Annotated[datetime, doc("when")]
    by: Annotated[str, doc("the user, or the event type that did it", "robot.state")]
    detail: Annotated[dict[str, Any], doc("what the event or the user said")]


class AlarmOut(Struct, kw_only=True):
    id: Annotated[int, doc("the alarm's id", 1)]
    key: Annotated[
        str,
        doc("the condition: raised again while open, it is this alarm again", "estop:serve-1"),
    ]
    kind: Annotated[Kind, doc("what kind of condition", "estop")]
    severity: Annotated[Severity, doc("`critical`, `major` or `minor`", "critical")]
    latched: Annotated[bool, doc("true: needs an acknowledgement even after it cleared")]
    robot: Annotated[str, doc("the robot it is about, or empty", "serve-1")]
    order: Annotated[str, doc("the order it is about, or empty")]
    detail: Annotated[
        dict[str, Any], doc("what the events that raised it said (a repeat adds to it)")
    ]
    count: Annotated[int, doc("times raised while open", 1)]
    raised_at: Annotated[datetime, doc("when it was first raised")]
    last_at: Annotated[datetime, doc("when it was last raised (first time or repeated)")]
    cleared_at: Annotated[datetime | None, doc("when the condition ended; null while it holds")]
    acked_at: Annotated[datetime | None, doc("when it was acknowledged; null before")]
    acked_by: Annotated[str, doc("who acknowledged it, or empty")]
    ack_note: Annotated[str, doc("the acknowledgement's note")]
    escalated_at: Annotated[
        datetime | None,
        doc("when it was posted to `alarms.escalate_room` for want of an acknowledgement"),
    ]
    active: Annotated[bool, doc("the condition still holds")]
    needs_ack: Annotated[bool, doc("shown in the banner until someone acknowledges it")]
    history: Annotated[
        list[AlarmHistory] | None, doc("what happened to it, oldest first; GET one alarm only")
    ] = None


class AlarmList(Struct, kw_only=True):
    items: Annotated[list[AlarmOut], doc("this page, newest first")]
    total: Annotated[int, doc("alarms matching the filters, over all pages")]
    needs_ack: Annotated[
        int, doc("every alarm that needs an acknowledgement, whatever the filters")
    ]
