"""Request and answer models of /api/webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from web.http.schemas import Offset, Query, Request

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
    url: Url
    events: Events
    secret: Secret | None = None
    description: Annotated[str, Meta(max_length=200)] = ""


class EndpointPatch(Request):
    url: Url | UnsetType = UNSET
    events: Events | UnsetType = UNSET
    secret: Secret | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET  # true again resets the failure count


class EndpointOut(Struct, kw_only=True):
    id: int
    url: str
    events: list[str]
    description: str
    enabled: bool
    failures: int  # failed attempts in a row
    disabled_reason: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    secret: str | None = None  # only in the answer that created or changed it


class EndpointList(Struct, kw_only=True):
    items: list[EndpointOut]


class DeliveryOut(Struct, kw_only=True):
    id: str
    event_id: str  # the idempotency key, also in the body as `id`
    event_type: str
    status: Literal["pending", "delivered", "failed", "skipped"]
    attempts: int
    last_status: int | None  # HTTP status of the last attempt
    last_error: str
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class DeliveryList(Struct, kw_only=True):
    items: list[DeliveryOut]
    total: int


class EndpointPath(Query):
    endpoint_id: Annotated[int, Meta(ge=1, le=2**31 - 1)]


class DeliveriesQuery(Query):
    status: list[Literal["pending", "delivered", "failed", "skipped"]] = []
    limit: Annotated[int, Meta(ge=1, le=500)] = 100
    offset: Offset = 0


class AnalysisPath(Query):
    job_id: Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$")]


class AnalysisVerdict(Request):
    """What the analysis service POSTs (signed) when it is done."""

    status: Literal["completed", "failed"]
    result: dict[str, Any] = {}
    error: Annotated[str, Meta(max_length=2000)] = ""


class VerdictAnswer(Struct, kw_only=True):
    accepted: bool
    duplicate: bool  # an earlier delivery was stored already; this one changed nothing
