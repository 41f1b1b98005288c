"""Cross-cutting HTTP behaviour: request ids, problem+json errors, size limit, CORS, gzip.

Order (outermost first): context -> preflight -> errors -> body limit -> gzip.
CORS response headers are added in ``on_response_prepare`` so streamed
responses (SSE) get them too. CORS answers only the configured origins,
echoes the one that matched with ``Vary: Origin``, and never sends ``*`` or
``Allow-Credentials`` (tokens travel in headers, not cookies; STACK-NOTES 7).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from web.keys import REQUEST_ID, SETTINGS
from web.problems import Problem

log = structlog.get_logger("web.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ALLOW_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Request-ID"
EXPOSE_HEADERS = "Location, Retry-After, X-Request-ID"
_STARTED = web.RequestKey("started", float)


@web.middleware
async def context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request id (the client's X-Request-ID if sane) on every log line and response."""
    rid = request.headers.get("X-Request-ID", "")
    if not _REQUEST_ID.match(rid):
        rid = uuid.uuid4().hex
    request[REQUEST_ID] = rid
    request[_STARTED] = time.perf_counter()
    structlog.contextvars.bind_contextvars(request_id=rid)
    try:
        return await handler(request)
    finally:
        structlog.contextvars.unbind_contextvars("request_id")


@web.middleware
async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        origin = request.headers.get("Origin", "")
        if origin not in request.app[SETTINGS].web.origins:
            return Problem(
                403,
                "origin_not_allowed",
                f"origin {origin!r} is not allowed",
                field="Origin",
                extra={"in": "header"},
            ).response(request.path)
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
        )
    return await handler(request)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "body_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "headers_too_large",
}


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as p:
        return p.response(request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = exc.text or exc.reason
        if exc.status == 413:
            detail = f"the body is larger than {request.app[SETTINGS].web.max_body_bytes} bytes"
        elif exc.status == 404:
            detail = f"nothing at {request.path}"
        elif exc.status == 405:
            detail = f"{request.method} is not allowed on {request.path}"
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return Problem(
            exc.status,
            _HTTP_CODES.get(exc.status, f"http_{exc.status}"),
            str(detail).removeprefix(f"{exc.status}: "),
            headers=headers,
        ).response(request.path)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.warning("redis_unavailable", path=request.path, error=str(exc))
        return Problem(
            503,
            "redis_unavailable",
            "Redis is not reachable; try again shortly",
            headers={"Retry-After": "2"},
        ).response(request.path)
    except DBAPIError as exc:
        if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
            log.exception("database_error", path=request.path)
            return Problem(
                500,
                "internal",
                "internal error; see the server log",
                extra={"request_id": request[REQUEST_ID]},
            ).response(request.path)
        log.warning("database_unavailable", path=request.path, error=str(exc.orig))
        return Problem(
            503,
            "database_unavailable",
            "the database is not reachable; try again",
            headers={"Retry-After": "2"},
        ).response(request.path)
    except (ConnectionRefusedError, TimeoutError) as exc:
        log.warning("dependency_unavailable", path=request.path, error=str(exc))
        return Problem(
            503,
            "service_unavailable",
            "a backing service is not reachable; try again",
            headers={"Retry-After": "2"},
        ).response(request.path)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("request_failed", path=request.path, method=request.method)
        return Problem(
            500,
            "internal",
            "internal error; see the server log",
            extra={"request_id": request[REQUEST_ID]},
        ).response(request.path)


@web.middleware
async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a declared oversize body before reading it (aiohttp checks streamed ones)."""
    limit = request.app[SETTINGS].web.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, "body_too_large", f"the body is larger than {limit} bytes")
    return await handler(request)


@web.middleware
async def gzip(request: web.Request, handler: Handler) -> web.StreamResponse:
    resp = await handler(request)
    if (
        type(resp) is web.Response
        and resp.body is not None
        and len(resp.body) >= request.app[SETTINGS].web.gzip_min_bytes  # type: ignore[arg-type]
        and "gzip" in request.headers.get("Accept-Encoding", "")
    ):
        resp.enable_compression()
    return resp


async def on_prepare(request: web.Request, resp: web.StreamResponse) -> None:
    """Headers every response gets, streamed ones included."""
    h = resp.headers
    if REQUEST_ID in request:
        h["X-Request-ID"] = request[REQUEST_ID]
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/") and "Cache-Control" not in h:
        h["Cache-Control"] = "no-store"
    origin = request.headers.get("Origin")
    if origin is not None:
        h.add("Vary", "Origin")
        if origin in request.app[SETTINGS].web.origins:
            h["Access-Control-Allow-Origin"] = origin
            h["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


def elapsed_ms(request: web.BaseRequest) -> float | None:
    started = request.get(_STARTED)
    return None if started is None else round((time.perf_counter() - started) * 1000, 2)
