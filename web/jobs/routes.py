"""/api/jobs: submit a background job, follow it (REST, SSE, the `jobs` topic), cancel it."""

from __future__ import annotations

import msgspec
from aiohttp import web

from web.feeds.request import FeedQuery, FeedRequest, check_origin, parse_feed
from web.feeds.sse import serve_feed
from web.feeds.subscription import Filter
from web.http import auth
from web.http.api import Routes, parse_path
from web.http.jsonutil import json_response
from web.http.problems import not_found
from web.jobs.registry import KINDS
from web.jobs.schemas import JobIn, JobKindOut, JobKinds, JobList, JobOut, JobPath, JobsQuery
from web.jobs.service import JobService
from web.keys import DB, JOBS, SETTINGS, TOPICS, USER
from web.security import ALL_ROLES, WRITERS

routes = Routes(
    "jobs",
    "Background jobs run by `robodine worker`: a sales report, a robot's log bundle, an "
    "analysis by the external service. Progress as SSE and on the `jobs` topic. Submit and "
    "cancel: staff, admin.",
)


def _service(request: web.Request) -> JobService:
    return JobService(request.app[DB], request.app[JOBS], request.app[SETTINGS])


@routes.route(
    "GET",
    "/api/jobs/kinds",
    summary="The job kinds and their input",
    roles=ALL_ROLES,
    response=JobKinds,
)
async def job_kinds(request: web.Request) -> JobKinds:
    """The kinds of job there are, the JSON schema of each one's `input`, and how long an
    attempt may take."""
    s = request.app[SETTINGS]
    return JobKinds(
        items=[
            JobKindOut(
                name=k.name,
                summary=k.summary,
                timeout_s=k.timeout_s(s),
                input=msgspec.json.schema(k.input),
            )
            for k in sorted(KINDS.values(), key=lambda k: k.name)
        ]
    )


@routes.route(
    "POST",
    "/api/jobs",
    summary="Submit a job",
    roles=WRITERS,
    body=JobIn,
    response=JobOut,
    status=202,
    errors=(503,),
    response_headers=("Location",),
)
async def submit_job(request: web.Request, body: JobIn) -> web.Response:
    """`kind` must be one of /api/jobs/kinds (422 `unknown_job_kind`) and `input` match its
    schema (422 naming `input.<field>`). Answers 202 with the job, `queued`."""
    job = await _service(request).submit(body, request[USER].username)
    return json_response(job, status=202, headers={"Location": f"/api/jobs/{job.id}"})


@routes.route(
    "GET",
    "/api/jobs",
    summary="List jobs, newest first",
    roles=ALL_ROLES,
    query=JobsQuery,
    response=JobList,
)
async def list_jobs(request: web.Request, query: JobsQuery) -> JobList:
    """Every job ever submitted (SQL keeps the history); filter by `status`, `kind`."""
    items, total = await _service(request).page(query)
    return JobList(items=items, total=total)


@routes.route(
    "GET", "/api/jobs/{job_id}", summary="One job", roles=ALL_ROLES, params=JobPath, response=JobOut
)
async def get_job(request: web.Request, params: JobPath) -> JobOut:
    """One job: status, progress, message, attempts, input, result or error, and the URL of its
    progress feed."""
    return await _service(request).get(params.job_id)


@routes.route(
    "POST",
    "/api/jobs/{job_id}/cancel",
    summary="Cancel a job",
    roles=WRITERS,
    params=JobPath,
    response=JobOut,
    status=202,
    errors=(409, 503),
)
async def cancel_job(request: web.Request, params: JobPath) -> JobOut:
    """A queued job is `cancelled` at once; a running one becomes `cancelling` and its worker
    stops it within a second. A finished job: 409 `job_finished`."""
    return await _service(request).cancel(params.job_id, request[USER].username)


@routes.route(
    "GET",
    "/api/jobs/{job_id}/events",
    summary="One job's progress as Server-Sent Events",
    roles=ALL_ROLES,
    params=JobPath,
    query=FeedQuery,
    token_query=True,
    raw=True,
    response_type="text/event-stream",
    errors=(401, 403, 404, 422, 503),
)
async def job_events(request: web.Request) -> web.StreamResponse:
    """The `jobs` topic for this job alone: `hello`, a `snapshot` with the job, then a `job`
    event per change, each with its rd:jobs id as SSE `id`: a reconnect with `Last-Event-ID`
    (EventSource does it by itself) gets exactly what it missed, also from another web
    process or after a restart."""
    check_origin(request)
    user = await auth.authenticate(request, allow_query=True)
    auth.require(user, ALL_ROLES)
    params = parse_path(request, JobPath)
    await _service(request).get(params.job_id)  # 404 for an unknown job
    topic = request.app[TOPICS].get("jobs")
    if topic is None:  # pragma: no cover - a custom registry without jobs
        raise not_found("topic", "jobs")
    _, since, _ = parse_feed(request, topic, last_event_id=True)
    fr = FeedRequest(topic, user, Filter.make(keys=[params.job_id]), since, None)
    return await serve_feed(request, fr)
