"""Liveness and readiness probes (no login: systemd, load balancers and monitors call them)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from aiohttp import web
from msgspec import Struct
from sqlalchemy import text

from web.http.api import Routes
from web.http.jsonutil import json_response
from web.http.schemas import doc
from web.keys import DB, HUB, REDIS, SESSION_ID, SETTINGS


class HealthOut(Struct, kw_only=True):
    status: Annotated[Literal["ok"], doc("always `ok`: the process runs")]
    server: Annotated[str, doc("`web.name`", "web-1")]
    session: Annotated[str, doc("changes when the process restarts (as in feeds' `hello`)")]


class ReadyOut(Struct, kw_only=True):
    status: Annotated[
        Literal["ready", "not_ready"],
        doc("`ready` when Redis, the database and the stream readers all answer"),
    ]
    redis: Annotated[str, doc("`ok`, or the error", "ok")]
    database: Annotated[str, doc("`ok`, or the error", "ok")]
    hub: Annotated[str, doc("`ok` when every stream reader runs, or which do not", "ok")]


routes = Routes("health", "Probes for process managers and load balancers.")


@routes.route("GET", "/health", summary="The process is alive", roles=None, response=HealthOut)
async def health(request: web.Request) -> HealthOut:
    """Answers as long as the event loop runs; checks nothing else."""
    return HealthOut(
        status="ok", server=request.app[SETTINGS].web.name, session=request.app[SESSION_ID]
    )


async def _check(coro: object, timeout: float = 2.0) -> str:
    try:
        async with asyncio.timeout(timeout):
            await coro  # type: ignore[misc]
    except Exception as exc:  # a probe reports every failure, whatever its kind
        return f"error: {type(exc).__name__}: {exc}"[:200]
    return "ok"


@routes.route(
    "GET",
    "/ready",
    summary="Redis and the database are reachable",
    roles=None,
    response=ReadyOut,
    errors=(503,),
)
async def ready(request: web.Request) -> web.Response:
    """200 when Redis answers PING, the database answers SELECT 1 and the hub reads; else 503."""

    async def db_ping() -> None:
        async with request.app[DB]() as s:
            await s.execute(text("SELECT 1"))

    async def hub_ready() -> str:
        return "ok" if await request.app[HUB].wait_ready(0.5) else "starting"

    # Side by side: a Redis that hangs costs /ready one reply timeout
    # (redis.request_timeout_s), or nothing while the circuit is open.
    redis, database, hub = await asyncio.gather(
        _check(request.app[REDIS].ping()), _check(db_ping()), hub_ready()
    )
    ok = redis == database == hub == "ok"
    body = ReadyOut(status="ready" if ok else "not_ready", redis=redis, database=database, hub=hub)
    return json_response(body, status=200 if ok else 503)
