"""GET /api/stream/{topic}: the topic feed as Server-Sent Events.

Same frames as the WebSocket (``data:`` is the JSON object), with the stream
id as the SSE ``id`` so a browser's EventSource resumes by itself through
``Last-Event-ID``. Notices (hello, lagging) carry no id and so never move the
cursor. SSE has no close code: a ``goodbye`` event says why the stream ends.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from web.feeds.connections import Lease
from web.feeds.frames import Frame, Goodbye, frame
from web.feeds.hub import FeedEnded
from web.feeds.request import FeedRequest, hello, open_feed, start_feed
from web.feeds.socket import CLOSE_TOKEN_EXPIRED
from web.http.edge import before_stream
from web.keys import FEEDS, HUB, SETTINGS

log = structlog.get_logger("web.sse")


def encode(f: Frame) -> bytes:
    head = f"event: {f.name}\n" + (f"id: {f.id}\n" if f.id is not None else "")
    return (head + f"data: {f.text}\n\n").encode()


async def topic_stream(request: web.Request) -> web.StreamResponse:
    return await serve_feed(request, await open_feed(request, sse=True))


async def serve_feed(request: web.Request, fr: FeedRequest) -> web.StreamResponse:
    """Stream one checked feed request (a topic, or a view of one such as an order's events)."""
    with request.app[FEEDS].open(request, "sse") as lease:  # a limit reached: 429/503 here
        return await _stream(request, fr, lease)


async def _stream(request: web.Request, fr: FeedRequest, lease: Lease) -> web.StreamResponse:
    start, sub = await start_feed(request, fr)
    lease.attach(sub)  # a revoked token ends the subscription: goodbye 4001
    hub = request.app[HUB]
    settings = request.app[SETTINGS].web
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
        }
    )
    sent = 0
    async with hub.subscribe(sub):
        before_stream(request, resp)
        await resp.prepare(request)
        log.info(
            "feed_opened",
            topic=fr.topic.name,
            user=fr.user.username,
            transport="sse",
            resumed=start.resumed,
        )
        try:
            await resp.write(b"retry: 2000\n\n" + encode(hello(request, fr, start)))
            if start.snapshot is not None:
                await resp.write(encode(start.snapshot))
            while True:
                left = fr.user.expires - time.time()
                if left <= 0:
                    await resp.write(
                        encode(frame(Goodbye(code=CLOSE_TOKEN_EXPIRED, reason="token expired")))
                    )
                    break
                try:
                    frames = await hub.next_frames(sub, idle=min(settings.sse_ping_s, left))
                except FeedEnded as end:
                    goodbye = Goodbye(code=end.code, reason=end.reason, since=end.since)
                    await resp.write(encode(frame(goodbye)))
                    break
                except RedisError as exc:
                    log.warning("feed_redis_error", topic=fr.topic.name, error=str(exc))
                    await resp.write(encode(frame(Goodbye(code=1013, reason="redis unavailable"))))
                    break
                if not frames:
                    await resp.write(b": ping\n\n")
                    continue
                async with asyncio.timeout(settings.ws_send_timeout_s):
                    await resp.write(b"".join(encode(f) for f in frames))
                sent += len(frames)
        except (ConnectionError, TimeoutError):
            pass  # the client went away (or stopped reading)
    log.info("feed_closed", topic=fr.topic.name, user=fr.user.username, transport="sse", sent=sent)
    return resp
