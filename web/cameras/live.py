"""Live views of one camera: MJPEG over HTTP (``multipart/x-mixed-replace``) and WebSocket.

Both are feeds like the topic feeds: Origin checked, a token (header or
``?token=``, since ``<img>`` and WebSocket cannot send headers), counted
against ``web.max_feeds_per_user`` and ``web.max_feeds``, ended when the token
expires or is revoked, and given a bounded send buffer. Each viewer takes the
newest frame when it is ready for one (web/cameras/hub.py): a slow viewer
skips frames, it never queues them; a write blocked ``web.ws_send_timeout_s``
ends the view.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
import structlog
from aiohttp import WSMsgType, web

from robodine.redisio.keys import KEYS
from web.cameras.context import CAMERA_HUB, CAMERA_PACER
from web.cameras.hub import LiveFrame
from web.cameras.schemas import VideoStreamPath
from web.feeds.connections import CLOSE_TOKEN_REVOKED, Lease
from web.feeds.hub import CLOSE_TOO_SLOW
from web.feeds.request import check_origin
from web.http import auth
from web.http.api import parse_path
from web.http.edge import before_stream
from web.http.problems import not_found
from web.keys import FEEDS, REDIS, SETTINGS, WEBSOCKETS
from web.security import ALL_ROLES, AuthUser

log = structlog.get_logger("web.cameras")

BOUNDARY = "robodine-frame"
IDLE_CHECK_S = 1.0  # how often a view without new frames checks its token and the server


async def open_view(request: web.Request) -> tuple[AuthUser, str, str]:
    """Everything a view can be refused for, before its answer starts: Origin, token,
    role, an unknown camera (404)."""
    check_origin(request)
    user = await auth.authenticate(request, allow_query=True)
    auth.require(user, ALL_ROLES)
    key = parse_path(request, VideoStreamPath).stream_id
    async with request.app[CAMERA_HUB].lookups:  # a burst of views leaves REST its pool
        known = await request.app[REDIS].hexists(KEYS.cameras, key)
    if not known:
        raise not_found("video stream", key)
    robot, camera = key.split(":", 1)
    return user, robot, camera


def _ended(request: web.Request, user: AuthUser, lease: Lease) -> str | None:
    if lease.ended is not None:
        return lease.ended[1]
    if user.expires <= time.time():
        return "token expired"
    if request.app[CAMERA_HUB].closing:
        return "server shutting down"
    return None


def _write_now(request: web.Request, frame: LiveFrame) -> bool:
    """The frame's one pre-built WebSocket message, written straight to the transport when
    the client has taken what was written before (its buffer at most the low-water mark),
    as the topic feeds do (web/feeds/socket.py); else False: the usual send, with its
    deadline."""
    t = request.transport
    if t is None or t.is_closing() or t.get_write_buffer_size() > t.get_write_buffer_limits()[0]:
        return False
    t.write(frame.ws_wire())
    return True


async def mjpeg(request: web.Request) -> web.StreamResponse:
    user, robot, camera = await open_view(request)
    with request.app[FEEDS].open(request, "video") as lease:
        resp = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            }
        )
        before_stream(request, resp)
        await resp.prepare(request)
        timeout = request.app[SETTINGS].web.ws_send_timeout_s
        pacer = request.app[CAMERA_PACER]
        sent, reason = 0, "client gone"
        async with request.app[CAMERA_HUB].watch(robot, camera) as viewer:
            while (ended := _ended(request, user, lease)) is None:
                frame = await viewer.next(IDLE_CHECK_S)
                if frame is None:
                    continue
                await pacer.turn()
                try:
                    async with asyncio.timeout(timeout):
                        await resp.write(frame.mjpeg_part(BOUNDARY))
                except TimeoutError:
                    reason = "send timed out: the client is not reading"
                    break
                except (ConnectionError, RuntimeError):  # gone (RuntimeError: transport closed)
                    break
                sent += 1
            else:
                reason = ended
        log.info(
            "video_view_closed",
            transport="mjpeg",
            camera=f"{robot}:{camera}",
            user=user.username,
            sent=sent,
            skipped=viewer.skipped,
            reason=reason,
        )
        with contextlib.suppress(ConnectionError, RuntimeError):
            await resp.write_eof()
        return resp


async def socket(request: web.Request) -> web.StreamResponse:
    """A text ``hello`` frame, then one binary message per frame (the JPEG as it is).
    The client sends nothing but pings; anything else closes the socket (1003)."""
    user, robot, camera = await open_view(request)
    with request.app[FEEDS].open(request, "video") as lease:
        s = request.app[SETTINGS].web
        ws = web.WebSocketResponse(heartbeat=s.ws_heartbeat_s, max_msg_size=4096, compress=False)
        before_stream(request, ws)
        await ws.prepare(request)
        request.app[WEBSOCKETS].add(ws)
        key = f"{robot}:{camera}"
        await ws.send_str(orjson.dumps({"type": "hello", "stream": key}).decode())
        pacer = request.app[CAMERA_PACER]
        sent, code, reason = 0, 1000, ""

        async def receive() -> None:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT or msg.data != '{"type":"ping"}':
                    await ws.close(code=1003, message=b"this socket only sends")
                    return
                await ws.send_str('{"type":"pong"}')

        reader = asyncio.create_task(receive())
        try:
            async with request.app[CAMERA_HUB].watch(robot, camera) as viewer:
                while not ws.closed and not reader.done():
                    ended = _ended(request, user, lease)
                    if ended is not None:
                        code, reason = (
                            (1001, ended) if "shutting" in ended else (CLOSE_TOKEN_REVOKED, ended)
                        )
                        break
                    frame = await viewer.next(IDLE_CHECK_S)
                    if frame is None:
                        continue
                    await pacer.turn()
                    if _write_now(request, frame):
                        sent += 1
                        continue
                    try:
                        async with asyncio.timeout(s.ws_send_timeout_s):
                            await ws.send_bytes(frame.jpeg)
                    except TimeoutError:
                        code, reason = CLOSE_TOO_SLOW, "send timed out: the client is not reading"
                        break
                    except ConnectionError:
                        break
                    sent += 1
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            if not ws.closed:
                with contextlib.suppress(ConnectionError, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await ws.close(code=code, message=reason.encode()[:120])
        log.info(
            "video_view_closed",
            transport="ws",
            camera=key,
            user=user.username,
            sent=sent,
            skipped=viewer.skipped,
            reason=reason or "closed",
        )
        return ws
