"""GET /ws/{topic}: hello, snapshot (or the missed entries), then live frames
(latest-wins topics: everything pending for the client in one ``batch`` message).

Everything that can be refused (origin, token, role, unknown topic, bad
``since``/``max_hz``/filters) is refused with a problem+json 4xx *before* the
upgrade; after it, the socket ends with a close code (docs/api.md).
"""

from __future__ import annotations

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from web.feeds.connections import Lease
from web.feeds.hub import FeedEnded
from web.feeds.request import FeedRequest, hello, open_feed, start_feed
from web.feeds.socket import SocketSession
from web.feeds.subscription import Delivery
from web.keys import FEEDS, HUB

log = structlog.get_logger("web.ws")

CLOSE_TRY_AGAIN = 1013


async def topic_socket(request: web.Request) -> web.StreamResponse:
    fr = await open_feed(request, sse=False)
    with request.app[FEEDS].open(request, "ws") as lease:  # a limit reached: 429/503 here
        return await _serve(request, fr, lease)


async def _serve(request: web.Request, fr: FeedRequest, lease: Lease) -> web.StreamResponse:
    start, sub = await start_feed(request, fr)  # Redis down: a 503 before the upgrade
    lease.attach(sub)  # a revoked token ends the subscription, and so the socket
    hub = request.app[HUB]
    conn = SocketSession(request, fr.user, lease=lease)
    await conn.prepare()

    async def pump() -> None:
        await conn.send(hello(request, fr, start))
        if start.snapshot is not None:
            await conn.send(start.snapshot)
        sub.direct = conn.try_write  # live batches may now be written from the hub's loop
        while True:
            try:
                frames = await hub.next_frames(sub)
            except FeedEnded as end:
                await conn.close(end.code, end.reason)
                return
            except RedisError as exc:
                log.warning("feed_redis_error", topic=fr.topic.name, error=str(exc))
                await conn.close(CLOSE_TRY_AGAIN, "redis unavailable; reconnect with since")
                return
            if sub.delivery is Delivery.LATEST:
                await conn.send_batch(frames)  # one message per wake-up (docs/api.md)
            else:
                await conn.send_many(frames)

    async with hub.subscribe(sub):
        log.info(
            "feed_opened",
            topic=fr.topic.name,
            user=fr.user.username,
            transport="ws",
            resumed=start.resumed,
        )
        await conn.run(pump)
    log.info(
        "feed_closed",
        topic=fr.topic.name,
        user=fr.user.username,
        transport="ws",
        sent=conn.sent,
        close_code=conn.ws.close_code,
    )
    return conn.ws
