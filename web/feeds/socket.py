"""One open WebSocket: serialized sends with a timeout, in-band token refresh, expiry, close.

Four coroutines run under one TaskGroup owned by the handler (no orphan
tasks): ``_receive`` (client frames: ``auth``, ``ping``, and whatever the
view accepts), the view's ``pump`` (frames to the client), ``_expiry``
(warns before the token ends and closes at the end unless it was refreshed)
and ``_heartbeat``. Whichever decides the socket is done raises ``_Stop``;
the group cancels the others and the handler returns.

The heartbeat is ours, not aiohttp's: a client that does not answer aiohttp's
ping has its transport closed without a close frame (1006 on the client's
side), where docs/api.md promises 4008 to a client that stops reading. So
aiohttp neither pings nor answers pings here (``autoping=False``): a ping
goes out after ``web.ws_heartbeat_s`` without a frame from the client, and a
client that sends nothing for half that again is closed with 4008; the
client's own pings are answered in ``_receive``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
import orjson
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from web.feeds.connections import CLOSE_TOKEN_REVOKED, Lease
from web.feeds.frames import (
    AuthExpiring,
    AuthOk,
    ErrorFrame,
    Frame,
    FrameBatch,
    Pong,
    batch_message,
    frame,
)
from web.feeds.hub import CLOSE_TOO_SLOW
from web.http.auth import check_token
from web.http.edge import before_stream
from web.http.problems import Problem
from web.keys import FEEDS, METRICS, SETTINGS, WEBSOCKETS
from web.security import AuthUser, iso

log = structlog.get_logger("web.ws")

CLOSE_TOKEN_EXPIRED = CLOSE_TOKEN_REVOKED  # 4001 either way: log in again
CLOSE_FORBIDDEN = 4003
MAX_BAD_FRAMES = 5

OnMessage = Callable[[dict[str, Any]], Awaitable[None]]


class _Stop(Exception):
    pass


def _really_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class SocketSession:
    def __init__(
        self,
        request: web.Request,
        user: AuthUser,
        *,
        lease: Lease | None = None,
        max_msg_size: int = 64 * 1024,
    ) -> None:
        s = request.app[SETTINGS].web
        self.request = request
        self.user = user
        self.lease = lease  # the feed's place in FEEDS: a refreshed token is tracked there
        self.send_timeout = s.ws_send_timeout_s
        self.warning_s = s.token_warning_s
        self.heartbeat_s = s.ws_heartbeat_s
        self.ws = web.WebSocketResponse(autoping=False, max_msg_size=max_msg_size, compress=False)
        self._lock = asyncio.Lock()
        self._refreshed = asyncio.Event()
        self._heard = asyncio.Event()  # set by every frame the client sends
        self._heard_at = time.monotonic()
        self.bad_frames = 0
        self.max_bad = MAX_BAD_FRAMES  # rejected frames in a row before the socket is closed
        self.sent = 0

    async def prepare(self) -> None:
        before_stream(self.request, self.ws)
        await self.ws.prepare(self.request)
        self.request.app[WEBSOCKETS].add(self.ws)

    # ---- sending --------------------------------------------------------------

    async def send(self, f: Frame | msgspec.Struct) -> None:
        await self._write([(f if isinstance(f, Frame) else frame(f)).data])

    async def send_many(self, frames: Sequence[Frame]) -> None:
        """Each frame as its own message, in order, under one lock and one deadline."""
        if frames:
            await self._write([f.data for f in frames])

    async def send_batch(self, frames: Sequence[Frame]) -> None:
        """All frames as one message: a ``batch`` when there are several (latest-wins feeds)."""
        if isinstance(frames, FrameBatch):  # the hub's, as it is: its message is built once
            await self._write([frames.payload])
        elif len(frames) > 1:
            await self._write([batch_message(frames)])
        elif frames:
            await self._write([frames[0].data])

    async def _write(self, messages: list[bytes]) -> None:
        """Send text messages; a write blocked for ``send_timeout`` closes the socket (4008).

        The deadline is armed only when the write could block: aiohttp waits only
        once the transport is paused, so below the transport's watermarks there is
        nothing to time (and arming a timer per write was a third of the CPU).
        """
        async with self._lock:
            if self.ws.closed:
                raise _Stop
            try:
                if self._cannot_block(messages):
                    await self._send_frames(messages)
                else:
                    async with asyncio.timeout(self.send_timeout):
                        await self._send_frames(messages)
            except TimeoutError:
                log.info("client_send_timeout", user=self.user.username)
                await self._close(CLOSE_TOO_SLOW, "send timed out: the client is not reading")
                raise _Stop from None
            except ConnectionError:
                raise _Stop from None
            self.sent += len(messages)

    async def _send_frames(self, messages: list[bytes]) -> None:
        for m in messages:
            await self.ws.send_frame(m, WSMsgType.TEXT)

    def _cannot_block(self, messages: list[bytes]) -> bool:
        """Will these writes leave the transport unpaused (so no send can wait)?"""
        t = self._open_transport()
        if t is None:
            return False
        size = t.get_write_buffer_size()
        low, high = t.get_write_buffer_limits()
        return size <= low and size + sum(map(len, messages)) + 14 * len(messages) <= high

    def _open_transport(self) -> asyncio.Transport | None:
        t = self.request.transport
        return None if t is None or t.is_closing() else t

    def try_write(self, batch: FrameBatch) -> bool:
        """Write a shared batch now, from the hub's loop, if nothing can wait or interleave.

        Only when no send is in progress (the lock is free), the socket is open
        and the client has taken what was written before (the transport's buffer
        is at most its low-water mark, so a client that stops reading holds at
        most that plus one message): then the one pre-built WebSocket frame is
        written whole, as aiohttp writes its own. Otherwise False, and the feed
        sends it through the usual path, under the send deadline.
        """
        t = self._open_transport()
        if t is None or self._lock.locked() or self.ws.closed:
            return False
        if t.get_write_buffer_size() > t.get_write_buffer_limits()[0]:
            return False
        t.write(batch.wire)
        self.sent += 1
        return True

    async def close(self, code: int, reason: str) -> None:
        async with self._lock:
            await self._close(code, reason)

    async def _close(self, code: int, reason: str) -> None:
        if self.ws.closed:
            return
        try:
            async with asyncio.timeout(2.0):
                await self.ws.close(code=code, message=reason.encode()[:120])
        except (TimeoutError, ConnectionError):
            pass  # aiohttp closed the transport; the frame is queued ahead of the close
        except asyncio.CancelledError:
            if _really_cancelled():
                raise
            # After a send timed out, aiohttp's writer re-raises the CancelledError of
            # the drain we interrupted: the close frame is written, the transport closed.

    # ---- running --------------------------------------------------------------

    async def run(
        self, pump: Callable[[], Awaitable[None]], on_message: OnMessage | None = None
    ) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(on_message))
                tg.create_task(self._pump(pump))
                tg.create_task(self._expiry())
                tg.create_task(self._heartbeat())
        except* _Stop:
            pass
        except* ConnectionError:
            pass
        finally:
            if not self.ws.closed:
                await self._close(WSCloseCode.OK, "")

    async def _pump(self, pump: Callable[[], Awaitable[None]]) -> None:
        try:
            await pump()
        except asyncio.CancelledError:
            if _really_cancelled():
                raise
            # A CancelledError nobody asked for (aiohttp's interrupted drain): ending
            # "cancelled" would not stop the TaskGroup's other children.
        raise _Stop

    async def _receive(self, on_message: OnMessage | None) -> None:
        async for msg in self.ws:
            self._heard_at = time.monotonic()
            self._heard.set()
            if msg.type is WSMsgType.TEXT:
                await self._on_text(msg.data, on_message)
            elif msg.type is WSMsgType.PING:
                await self.ws.pong(msg.data)
            elif msg.type is WSMsgType.BINARY:
                self.request.app[METRICS].frames_rejected.labels("binary_frame").inc()
                await self.close(WSCloseCode.UNSUPPORTED_DATA, "send JSON text frames")
                break
        raise _Stop

    async def _heartbeat(self) -> None:
        """Ping a client silent for ``heartbeat_s``; no frame within half that: 4008 (docstring).

        The ping and the wait share one deadline: a ping that cannot even be written
        (the client has stopped reading) is the same silence.
        """
        while True:
            silent = time.monotonic() - self._heard_at
            if silent < self.heartbeat_s:
                await asyncio.sleep(self.heartbeat_s - silent)
                continue
            self._heard.clear()
            try:
                async with asyncio.timeout(self.heartbeat_s / 2):
                    await self.ws.ping()
                    await self._heard.wait()
            except TimeoutError:
                log.info("client_not_answering", user=self.user.username)
                await self.close(CLOSE_TOO_SLOW, "no answer to ping: the client is not reading")
                raise _Stop from None

    async def _on_text(self, text: str, on_message: OnMessage | None) -> None:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            await self.reject("bad_message", "frames are JSON objects")
            return
        if not isinstance(data, dict):
            await self.reject("bad_message", "frames are JSON objects")
            return
        kind = data.get("type")
        if kind == "auth":
            await self._refresh(data)
            return
        if kind == "ping" and set(data) == {"type"}:
            self.accepted()  # a good frame ends a run of bad ones
            await self.send(Pong())
            return
        if on_message is not None:
            await on_message(data)
            return
        await self.reject(
            "bad_message", "this socket accepts only auth and ping frames", field="type"
        )

    async def reject(
        self, code: str, detail: str, *, field: str | None = None, retry_after: float | None = None
    ) -> None:
        """Answer a bad client frame; too many in a row close the socket (1008)."""
        self.request.app[METRICS].frames_rejected.labels(code).inc()
        self.bad_frames += 1
        await self.send(ErrorFrame(code=code, detail=detail, field=field, retry_after=retry_after))
        if self.bad_frames >= self.max_bad:
            log.info("socket_closed_bad_frames", user=self.user.username, last=code)
            await self.close(WSCloseCode.POLICY_VIOLATION, "too many rejected frames")
            raise _Stop

    def accepted(self) -> None:
        self.bad_frames = 0

    async def _refresh(self, data: dict[str, Any]) -> None:
        token = data.get("token")
        if set(data) != {"type", "token"} or not isinstance(token, str) or not token:
            await self.reject("bad_message", 'send {"type": "auth", "token": "..."}', field="token")
            return
        try:
            user, claims = await check_token(self.request.app, token)
        except Problem as p:
            await self.reject(p.code, p.detail, field="token")
            return
        if user.username != self.user.username:
            await self.reject(
                "forbidden", "a socket cannot change user; open a new one", field="token"
            )
            return
        self.user = user
        if self.lease is not None:
            self.request.app[FEEDS].renew(self.lease, claims)
        self.accepted()
        self._refreshed.set()
        log.info("socket_token_refreshed", user=user.username)
        await self.send(AuthOk(expires_at=iso(user.expires)))

    async def _expiry(self) -> None:
        warned = False
        while True:
            self._refreshed.clear()
            left = self.user.expires - time.time()
            if left <= 0:
                log.info("socket_token_expired", user=self.user.username)
                await self.close(CLOSE_TOKEN_EXPIRED, "token expired")
                raise _Stop
            if not warned and left <= self.warning_s:
                warned = True
                await self.send(AuthExpiring(expires_at=iso(self.user.expires)))
                continue
            wait = left if warned else left - self.warning_s
            try:
                async with asyncio.timeout(wait):
                    await self._refreshed.wait()
                warned = False
            except TimeoutError:
                pass
