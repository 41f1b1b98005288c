"""Request and answer models of /api/jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from web.http.schemas import Offset, Query, Request, doc

JobId = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]
StatusName = Literal["queued", "running", "cancelling", "completed", "failed", "cancelled"]


class JobIn(Request):
    kind: Annotated[str, Meta(max_length=32, description="GET /api/jobs/kinds lists them")]
    input: Annotated[
        dict[str, Any], doc("the kind's input (its JSON schema: `GET /api/jobs/kinds`)")
    ] = {}


class JobOut(Struct, kw_only=True):
    id: Annotated[str, doc("the job's id")]
    kind: Annotated[str, doc("its kind")]
    status: Annotated[
        StatusName, doc("queued, running, cancelling, completed, failed or cancelled", "running")
    ]
    progress: Annotated[float, doc("0 to 1", 0.4)]
    message: Annotated[str, doc("what the job is doing, or did last")]
    attempts: Annotated[
        int, doc("attempts started so far (a retry after a failure or a lost worker adds one)")
    ]
    input: Annotated[dict[str, Any], doc("what it was given")]
    result: Annotated[dict[str, Any] | None, doc("what it made (when completed)")]
    error: Annotated[
        str | None, doc("why it failed (or why the last attempt failed, while it retries)")
    ]
    created_by: Annotated[str, doc("who submitted it")]
    created_at: Annotated[datetime, doc("when")]
    started_at: Annotated[datetime | None, doc("when its first attempt began")]
    finished_at: Annotated[datetime | None, doc("when it ended")]
    events: Annotated[str, doc("its progress as Server-Sent Events")]


class JobList(Struct, kw_only=True):
    items: Annotated[list[JobOut], doc("this page, newest first")]
    total: Annotated[int, doc("jobs that match, in all")]


class JobKindOut(Struct, kw_only=True):
    name: Annotated[str, doc("the kind", "sales_report")]
    summary: Annotated[str, doc("what it does")]
    timeout_s: Annotated[int, doc("an attempt longer than this fails")]
    input: Annotated[dict[str, Any], doc("JSON schema of `input`")]


class JobKinds(Struct, kw_only=True):
    items: Annotated[list[JobKindOut], doc("every kind of job")]


class JobPath(Query):
    job_id: JobId


class JobsQuery(Query):
    status: Annotated[list[StatusName], doc("only these statuses")] = []
    kind: Annotated[Annotated[str, Meta(max_length=32)] | None, doc("only these kinds")] = None
    limit: Annotated[int, Meta(ge=1, le=500), doc("jobs per page at most")] = 100
    offset: Offset = 0
