"""What every answer goes through: request ids, problem+json errors, size limit, CORS, gzip,
and the headers every answer carries.

Not an aiohttp middleware: ``Edge.add_route`` wraps each route's handler once, when the
route is added (web/http/api.py, web/http/openapi.py), and one catch-all route added last
(``Edge.add_fallback``) answers what no route takes: 404, 405 with ``Allow``, and CORS
preflights. With even one middleware, aiohttp builds a chain per request with a layer of
its own (its current_app fix-up), and an ``on_response_prepare`` signal costs every
answer an await; on a polled GET both are a measurable share of the request
(docs/performance.md). Answers a handler prepares itself (SSE,
WebSocket handshakes) are sent before the wrapper sees them, so those handlers call
``before_stream`` just before they prepare. CORS answers only the configured origins,
echoes the one that matched with ``Vary: Origin``, and never sends ``*`` or
``Allow-Credentials`` (tokens travel in headers, not cookies).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import uuid
from time import perf_counter

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from multidict import istr
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from config.logging import request_id
from config.settings import WebSettings
from web.http.problems import Problem
from web.keys import EDGE, REQUEST_ID
from web.metrics import UNROUTED, WebMetrics

log = structlog.get_logger("web.http")

_MAX_REFUSED_LOGGED = 100  # distinct refused origins logged; a flood of made-up ones is not
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ALLOW_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Request-ID"
EXPOSE_HEADERS = "Location, Retry-After, X-Request-ID"
# istr: a header name the multidict need not case-fold on every request (as aiohttp.hdrs)
X_REQUEST_ID = istr("X-Request-ID")
X_CONTENT_TYPE_OPTIONS = istr("X-Content-Type-Options")
REFERRER_POLICY = istr("Referrer-Policy")
STRICT_TRANSPORT_SECURITY = istr("Strict-Transport-Security")
HSTS = "max-age=31536000"  # a year; no includeSubDomains: the box's name is not a domain of ours
# aiohttp's own Server header names aiohttp's and Python's versions: a map of known bugs.
SERVER_NAME = "robodine"


# Request ids made here: this process's random prefix and a counter (32 hex digits, as a
# uuid4's), unique across processes and restarts without a urandom call per request.
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count()


class Edge:
    """The wrapper every handler gets, with the settings it needs read once."""

    def __init__(self, settings: WebSettings, metrics: WebMetrics | None = None) -> None:
        self.metrics = metrics  # requests by route template and status, latency
        self.origins = frozenset(settings.origins)
        self.max_body = settings.max_body_bytes
        self.gzip_min = settings.gzip_min_bytes
        self.feed_send_buffer = settings.feed_send_buffer_bytes
        self.hsts = settings.tls_cert is not None  # only over TLS: the browser then keeps to it
        self._fallback: web.AbstractResource | None = None
        self._refused: set[str] = set()  # origins already logged as refused

    def origin_refused(self, origin: str, path: str) -> Problem:
        """The 403 for an Origin not in web.origins, logged once per origin with the list:
        a dashboard opened at an address nobody added would otherwise just reconnect."""
        if origin not in self._refused and len(self._refused) < _MAX_REFUSED_LOGGED:
            self._refused.add(origin)
            log.warning(
                "origin_refused",
                origin=origin,
                path=path,
                allowed=sorted(self.origins),
                hint="add it to web.origins (env ROBODINE_WEB_ORIGINS, JSON or a comma list)",
            )
        return Problem(
            403,
            "origin_not_allowed",
            f"origin {origin!r} is not allowed: add it to web.origins",
            field="Origin",
            extra={"in": "header"},
        )

    def add_route(
        self,
        app: web.Application,
        method: str,
        path: str,
        handler: Handler,
        name: str | None = None,
        *,
        check_body: bool = True,
    ) -> web.AbstractRoute:
        """Add ``handler`` for ``method path``, wrapped (``wrap``)."""
        return app.router.add_route(
            method, path, self.wrap(handler, path, check_body=check_body), name=name
        )

    def wrap(
        self, handler: Handler, path: str | None = None, *, check_body: bool = True
    ) -> Handler:
        """``handler`` with a request id, problem+json for what it raises, gzip, headers.

        ``path``: the route's, when it has one path: whether its answers are the API's
        (``no-store`` by default) is then known here, not looked up per request.
        ``check_body=False``: the handler streams its body and enforces a limit of its own
        (uploads), so a Content-Length over ``web.max_body_bytes`` is not refused here.
        """
        origins, max_body, gzip_min, hsts = self.origins, self.max_body, self.gzip_min, self.hsts
        api = None if path is None else _is_api(path)
        counted = None if self.metrics is None else self.metrics.route(path or UNROUTED)

        async def answer(request: web.Request) -> web.StreamResponse:
            """A request id (the client's X-Request-ID if sane) on every log line and
            answer; the handler's answer (gzipped when big and welcome), or problem+json
            for what it raised; the common headers.

            The request id is not unbound after: aiohttp runs each request in a task of
            its own, whose context copy ends with it (aiohttp #3406).
            """
            started = perf_counter()
            headers = request.headers
            rid = headers.get(X_REQUEST_ID)
            if rid is None or not _REQUEST_ID.match(rid):
                rid = f"{_ID_PREFIX}{next(_id_counter):016x}"
            request[REQUEST_ID] = rid
            request_id.set(rid)
            # One try around the handler, not a helper coroutine: each await of a
            # coroutine of our own is a frame and a coroutine object per request.
            resp: web.StreamResponse
            try:
                if check_body and hdrs.CONTENT_LENGTH in headers:  # the header: no call
                    _check_body_size(request, max_body)
                resp = await handler(request)
            except Problem as p:
                resp = p.response(request.path)
            except web.HTTPException as exc:
                if exc.status < 400:  # a redirect: aiohttp sends it
                    common_headers(request, exc, rid, origins, api, hsts)
                    if counted is not None:
                        counted.answered(request.method, exc.status, started)
                    raise
                resp = _http_problem(request, exc, max_body)
            except (asyncio.CancelledError, ConnectionResetError):
                raise
            except Exception as exc:  # each kind answered in _failure
                resp = _failure(request, exc)
            else:
                if "gzip" in headers.get(hdrs.ACCEPT_ENCODING, ""):
                    _maybe_gzip(resp, gzip_min)
            # A handler's own stream (SSE, WebSocket) went out before: before_stream did this.
            if type(resp) is web.Response or not resp.prepared:
                common_headers(request, resp, rid, origins, api, hsts)
                if counted is not None:
                    counted.answered(request.method, resp.status, started)
            elif counted is not None:  # a stream, counted when it ends; its length is no latency
                counted.answered(request.method, resp.status, None)
            return resp

        answer.__name__ = getattr(handler, "__name__", answer.__name__)
        answer.__doc__ = handler.__doc__
        return answer

    def add_fallback(self, app: web.Application) -> None:
        """The route for every method and path no other route takes; added last."""
        self._fallback = app.router.add_route("*", "/{tail:.*}", self.wrap(self._unrouted)).resource

    async def _unrouted(self, request: web.Request) -> web.StreamResponse:
        """A CORS preflight, else 405 (the path has other methods) or 404."""
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return _preflight(request, self)
        allowed: set[str] = set()
        for resource in request.app.router.resources():
            if resource is not self._fallback:
                allowed |= (await resource.resolve(request))[1]
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise web.HTTPNotFound()


def common_headers(
    request: web.Request,
    resp: web.StreamResponse,
    rid: str | None,
    origins: frozenset[str],
    api: bool | None = None,
    hsts: bool = False,
) -> None:
    """Headers every answer gets: a Server without versions, request id, nosniff, no
    referrer, no-store for the API (unless the handler chose its caching), and CORS for an
    allowed Origin. ``api``: whether the answer is the API's, when the route says (None: the
    request's path decides). ``hsts``: the server speaks TLS (web.tls_cert), so browsers
    are told to keep to HTTPS."""
    h = resp.headers
    h[hdrs.SERVER] = SERVER_NAME
    if hsts:
        h[STRICT_TRANSPORT_SECURITY] = HSTS
    if rid is not None:
        h[X_REQUEST_ID] = rid
    h.setdefault(X_CONTENT_TYPE_OPTIONS, "nosniff")
    h.setdefault(REFERRER_POLICY, "no-referrer")
    if hdrs.CACHE_CONTROL not in h:
        if api is None:
            api = _is_api(request.path)
        if api:
            h[hdrs.CACHE_CONTROL] = "no-store"
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None:
        vary = h.get(hdrs.VARY)
        if vary is None:
            h[hdrs.VARY] = "Origin"
        elif "Origin" not in vary:
            h[hdrs.VARY] = f"{vary}, Origin"
        if origin in origins:
            h[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            h[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSE_HEADERS


def _is_api(path: str) -> bool:
    """Answers under /api/ are not cached unless their handler says otherwise."""
    return path.startswith("/api/")


def before_stream(request: web.Request, resp: web.StreamResponse) -> None:
    """For an answer its handler prepares itself (SSE, WebSocket), just before ``prepare``:
    the common headers (``prepare`` sends them) and a bounded kernel send buffer.

    The buffer: a feed's socket left to the kernel's autotuning can hold up to
    net.ipv4.tcp_wmem's maximum (4 MB here) for a client that reads slowly, and what
    waits there is seconds old when it is read; the server's own latest-wins merge only
    starts once the socket stops taking data (web/feeds/subscription.py).
    """
    edge = request.app[EDGE]
    common_headers(request, resp, request.get(REQUEST_ID), edge.origins, hsts=edge.hsts)
    if edge.feed_send_buffer and request.transport is not None:
        sock = request.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, edge.feed_send_buffer)


def _preflight(request: web.Request, edge: Edge) -> web.Response:
    origin = request.headers.get("Origin", "")
    if origin not in edge.origins:
        return edge.origin_refused(origin, request.path).response(request.path)
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


HTTP_CODES = {
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


def _failure(request: web.Request, exc: Exception) -> web.Response:
    """503 when a backing service is away (Redis, the database, a refused connection),
    else 500, logged with the traceback (called in the except block: exc_info is set)."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        log.warning("redis_unavailable", path=request.path, error=str(exc))
        return _unavailable(
            request, "redis_unavailable", "Redis is not reachable; try again shortly"
        )
    if isinstance(exc, DBAPIError):
        return _database_problem(request, exc)
    if isinstance(exc, ConnectionRefusedError | TimeoutError):
        log.warning("dependency_unavailable", path=request.path, error=str(exc))
        return _unavailable(
            request, "service_unavailable", "a backing service is not reachable; try again"
        )
    log.exception("request_failed", path=request.path, method=request.method)
    return _internal(request)


def _check_body_size(request: web.Request, limit: int) -> None:
    """Refuse a declared oversize body before reading it (aiohttp checks streamed ones)."""
    if (request.content_length or 0) > limit:
        raise Problem(413, "body_too_large", f"the body is larger than {limit} bytes")


def _http_problem(request: web.Request, exc: web.HTTPException, max_body: int) -> web.Response:
    detail = exc.text or exc.reason
    if exc.status == 413:
        detail = f"the body is larger than {max_body} bytes"
    elif exc.status == 404:
        detail = f"nothing at {request.path}"
    elif exc.status == 405:
        detail = f"{request.method} is not allowed on {request.path}"
    headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
    return Problem(
        exc.status,
        HTTP_CODES.get(exc.status, f"http_{exc.status}"),
        str(detail).removeprefix(f"{exc.status}: "),
        headers=headers,
    ).response(request.path)


def _database_problem(request: web.Request, exc: DBAPIError) -> web.Response:
    if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
        log.exception("database_error", path=request.path)
        return _internal(request)
    log.warning("database_unavailable", path=request.path, error=str(exc.orig))
    return _unavailable(request, "database_unavailable", "the database is not reachable; try again")


def _unavailable(request: web.Request, code: str, detail: str) -> web.Response:
    """503: a backing service is away; clients retry after a short wait."""
    return Problem(503, code, detail, headers={"Retry-After": "2"}).response(request.path)


def _internal(request: web.Request) -> web.Response:
    return Problem(
        500,
        "internal",
        "internal error; see the server log",
        extra={"request_id": request[REQUEST_ID]},
    ).response(request.path)


def _maybe_gzip(resp: web.StreamResponse, gzip_min: int) -> None:
    """For a client that accepts gzip: compress a big JSON answer not already encoded."""
    if (
        type(resp) is web.Response
        and resp.body is not None
        and hdrs.CONTENT_ENCODING not in resp.headers  # already encoded (web/http/microcache.py)
        and len(resp.body) >= gzip_min  # type: ignore[arg-type]
    ):
        resp.enable_compression()
