"""The chat rooms you may read, and GET /ws/chat/{room}: a room over WebSocket."""

from __future__ import annotations

from aiohttp import web
from msgspec import Struct

from web.chat.socket import chat_socket
from web.http import auth
from web.http.api import Routes
from web.http.schemas import Query, StreamIdStr
from web.keys import SETTINGS
from web.security import ALL_ROLES

routes = Routes("chat", "Kitchen and floor chat rooms: which you may read, and each room's socket.")


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


class RoomOut(Struct, kw_only=True):
    name: str
    title: str
    can_post: bool
    max_chars: int  # the longest message a room takes (chat.max_chars)


class RoomList(Struct, kw_only=True):
    items: list[RoomOut]


@routes.route(
    "GET", "/api/chat/rooms", summary="Chat rooms you may read", roles=ALL_ROLES, response=RoomList
)
async def rooms(request: web.Request) -> RoomList:
    """The `[[chat.rooms]]` your role may read (join them at /ws/chat/{name})."""
    user = await auth.authenticate(request)
    chat = request.app[SETTINGS].chat
    return RoomList(
        items=[
            RoomOut(
                name=r.name,
                title=r.title or r.name,
                can_post=user.role in r.write_roles,
                max_chars=chat.max_chars,
            )
            for r in chat.rooms
            if user.role in r.read_roles
        ]
    )
