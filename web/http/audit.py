"""Audit events: every write an integration makes, in rd:events (type ``audit``) with its name.

Written after the answer, whatever it was (a refused write is worth knowing
about too). Best effort: with Redis away the write itself has most likely
failed (503); the audit event is then logged, not queued.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from protocol.streams import EventRecord, EventType, Level, to_fields
from robodine.redisio.keys import KEYS
from web.http.integration_auth import integration_of
from web.http.problems import Problem
from web.keys import REDIS, REQUEST_ID, SETTINGS, USER
from web.security import AuthUser

log = structlog.get_logger("web.audit")

WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def record(request: web.Request, user: AuthUser, status: int) -> None:
    app = request.app
    s = app[SETTINGS]
    resource = request.match_info.route.resource
    rec = EventRecord(
        eid=uuid.uuid4().hex,
        type=EventType.AUDIT,
        ts=time.time(),
        robot=request.match_info.get("robot_id", ""),
        level=Level.INFO,
        src=s.web.name,
        data={
            "actor": user.username,
            "integration": integration_of(user.username),
            "role": str(user.role),
            "method": request.method,
            "path": request.path,
            "route": resource.canonical if resource is not None else request.path,
            "status": status,
            "request_id": request.get(REQUEST_ID, ""),
        },
    )
    try:
        await app[REDIS].xadd(
            KEYS.events,
            dict(to_fields(rec)),  # type: ignore[arg-type]
            maxlen=s.redis.events_maxlen,
            approximate=True,
        )
    except RedisError as exc:
        log.warning("audit_write_failed", error=str(exc), **rec.data)


async def audited(
    request: web.Request, call: Callable[[], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """``call``'s answer; when the caller was an integration (known once its token was
    read, even if it was then refused), its audit event is written after it."""
    try:
        response = await call()
    except asyncio.CancelledError:
        raise
    except Problem as p:
        await _maybe(request, p.status)
        raise
    except web.HTTPException as exc:
        await _maybe(request, exc.status)
        raise
    except Exception:
        await _maybe(request, 500)
        raise
    await _maybe(request, response.status)
    return response


async def _maybe(request: web.Request, status: int) -> None:
    user = request.get(USER)
    if user is not None and integration_of(user.username) is not None:
        await record(request, user, status)
