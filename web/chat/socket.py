"""GET /ws/chat/{room}: history, presence, then live messages; members post ``{"content"}``."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from robodine.redisio.streamid import StreamId
from web.chat.service import Connection, check_content
from web.feeds.connections import Lease
from web.feeds.hub import FeedEnded
from web.feeds.request import _since, check_origin, queue_size
from web.feeds.socket import SocketSession
from web.feeds.subscription import Filter, Subscription
from web.http import auth
from web.http.problems import Problem
from web.keys import CHAT, FEEDS, HUB, METRICS, SETTINGS
from web.security import AuthUser

log = structlog.get_logger("web.chat")

_PARAMS = frozenset({"since", "token"})


async def chat_socket(request: web.Request) -> web.StreamResponse:
    check_origin(request)
    chat = request.app[CHAT]
    room = request.match_info["room"]
    if room not in chat.rooms:
        raise Problem(
            404,
            "unknown_room",
            f"no chat room {room!r}",
            field="room",
            extra={"in": "path", "rooms": sorted(chat.rooms)},
        )
    user = await auth.authenticate(request, allow_query=True)
    if not chat.can_read(room, user):
        raise Problem(403, "forbidden", f"room {room!r} is not open to role {user.role}")
    for key in request.query:
        if key not in _PARAMS or len(request.query.getall(key)) > 1:
            raise Problem(
                422,
                "invalid_field",
                f"query: unexpected parameter {key!r}",
                field=key,
                extra={"in": "query"},
            )
    since = _since(request.query.get("since"), "since")
    with request.app[FEEDS].open(request, "chat") as lease:  # a limit reached: 429/503 here
        return await _serve(request, room, user, since, lease)


async def _serve(
    request: web.Request, room: str, user: AuthUser, since: StreamId | None, lease: Lease
) -> web.StreamResponse:
    chat = request.app[CHAT]
    topic = chat.rooms[room]
    hub = request.app[HUB]
    start = await topic.start(hub.ctx, Filter(), since)
    sub = Subscription(
        topic, Filter(), cursor=start.cursor, queue_max=queue_size(request.app[SETTINGS].web)
    )
    lease.attach(sub)  # a revoked token ends the subscription, and so the socket
    conn = SocketSession(
        request, user, lease=lease, max_msg_size=16 * 1024 + 4 * chat.settings.max_chars
    )
    conn.max_bad = chat.settings.max_strikes
    member = Connection(room, user, sub)

    async def pump() -> None:
        assert start.snapshot is not None
        await conn.send(start.snapshot)
        while True:
            try:
                frames = await hub.next_frames(sub)
            except FeedEnded as end:
                await conn.close(end.code, end.reason)
                return
            except RedisError:
                await conn.close(1013, "redis unavailable; reconnect with since")
                return
            await conn.send_many(frames)

    async def on_message(data: dict[str, Any]) -> None:
        if set(data) != {"content"} or not isinstance(data["content"], str):
            bad = next((k for k in data if k != "content"), "content")
            await conn.reject(
                "bad_message", 'send {"content": "<text>"} and nothing else', field=bad
            )
            return
        if lease.ended is not None:  # revoked: the socket is closing, nothing more is posted
            return
        u = conn.user  # refreshed tokens may carry a new role
        if not chat.can_write(room, u):
            await conn.reject("forbidden", f"role {u.role} may read but not post in {room!r}")
            return
        try:
            content = check_content(data["content"], chat.settings.max_chars)
        except ValueError as exc:
            await conn.reject("invalid_content", str(exc), field="content")
            return
        wait = await chat.rate_wait(u.username)
        if wait:
            await conn.reject("rate_limited", "slow down", field="content", retry_after=wait)
            return
        conn.accepted()
        await chat.post(room, u.username, str(u.role), content)
        request.app[METRICS].chat_messages.labels(room).inc()

    await conn.prepare()
    async with hub.subscribe(sub):
        try:
            await chat.join(member)
        except RedisError:
            await conn.close(1013, "redis unavailable; try again")
            return conn.ws
        try:
            log.info("chat_joined", room=room, user=user.username)
            await conn.run(pump, on_message)
        finally:
            await chat.leave(member)
            log.info("chat_left", room=room, user=user.username, close_code=conn.ws.close_code)
    return conn.ws
