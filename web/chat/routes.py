"""The chat rooms you may read, and GET /ws/chat/{room}: a room over WebSocket."""

from __future__ import annotations

from typing import Annotated

import structlog
from aiohttp import web

from web.chat.rooms import RoomService
from web.chat.schemas import (
    RoomAdminOut,
    RoomIn,
    RoomList,
    RoomOut,
    RoomPatch,
    RoomPath,
    RoomsQuery,
)
from web.chat.socket import chat_socket
from web.http import auth
from web.http.api import Routes
from web.http.jsonutil import json_response
from web.http.schemas import Query, StreamIdStr, doc
from web.keys import CHAT, DB, SETTINGS, USER
from web.security import ADMINS, ALL_ROLES

log = structlog.get_logger("web.chat")
routes = Routes(
    "chat",
    "Chat rooms: the config's `[[chat.rooms]]` and those admins add, which you may read, and "
    "each room's socket.",
)


class ChatQuery(Query):
    since: Annotated[
        StreamIdStr | None, doc("resume after this message id: the history frame is then empty")
    ] = None
    token: Annotated[
        str | None, doc("the bearer token (browsers cannot set headers on WebSockets)")
    ] = None


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


def _rooms(request: web.Request) -> RoomService:
    return RoomService(request.app[DB], request.app[CHAT].config_rooms)


@routes.route(
    "GET",
    "/api/chat/rooms",
    summary="Chat rooms you may read",
    roles=ALL_ROLES,
    query=RoomsQuery,
    response=RoomList,
)
async def rooms(request: web.Request, query: RoomsQuery) -> RoomList:
    """The rooms your role may read (join them at /ws/chat/{name}): the config's
    `[[chat.rooms]]` and those admins added. `?archived=true` (admins): the archived ones."""
    user = request[USER]
    max_chars = request.app[SETTINGS].chat.max_chars
    if query.archived:
        auth.require(user, ADMINS)
        return RoomList(
            items=[
                RoomOut(
                    name=r.name,
                    title=r.title or r.name,
                    can_post=False,
                    max_chars=max_chars,
                    source="api",
                    archived=True,
                )
                for r in await _rooms(request).list(archived=True)
            ]
        )
    chat = request.app[CHAT]
    return RoomList(
        items=[
            RoomOut(
                name=name,
                title=t.room.title or name,
                can_post=chat.can_write(name, user),
                max_chars=max_chars,
                source="config" if name in chat.config_rooms else "api",
            )
            for name, t in chat.rooms.items()
            if chat.can_read(name, user)
        ]
    )


@routes.route(
    "POST",
    "/api/chat/rooms",
    summary="Add a chat room",
    roles=ADMINS,
    body=RoomIn,
    response=RoomAdminOut,
    status=201,
    errors=(409,),
    response_headers=("Location",),
)
async def create_room(request: web.Request, body: RoomIn) -> web.Response:
    """Kept in SQL; every web process opens it within a moment (`rd:chatrooms`), this one
    before it answers. A name in use, here or in `[[chat.rooms]]`, is a 409."""
    out = await _rooms(request).create(body, request[USER].username)
    await request.app[CHAT].announce_rooms(out.name, "created")
    log.info("chat_room_created", room=out.name, by=request[USER].username)
    return json_response(out, status=201, headers={"Location": f"/ws/chat/{out.name}"})


@routes.route(
    "PATCH",
    "/api/chat/rooms/{name}",
    summary="Rename, re-role, archive or reopen a chat room",
    roles=ADMINS,
    params=RoomPath,
    body=RoomPatch,
    response=RoomAdminOut,
    errors=(409,),
)
async def update_room(request: web.Request, params: RoomPath, body: RoomPatch) -> RoomAdminOut:
    """Only rooms added through the API (the config's: 409). Renaming changes the `title`
    (the `name` is the room's id). Archiving closes its sockets with 4004 and keeps its
    messages; `archived: false` reopens it with them."""
    out = await _rooms(request).update(params.name, body)
    await request.app[CHAT].announce_rooms(out.name, "archived" if out.archived else "updated")
    log.info("chat_room_updated", room=out.name, archived=out.archived, by=request[USER].username)
    return out
