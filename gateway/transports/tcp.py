"""TCP robot connections: read loop -> protocol.tcp.GatewayConnection -> fleet.

One task per connection (asyncio.start_server). A bad frame gets an
``error`` reply and costs a strike; ``max_strikes`` strikes, a failed
handshake or a newer connection of the same robot close it. A robot that
sends faster than its token bucket has the excess dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Final

import msgspec
import structlog

from config.settings import GatewaySettings, TcpSettings
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from protocol.errors import RemoteProtocolError
from protocol.kinds import ErrorCode
from protocol.messages import Error, GatewayMessage, Hello
from protocol.ratelimit import TokenBucket
from protocol.tcp import NEED_DATA, GatewayConnection

log = structlog.get_logger("gateway.tcp")

READ_SIZE: Final = 64 * 1024
# A robot that stops reading is cut off rather than buffered without bound.
MAX_WRITE_BUFFER: Final = 1024 * 1024
_FATAL: Final = frozenset({ErrorCode.AUTH_FAILED, ErrorCode.UNEXPECTED})


class TcpLink:
    """The fleet's handle on one connection: send and close, both non-blocking."""

    transport = "tcp"
    silence_limits: tuple[float, float] | None = None

    def __init__(self, writer: asyncio.StreamWriter, conn: GatewayConnection) -> None:
        self._writer = writer
        self._conn = conn
        self._seq = 0
        self.closed = asyncio.Event()
        self.close_reason = ""

    def send(self, msg: GatewayMessage) -> None:
        if self._writer.is_closing():
            return
        self._seq += 1
        self._writer.write(self._conn.send(msgspec.structs.replace(msg, seq=self._seq)))
        if self._writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.close(ErrorCode.RATE_LIMITED, "robot is not reading its connection")

    def write(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    def close(self, code: ErrorCode, reason: str) -> None:
        if self.closed.is_set():
            return
        self.send(Error(code=code, message=reason))
        self.close_reason = f"{code}: {reason}"
        self.closed.set()
        self._writer.close()


class TcpServer:
    def __init__(
        self,
        fleet: Fleet,
        tcp: TcpSettings,
        gateway: GatewaySettings,
        stats: Stats,
        udp_port: int | None,
    ) -> None:
        self.fleet = fleet
        self.settings = tcp
        self.gateway = gateway
        self.stats = stats
        self.udp_port = udp_port
        self._server: asyncio.Server | None = None
        self._links: set[TcpLink] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._serve, self.settings.host, self.settings.port, limit=READ_SIZE, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self, timeout: float) -> None:
        """Stop accepting, tell every robot we are going, and wait for their loops to end."""
        if self._server is None:
            return
        self._server.close()
        for link in list(self._links):
            link.close(ErrorCode.SHUTTING_DOWN, "gateway is shutting down")
        try:
            await asyncio.wait_for(self._server.wait_closed(), timeout)
        except TimeoutError:
            log.warning("tcp_close_timeout", open=len(self._links))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn = GatewayConnection(
            self.fleet.key_for,
            secrets.token_hex(16),
            gateway=self.gateway.name,
            max_frame=self.settings.max_frame_bytes,
        )
        link = TcpLink(writer, conn)
        self._links.add(link)
        robot: str | None = None
        reason = "closed by robot"
        try:
            link.write(conn.challenge())
            robot = await asyncio.wait_for(
                self._handshake(reader, conn, link), self.settings.handshake_timeout_s
            )
            if robot is not None:
                structlog.contextvars.bind_contextvars(robot=robot, peer=str(peer))
                reason = await self._read_loop(reader, conn, link, robot)
        except TimeoutError:
            self.stats.inc("connections", "handshake_timeout")
            link.close(ErrorCode.UNEXPECTED, "no hello in time")
            reason = "handshake timeout"
        except (ConnectionError, OSError) as exc:
            reason = f"connection error: {exc}"
        finally:
            self._links.discard(link)
            if robot is not None:
                self.fleet.disconnected(robot, link, time.time(), link.close_reason or reason)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _handshake(
        self, reader: asyncio.StreamReader, conn: GatewayConnection, link: TcpLink
    ) -> str | None:
        while True:
            data = await reader.read(READ_SIZE)
            conn.receive_data(data)
            try:
                msg = conn.next_event()
                if msg is NEED_DATA:
                    if not data:
                        return None
                    continue
                assert isinstance(msg, Hello)
                now = time.time()
                self.fleet.connected(msg, link, now)
            except RemoteProtocolError as exc:
                self.stats.inc("connections", f"refused_{exc.code}")
                log.warning(
                    "robot_refused",
                    code=exc.code,
                    reason=exc.message,
                    peer=str(link._writer.get_extra_info("peername")),
                )
                link.close(exc.code, exc.message)
                return None
            link.write(
                conn.welcome(
                    f"{self.gateway.name}:{conn.nonce[:8]}",
                    self.gateway.heartbeat_s,
                    self.udp_port,
                    now,
                )
            )
            self.fleet.resume(msg.robot, now)
            self.stats.inc("connections", "accepted")
            return msg.robot

    async def _read_loop(
        self, reader: asyncio.StreamReader, conn: GatewayConnection, link: TcpLink, robot: str
    ) -> str:
        strikes = 0
        bucket = TokenBucket(self.settings.rate_per_s, self.settings.burst, time.monotonic())
        last_rate_error = 0.0
        while not link.closed.is_set():
            data = await reader.read(READ_SIZE)
            conn.receive_data(data)
            now = time.time()
            while True:
                try:
                    msg = conn.next_event()
                except RemoteProtocolError as exc:
                    self.stats.inc("frames_rejected", exc.code)
                    strikes += 1
                    if exc.code in _FATAL or strikes >= self.settings.max_strikes:
                        link.close(exc.code, f"{exc.message} (closing after {strikes} error(s))")
                        return "protocol errors"
                    link.send(Error(robot=robot, ts=now, code=exc.code, message=exc.message))
                    continue
                if msg is NEED_DATA:
                    break
                if not bucket.allow(time.monotonic()):
                    self.stats.inc("frames_rejected", ErrorCode.RATE_LIMITED)
                    if now - last_rate_error > 1.0:
                        last_rate_error = now
                        link.send(
                            Error(
                                robot=robot,
                                ts=now,
                                code=ErrorCode.RATE_LIMITED,
                                message="too many messages; excess dropped",
                            )
                        )
                    continue
                self.fleet.received(robot, msg, now)
            if not data:
                return "closed by robot"
        return link.close_reason
