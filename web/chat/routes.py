"""GET /ws/chat/{room}: a chat room over WebSocket."""

from __future__ import annotations

from aiohttp import web

from web.chat.socket import chat_socket
from web.http.api import Routes
from web.http.schemas import Query, StreamIdStr
from web.security import ALL_ROLES

routes = Routes("topics")


class ChatQuery(Query):
    since: StreamIdStr | None = None
    token: str | None = None


@routes.route(
    "GET",
    "/ws/chat/{room}",
    summary="A chat room over WebSocket",
    roles=ALL_ROLES,
    query=ChatQuery,
    token_query=True,
    raw=True,
    status=101,
    errors=(401, 403, 404, 422, 503),
)
async def chat(request: web.Request) -> web.StreamResponse:
    """`history` (last messages), `presence`, then `message` frames; send `{"content": "..."}`."""
    return await chat_socket(request)
