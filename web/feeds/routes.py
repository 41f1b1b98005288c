"""The topic feeds' endpoints: /api/stream/{topic} (SSE) and /ws/{topic} (WebSocket)."""

from __future__ import annotations

from aiohttp import web

from web.feeds.request import FeedQuery
from web.feeds.sse import topic_stream
from web.feeds.ws import topic_socket
from web.http.api import Routes
from web.security import ALL_ROLES

routes = Routes("topics")


@routes.route(
    "GET",
    "/api/stream/{topic}",
    summary="A topic as Server-Sent Events",
    roles=ALL_ROLES,
    query=FeedQuery,
    token_query=True,
    raw=True,
    response_type="text/event-stream",
    errors=(401, 403, 404, 422, 503),
)
async def stream(request: web.Request) -> web.StreamResponse:
    """Each event's `data` is the same JSON object as the WebSocket frame and its `id` the
    stream id, so EventSource resumes by itself (Last-Event-ID). Filters as in /api/topics."""
    return await topic_stream(request)


@routes.route(
    "GET",
    "/ws/{topic}",
    summary="A topic over WebSocket",
    roles=ALL_ROLES,
    query=FeedQuery,
    token_query=True,
    raw=True,
    status=101,
    errors=(401, 403, 404, 422, 503),
)
async def websocket(request: web.Request) -> web.StreamResponse:
    """Upgrade to a WebSocket: `hello`, then `snapshot` (or the missed entries with `since`),
    then one JSON frame per entry. Close codes: docs/api.md."""
    return await topic_socket(request)
