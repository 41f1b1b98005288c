"""The answers aiohttp makes itself, before any route: problem+json and one log line.

A request aiohttp cannot parse (a header line over its limit, a NUL in a
header, a bad request line) never reaches a route, so the edge cannot answer
it: aiohttp's ``RequestHandler.handle_error`` does, with a text/plain body and
the parser's traceback logged, 12 lines per request, which anyone can send
without logging in. aiohttp has no setting for it (aio-libs/aiohttp#3287), so
``ProblemHandler`` overrides that method, and ``Runner`` (the ``web.AppRunner``
`robodine web` runs) serves connections with it: its server is aiohttp's, made
the same way, whose protocol factory makes a ``ProblemHandler`` instead.

The problem never echoes the request (a too-long line may be a header with a
token in it); the log line names the parser's error class and the client.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import hdrs, web
from aiohttp.http_exceptions import LineTooLong

from web.http.edge import HTTP_CODES, SERVER_NAME
from web.http.problems import Problem

log = structlog.get_logger("web.http")


class ProblemHandler(web.RequestHandler):
    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """problem+json for aiohttp's own error answers; a traceback only for a 5xx."""
        if status >= 500:  # a bug, not a client: aiohttp logs it with its traceback
            super().handle_error(request, status, exc, message)
        else:
            log.info(
                "http_bad_request", status=status, error=type(exc).__name__, remote=request.remote
            )
            if request.writer.output_size > 0:  # as aiohttp: the answer has begun, cannot redo it
                raise ConnectionError("the response is sent already; cannot send an error")
        resp = Problem(
            status, HTTP_CODES.get(status, f"http_{status}"), _detail(status, exc)
        ).response()
        resp.headers[hdrs.SERVER] = SERVER_NAME
        resp.force_close()
        return resp


def _detail(status: int, exc: BaseException | None) -> str:
    if isinstance(exc, LineTooLong):
        return f"a request line or header is longer than {exc.args[1]} bytes"
    if status >= 500:
        return "internal error; see the server log"
    if exc is None:
        return "the request is not valid"
    return f"the request is not valid HTTP ({type(exc).__name__})"


class _Server(web.Server):
    """aiohttp's server whose connections are ``ProblemHandler``s."""

    def __call__(self) -> web.RequestHandler:
        return ProblemHandler(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """``web.AppRunner`` whose server answers aiohttp's own errors as problem+json."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return _Server(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )
