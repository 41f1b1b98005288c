"""``GET /api/origin``: whether the dashboard's own address is one web.origins allows.

A browser gives a page no reason when a WebSocket handshake is refused (only close
code 1006), so a dashboard opened at an address nobody added to web.origins would
show "reconnecting" for ever. It asks here instead, and says what to change.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from msgspec import Meta, Struct

from web.http.api import Routes
from web.http.problems import Problem
from web.http.schemas import Query, doc
from web.keys import EDGE


class OriginQuery(Query):
    origin: (
        Annotated[
            str,
            Meta(
                max_length=300,
                description="the page's `location.origin`; without it, the Origin header",
                examples=["http://127.0.0.1:8080"],
            ),
        ]
        | None
    ) = None


class OriginOut(Struct, kw_only=True):
    origin: Annotated[str, doc("the origin that was checked", "http://127.0.0.1:8080")]
    allowed: Annotated[bool, doc("true: it may open WebSockets and SSE feeds")]
    setting: Annotated[str, doc("the setting that lists the allowed origins", "web.origins")]


routes = Routes("origin", "Whether a browser's origin may open feeds (no login).")


@routes.route(
    "GET",
    "/api/origin",
    summary="Is this origin allowed to open feeds?",
    roles=None,
    query=OriginQuery,
    response=OriginOut,
    errors=(422,),
)
async def origin_allowed(request: web.Request, query: OriginQuery) -> OriginOut:
    """`origin` (the page's `location.origin`) or else the request's Origin header. The
    allowed list itself is not shown: it is in the log line `origin_refused`."""
    origin = query.origin or request.headers.get("Origin")
    if not origin:
        raise Problem(
            422,
            "invalid_field",
            "query: origin is required (or an Origin header)",
            field="origin",
            extra={"in": "query"},
        )
    allowed = origin in request.app[EDGE].origins
    return OriginOut(origin=origin, allowed=allowed, setting="web.origins")
