"""Cross-cutting HTTP behaviour: request ids, problem+json errors, size limit, CORS, gzip.

Two middlewares, outermost first: ``context`` (request id, CORS preflight)
and ``errors`` (body limit, the handler, problem+json for what it raised,
gzip of what it answered). Each step is a function of its own; they share
two layers because every layer costs each request a partial call and a
coroutine (bench rest: five layers were a sixth of a request's Python).
CORS response headers are added in ``on_response_prepare`` so streamed
responses (SSE) get them too. CORS answers only the configured origins,
echoes the one that matched with ``Vary: Origin``, and never sends ``*`` or
``Allow-Credentials`` (tokens travel in headers, not cookies; STACK-NOTES 7).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from config.logging import request_id
from web.keys import REQUEST_ID, SETTINGS
from web.problems import Problem

log = structlog.get_logger("web.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ALLOW_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Request-ID"
EXPOSE_HEADERS = "Location, Retry-After, X-Request-ID"


# Request ids made here: this process's random prefix and a counter (32 hex digits, as a
# uuid4's), unique across processes and restarts without a urandom call per request.
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count()


@web.middleware
async def context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request id (the client's X-Request-ID if sane) on every log line and response;
    CORS preflights answered before anything else.

    Not unbound after: aiohttp runs each request in a task of its own, whose
    context copy ends with it (aiohttp #3406).
    """
    rid = request.headers.get("X-Request-ID")
    if rid is None or not _REQUEST_ID.match(rid):
        rid = f"{_ID_PREFIX}{next(_id_counter):016x}"
    request[REQUEST_ID] = rid
    request_id.set(rid)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return _preflight(request)
    return await handler(request)


def _preflight(request: web.Request) -> web.Response:
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
    """The handler's answer (gzipped when big and welcome), or problem+json for what it raised."""
    try:
        if request.content_length is not None:
            _check_body_size(request)
        resp = await handler(request)
    except Problem as p:
        return p.response(request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_problem(request, exc)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.warning("redis_unavailable", path=request.path, error=str(exc))
        return Problem(
            503,
            "redis_unavailable",
            "Redis is not reachable; try again shortly",
            headers={"Retry-After": "2"},
        ).response(request.path)
    except DBAPIError as exc:
        return _database_problem(request, exc)
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
        return _internal(request)
    if "gzip" in request.headers.get(hdrs.ACCEPT_ENCODING, ""):
        _maybe_gzip(request, resp)
    return resp


def _check_body_size(request: web.Request) -> None:
    """Refuse a declared oversize body before reading it (aiohttp checks streamed ones)."""
    limit = request.app[SETTINGS].web.max_body_bytes
    if (request.content_length or 0) > limit:
        raise Problem(413, "body_too_large", f"the body is larger than {limit} bytes")


def _http_problem(request: web.Request, exc: web.HTTPException) -> web.Response:
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


def _database_problem(request: web.Request, exc: DBAPIError) -> web.Response:
    if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
        log.exception("database_error", path=request.path)
        return _internal(request)
    log.warning("database_unavailable", path=request.path, error=str(exc.orig))
    return Problem(
        503,
        "database_unavailable",
        "the database is not reachable; try again",
        headers={"Retry-After": "2"},
    ).response(request.path)


def _internal(request: web.Request) -> web.Response:
    return Problem(
        500,
        "internal",
        "internal error; see the server log",
        extra={"request_id": request[REQUEST_ID]},
    ).response(request.path)


def _maybe_gzip(request: web.Request, resp: web.StreamResponse) -> None:
    """For a client that accepts gzip: compress a big JSON answer not already encoded."""
    if (
        type(resp) is web.Response
        and resp.body is not None
        and hdrs.CONTENT_ENCODING not in resp.headers  # already encoded (web/microcache.py)
        and len(resp.body) >= request.app[SETTINGS].web.gzip_min_bytes  # type: ignore[arg-type]
    ):
        resp.enable_compression()


async def on_prepare(request: web.Request, resp: web.StreamResponse) -> None:
    """Headers every response gets, streamed ones included."""
    h = resp.headers
    rid = request.get(REQUEST_ID)
    if rid is not None:
        h["X-Request-ID"] = rid
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/") and "Cache-Control" not in h:
        h["Cache-Control"] = "no-store"
    origin = request.headers.get("Origin")
    if origin is not None:
        vary = h.get("Vary")
        h["Vary"] = f"{vary}, Origin" if vary else "Origin"
        if origin in request.app[SETTINGS].web.origins:
            h["Access-Control-Allow-Origin"] = origin
            h["Access-Control-Expose-Headers"] = EXPOSE_HEADERS

