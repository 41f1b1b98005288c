"""TCP robot connections: bytes -> protocol.tcp.GatewayConnection -> fleet.

One ``asyncio.Protocol`` per connection handles every frame of a read in
``data_received``, as it arrives: no task, StreamReader or future per
connection, so a telemetry frame costs one wake-up of the loop, not three: at
a fleet's telemetry rate the wake-ups are the gateway's cost (docs/performance.md).

A bad frame gets an ``error`` reply and costs a strike; ``max_strikes``
strikes, a failed handshake, no hello within ``handshake_timeout_s`` or a
newer connection of the same robot close it. A robot that sends faster than
its token bucket has the excess dropped and counted.

With ``[cluster]`` a verified hello waits for the robot's lease before the
welcome (``Fleet.claim``: another gateway may still hold it); frames that
arrive meanwhile wait in the codec. A lease not had within
``handshake_timeout_s`` closes the connection with ``held_elsewhere``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Final, cast

import msgspec
import structlog

from config.settings import GatewaySettings, TcpSettings
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from gateway.transports.lan import host_of, mac_of
from protocol.camera_chunks import RawChunk
from protocol.errors import RemoteProtocolError
from protocol.messages import Error, GatewayMessage, Hello
from protocol.ratelimit import TokenBucket
from protocol.tcp import NEED_DATA, GatewayConnection
from protocol.vocabulary import ErrorCode

log = structlog.get_logger("gateway.tcp")

# A robot that stops reading is cut off rather than buffered without bound.
MAX_WRITE_BUFFER: Final = 1024 * 1024
_FATAL: Final = frozenset({ErrorCode.AUTH_FAILED, ErrorCode.UNEXPECTED})


class TcpLink:
    """The fleet's handle on one connection: send and close, both non-blocking."""

    transport = "tcp"
    silence_limits: tuple[float, float] | None = None

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        conn: GatewayConnection,
        *,
        address: str = "",
        mac: str = "",
    ) -> None:
        self._transport = transport
        self._conn = conn
        self.address = address  # the robot's IP, as the socket says
        self.mac = mac  # its MAC when the LAN shows it (gateway/transports/lan.py)
        self._seq = 0
        self.closed = False
        self.close_reason = ""

    def send(self, msg: GatewayMessage) -> None:
        self._send(msg)
        if self._transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.close(ErrorCode.RATE_LIMITED, "robot is not reading its connection")

    def write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self, code: ErrorCode, reason: str) -> None:
        """Send the reason as an ``error``, then close once what is buffered is written."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = f"{code}: {reason}"
        self._send(Error(code=code, message=reason))
        self._transport.close()

    def _send(self, msg: GatewayMessage) -> None:
        if not self._transport.is_closing():
            self._seq += 1
            self._transport.write(self._conn.send(msgspec.structs.replace(msg, seq=self._seq)))


class _RobotConnection(asyncio.Protocol):
    """One robot's connection: handshake, then every frame to the fleet."""

    def __init__(self, server: TcpServer) -> None:
        self.server = server
        self.robot: str | None = None  # set once the hello is verified and welcomed
        self.reason = "closed by robot"
        self.strikes = 0
        self.last_rate_error = 0.0
        self.claiming: Hello | None = None  # [cluster] verified, waiting for its lease

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport
        s = self.server
        peername = transport.get_extra_info("peername")
        self.peer = str(peername)
        self.conn = GatewayConnection(
            s.fleet.key_for,
            secrets.token_hex(16),
            gateway=s.gateway.name,
            max_frame=s.settings.max_frame_bytes,
        )
        host = host_of(peername)
        self.link = TcpLink(transport, self.conn, address=host, mac=mac_of(host))
        s.links.add(self.link)
        self.bucket = TokenBucket(s.settings.rate_per_s, s.settings.burst, time.monotonic())
        self.link.write(self.conn.challenge())
        self.timer = asyncio.get_running_loop().call_later(
            s.settings.handshake_timeout_s, self._handshake_timeout
        )

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._handle()

    def eof_received(self) -> bool:
        self.conn.receive_data(b"")
        self._handle()  # a frame cut short by the close is one more bad frame
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()
        self.server.forget(self.link)
        self.link.closed = True
        if exc is not None:
            self.reason = f"connection error: {exc}"
        if self.robot is not None:
            self.server.fleet.disconnected(
                self.robot, self.link, time.time(), self.link.close_reason or self.reason
            )

    def _handshake_timeout(self) -> None:
        if self.robot is None and not self.link.closed:
            self.server.stats.inc("connections", "handshake_timeout")
            self.link.close(ErrorCode.UNEXPECTED, "no hello in time")

    def _handle(self) -> None:
        """Everything complete in the buffer: the hello first, then messages."""
        if self.link.closed or self.claiming is not None:
            return
        if self.robot is None and not self._handshake():
            return
        robot, stats, fleet = self.robot, self.server.stats, self.server.fleet
        assert robot is not None
        now = time.time()
        while not self.link.closed:
            try:
                msg = self.conn.next_event()
            except RemoteProtocolError as exc:
                self._strike(robot, exc, now)
                continue
            if msg is NEED_DATA:
                return
            if isinstance(msg, RawChunk):  # cameras have limits of their own, not the bucket's
                fleet.cameras.tcp_chunk(robot, msg.data, now)
                continue
            if not self.bucket.allow(time.monotonic()):
                stats.inc("frames_rejected", ErrorCode.RATE_LIMITED)
                if now - self.last_rate_error > 1.0:
                    self.last_rate_error = now
                    self.link.send(
                        Error(
                            robot=robot,
                            ts=now,
                            code=ErrorCode.RATE_LIMITED,
                            message="too many messages; excess dropped",
                        )
                    )
                continue
            fleet.received(robot, msg, now)

    def _strike(self, robot: str, exc: RemoteProtocolError, now: float) -> None:
        self.server.stats.inc("frames_rejected", exc.code)
        self.strikes += 1
        if exc.code in _FATAL or self.strikes >= self.server.settings.max_strikes:
            self.reason = "protocol errors"
            self.link.close(exc.code, f"{exc.message} (closing after {self.strikes} error(s))")
        else:
            self.link.send(Error(robot=robot, ts=now, code=exc.code, message=exc.message))

    def _handshake(self) -> bool:
        """True once the robot is welcomed; False while its hello is incomplete or refused."""
        s = self.server
        try:
            msg = self.conn.next_event()
            if msg is NEED_DATA:
                return False
            assert isinstance(msg, Hello)
            now = time.time()
            if s.fleet.leases is not None:
                s.fleet.check_hello(msg)
                self.timer.cancel()
                self.claiming = msg
                s.fleet.claim(
                    msg.robot,
                    self._claimed,
                    s.settings.handshake_timeout_s,
                    asyncio.get_running_loop().time(),
                )
                return False
            s.fleet.connected(msg, self.link, now)
        except RemoteProtocolError as exc:
            s.stats.inc("connections", f"refused_{exc.code}")
            log.warning("robot_refused", code=exc.code, reason=exc.message, peer=self.peer)
            self.link.close(exc.code, exc.message)
            return False
        self._welcome(msg, now)
        return True

    def _claimed(self, holder: str | None) -> None:
        """[cluster] The lease is ours (``holder`` None), or another gateway kept it (its
        name; "" when Redis did not answer in time)."""
        msg, self.claiming = self.claiming, None
        s = self.server
        if msg is None or self.link.closed:
            if msg is not None and holder is None:
                s.fleet.unclaim(msg.robot)
            return
        if holder is not None:
            s.stats.inc("connections", "held_elsewhere")
            log.info("robot_held_elsewhere", robot=msg.robot, holder=holder, peer=self.peer)
            why = f"gateway {holder} holds this robot" if holder else "Redis did not answer"
            self.link.close(ErrorCode.HELD_ELSEWHERE, why)
            return
        now = time.time()
        try:
            if msg.robot not in s.fleet.sessions:  # removed from the registry meanwhile
                raise RemoteProtocolError("robot removed", code=ErrorCode.UNKNOWN_ROBOT)
            s.fleet.connected(msg, self.link, now)
        except RemoteProtocolError as exc:
            s.fleet.unclaim(msg.robot)
            self.link.close(exc.code, exc.message)
            return
        self._welcome(msg, now)
        self._handle()  # what the robot sent while it waited

    def _welcome(self, msg: Hello, now: float) -> None:
        s = self.server
        self.timer.cancel()
        self.robot = msg.robot
        self.link.write(
            self.conn.welcome(
                f"{s.gateway.name}:{self.conn.nonce[:8]}",
                s.gateway.heartbeat_s,
                s.udp_port,
                now,
                camera_port=s.camera_port,
            )
        )
        s.fleet.resume(msg.robot, now)
        s.stats.inc("connections", "accepted")


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
        self.camera_port: int | None = None  # the camera socket's, told in `welcome`
        self._server: asyncio.Server | None = None
        self.links: set[TcpLink] = set()
        self._no_links = asyncio.Event()

    def forget(self, link: TcpLink) -> None:
        self.links.discard(link)
        if not self.links:
            self._no_links.set()

    async def start(self) -> int:
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _RobotConnection(self),
            self.settings.host,
            self.settings.port,
            reuse_address=True,
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self, timeout: float) -> None:
        """Stop accepting, tell every robot we are going, and wait for the connections to end."""
        if self._server is None:
            return
        self._server.close()
        for link in list(self.links):
            link.close(ErrorCode.SHUTTING_DOWN, "gateway is shutting down")
        try:
            async with asyncio.timeout(timeout):
                await self._server.wait_closed()
                if self.links:  # wait_closed need not wait for open connections
                    self._no_links.clear()
                    await self._no_links.wait()
        except TimeoutError:
            log.warning("tcp_close_timeout", open=len(self.links))
