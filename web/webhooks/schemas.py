"""Request and answer models of /api/webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from web.http.schemas import Offset, Query, Request, doc

EventType = Literal[
    "order.placed",
    "order.cooking",
    "order.ready",
    "order.delivering",
    "order.delivered",
    "order.cancelled",
    "alarm",
    "job.completed",
    "job.failed",
    "job.cancelled",
]
Url = Annotated[str, Meta(min_length=8, max_length=2000, description="http(s)://host[:port]/path")]
Secret = Annotated[
    str, Meta(min_length=24, max_length=200, description="HMAC key; omit it and one is generated")
]
Events = Annotated[list[EventType], Meta(min_length=1, max_length=20)]


class EndpointIn(Request):
    url: Annotated[
        Url,
        doc("where deliveries are POSTed (https, not this box)", "https://pos.example/robodine"),
    ]
    events: Annotated[Events, doc("the events it wants")]
    secret: Annotated[
        Secret | None,
        doc("signs each delivery (`Robodine-Signature`); made for you when not given"),
    ] = None
    description: Annotated[str, Meta(max_length=200), doc("for people")] = ""


class EndpointPatch(Request):
    url: Annotated[Url | UnsetType, doc("a new URL")] = UNSET
    events: Annotated[Events | UnsetType, doc("the events it wants")] = UNSET
    secret: Annotated[Secret | UnsetType, doc("a new signing secret")] = UNSET
    description: Annotated[Annotated[str, Meta(max_length=200)] | UnsetType, doc("for people")] = (
        UNSET
    )
    enabled: Annotated[bool | UnsetType, doc("true again resets the failure count")] = UNSET


class EndpointOut(Struct, kw_only=True):
    id: Annotated[int, doc("the endpoint's id")]
    url: Annotated[str, doc("where deliveries are POSTed")]
    events: Annotated[list[str], doc("the events it gets")]
    description: Annotated[str, doc("for people")]
    enabled: Annotated[
        bool, doc("false: nothing is delivered (an admin's choice, or too many failures)")
    ]
    failures: Annotated[int, doc("failed attempts in a row")]
    disabled_reason: Annotated[str, doc("why it was disabled, if it was")]
    created_by: Annotated[str, doc("the admin who added it")]
    created_at: Annotated[datetime, doc("when")]
    updated_at: Annotated[datetime, doc("its last change")]
    secret: Annotated[str | None, doc("only in the answer that created or changed it")] = None


class EndpointList(Struct, kw_only=True):
    items: Annotated[list[EndpointOut], doc("every endpoint")]


class DeliveryOut(Struct, kw_only=True):
    id: Annotated[str, doc("the delivery's id")]
    event_id: Annotated[str, doc("the idempotency key, also in the body as `id`")]
    event_type: Annotated[str, doc("what happened", "order.delivered")]
    status: Annotated[
        Literal["pending", "delivered", "failed", "skipped"],
        doc("pending, delivered, failed or skipped"),
    ]
    attempts: Annotated[int, doc("attempts so far")]
    last_status: Annotated[int | None, doc("HTTP status of the last attempt")]
    last_error: Annotated[str, doc("what went wrong last")]
    created_at: Annotated[datetime, doc("when it was queued")]
    updated_at: Annotated[datetime, doc("its last change")]
    delivered_at: Annotated[datetime | None, doc("when it was delivered")]
    payload: Annotated[dict[str, Any], doc("the body delivered")]


class DeliveryList(Struct, kw_only=True):
    items: Annotated[list[DeliveryOut], doc("this page, newest first")]
    total: Annotated[int, doc("deliveries that match, in all")]


class EndpointPath(Query):
    endpoint_id: Annotated[int, Meta(ge=1, le=2**31 - 1), doc("the endpoint")]


class DeliveriesQuery(Query):
    status: Annotated[
        list[Literal["pending", "delivered", "failed", "skipped"]], doc("only these statuses")
    ] = []
    limit: Annotated[int, Meta(ge=1, le=500), doc("deliveries per page at most")] = 100
    offset: Offset = 0


class AnalysisPath(Query):
    job_id: Annotated[
        str, Meta(pattern=r"^[0-9a-f]{32}$"), doc("the analysis job the verdict is for")
    ]


class AnalysisVerdict(Request):
    """What the analysis service POSTs (signed) when it is done."""

    status: Annotated[Literal["completed", "failed"], doc("`completed` or `failed`")]
    result: Annotated[dict[str, Any], doc("what the analysis found")] = {}
    error: Annotated[str, Meta(max_length=2000), doc("why it failed")] = ""


class VerdictAnswer(Struct, kw_only=True):
    accepted: Annotated[bool, doc("the verdict was stored")]
    duplicate: Annotated[
        bool, doc("an earlier delivery was stored already; this one changed nothing")
    ]
