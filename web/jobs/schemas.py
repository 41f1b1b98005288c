"""Request and answer models of /api/jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from web.http.schemas import Offset, Query, Request

JobId = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]
StatusName = Literal["queued", "running", "cancelling", "completed", "failed", "cancelled"]


class JobIn(Request):
    kind: Annotated[str, Meta(max_length=32, description="GET /api/jobs/kinds lists them")]
    input: dict[str, Any] = {}


class JobOut(Struct, kw_only=True):
    id: str
    kind: str
    status: StatusName
    progress: float  # 0..1
    message: str  # what the job is doing, or did last
    attempts: int  # attempts started so far (a retry after a failure or a lost worker adds one)
    input: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None  # why it failed (or why the last attempt failed, while it retries)
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    events: str  # its progress as Server-Sent Events


class JobList(Struct, kw_only=True):
    items: list[JobOut]
    total: int


class JobKindOut(Struct, kw_only=True):
    name: str
    summary: str
    timeout_s: int
    input: dict[str, Any]  # JSON schema of `input`


class JobKinds(Struct, kw_only=True):
    items: list[JobKindOut]


class JobPath(Query):
    job_id: JobId


class JobsQuery(Query):
    status: list[StatusName] = []
    kind: Annotated[str, Meta(max_length=32)] | None = None
    limit: Annotated[int, Meta(ge=1, le=500)] = 100
    offset: Offset = 0
