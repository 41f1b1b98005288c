"""The tcp transport: one TCP connection per robot, one UDP socket per process.

Built on asyncio Protocols rather than streams: a robot's connection costs no
task of its own, because ``data_received`` feeds the sans-IO
``protocol.tcp.RobotConnection`` and hands each gateway message to the robot
synchronously. That is what lets one process run a thousand robots.

Telemetry goes as signed datagrams (``protocol.udp.encode_datagram``) to the
``udp_port`` the welcome names; a gateway that names none gets telemetry in
TCP frames instead.

A robot may be given several gateway addresses (a site with several
gateways, docs/scaling.md): it keeps to the one that welcomed it, and after a
connection attempt that fails (refused, timed out, ``held_elsewhere``) it
tries the next one, round robin, after its backoff.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from typing import cast

import structlog

from config import Settings
from protocol.errors import RemoteProtocolError
from protocol.framing import DEFAULT_MAX_FRAME
from protocol.messages import Challenge, Error, RobotMessage, Telemetry, Welcome
from protocol.tcp import NEED_DATA, Phase, RobotConnection
from protocol.udp import encode_datagram
from protocol.vocabulary import ErrorCode
from simulator.transport import LinkError, MessageHandler, RobotIdentity

__all__ = ["TcpLink", "TcpTransport", "parse_addresses"]

log = structlog.get_logger("simulator.client")


def parse_addresses(spec: str, default_port: int) -> list[tuple[str, int]]:
    """``"gw-1,gw-2:7710,[::1]:7700"`` -> [("gw-1", default), ("gw-2", 7710), ("::1", 7700)]."""
    out: list[tuple[str, int]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        host, port = part, default_port
        if part.startswith("["):  # [v6]:port
            host, _, rest = part[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
        elif part.count(":") == 1:
            host, _, p = part.partition(":")
            port = int(p)
        out.append((host, port))
    if not out:
        raise ValueError(f"no gateway address in {spec!r}")
    return out


class TcpTransport:
    """Connects robots to a gateway's TCP port and shares one UDP socket among them."""

    name = "tcp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        handshake_timeout_s: float = 5.0,
        more: list[tuple[str, int]] | None = None,
    ) -> None:
        """``more``: further gateways (host, port), tried in turn after a failed attempt."""
        self.host, self.port = host, port
        self.addresses = [(host, port), *(more or [])]
        self.max_frame = max_frame
        self.handshake_timeout_s = handshake_timeout_s
        self._ips: list[str] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._at: dict[str, int] = {}  # robot -> index of the address it uses

    @classmethod
    def from_settings(cls, settings: Settings, host: str) -> TcpTransport:
        (first, port), *more = parse_addresses(host, settings.tcp.port)
        return cls(
            first,
            port,
            max_frame=settings.tcp.max_frame_bytes,
            handshake_timeout_s=settings.tcp.handshake_timeout_s,
            more=more,
        )

    async def start(self) -> None:
        """Resolve the gateways once (not once per robot or per datagram) and open the UDP
        socket."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET
        for i, (host, port) in enumerate(self.addresses):
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            except socket.gaierror as exc:
                raise OSError(f"cannot resolve gateway host {host!r}: {exc.strerror}") from None
            if not infos:
                raise OSError(f"cannot resolve gateway host {host!r}")
            info_family, _, _, _, addr = infos[0]
            if i == 0:
                family = info_family
            self._ips.append(str(addr[0]))
        self._udp, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, family=family, proto=socket.IPPROTO_UDP
        )

    async def connect(self, identity: RobotIdentity, on_message: MessageHandler) -> TcpLink:
        if not self._ips:
            raise RuntimeError("TcpTransport.start() was not awaited")
        loop = asyncio.get_running_loop()
        codec = RobotConnection(
            identity.robot,
            identity.kind,
            identity.key,
            secrets.token_hex(16),
            firmware=identity.firmware,
            max_frame=self.max_frame,
        )
        at = self._at.get(identity.robot, 0)
        ip, port, udp = self._ips[at], self.addresses[at][1], self._udp
        link: TcpLink | None = None
        try:
            async with asyncio.timeout(self.handshake_timeout_s):
                _, link = await loop.create_connection(
                    lambda: TcpLink(identity, codec, on_message, udp, ip), ip, port
                )
                await link.welcomed
        except BaseException:
            if link is not None:
                link.abort()
            self._at[identity.robot] = (at + 1) % len(self.addresses)  # the next one, next time
            raise
        return link

    def address_of(self, robot: str) -> tuple[str, int]:
        """The gateway ``robot`` connects to (next)."""
        return self.addresses[self._at.get(robot, 0)]

    async def aclose(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None


class TcpLink(asyncio.Protocol):
    """One robot's TCP connection; also its handle on the shared UDP socket."""

    def __init__(
        self,
        identity: RobotIdentity,
        codec: RobotConnection,
        on_message: MessageHandler,
        udp: asyncio.DatagramTransport | None,
        ip: str,
    ) -> None:
        self.identity = identity
        self._codec = codec
        self._on_message = on_message
        self._udp = udp
        self._ip = ip
        self._transport: asyncio.Transport | None = None
        self.welcomed: asyncio.Future[Welcome] = asyncio.get_running_loop().create_future()
        self.heartbeat_s: float | None = None
        self.udp_addr: tuple[str, int] | None = None
        self.camera_addr: tuple[str, int] | None = None  # camera chunks over UDP, if named
        self.session = ""
        self._refusal: Error | None = None
        self._closing = False
        self._held = True
        self.bad_frames = 0

    # ---- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._codec.receive_data(data)
        self._drain()

    def _drain(self) -> None:
        # After the welcome, frames wait in the codec until ready(): a command
        # that follows the welcome in the same segment must not overtake the
        # robot's own setup (its first state report).
        while not self._closing and not (self._held and self.welcomed.done()):
            try:
                msg = self._codec.next_event()
            except RemoteProtocolError as exc:
                if self._codec.phase is Phase.HANDSHAKE or exc.code is ErrorCode.AUTH_FAILED:
                    # A welcome we cannot verify is not our gateway: never talk to it.
                    self._fail(LinkError(f"handshake failed: {exc.code}: {exc.message}"))
                    return
                self.bad_frames += 1
                log.warning(
                    "gateway_frame_rejected",
                    robot=self.identity.robot,
                    code=exc.code,
                    error=exc.message,
                )
                continue
            if msg is NEED_DATA:
                return
            if isinstance(msg, Challenge):
                self._write(self._codec.hello(msg, time.time()))
            elif isinstance(msg, Welcome):
                self.heartbeat_s = msg.heartbeat_s
                self.session = msg.session
                if msg.udp_port and self._udp is not None:
                    self.udp_addr = (self._ip, msg.udp_port)
                if msg.camera_port and self._udp is not None:
                    self.camera_addr = (self._ip, msg.camera_port)
                if not self.welcomed.done():
                    self.welcomed.set_result(msg)
            elif not self.welcomed.done():
                if isinstance(msg, Error):
                    self._refusal = msg  # the gateway closes next; report why
            else:
                self._on_message(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if not self.welcomed.done():
            if self._refusal is not None:
                err: Exception = LinkError(
                    f"gateway refused: {self._refusal.code}: {self._refusal.message}"
                )
            else:
                err = ConnectionError(f"connection closed during the handshake ({exc or 'eof'})")
            self._fail(err)

    # ---- Link ----------------------------------------------------------------

    @property
    def is_closing(self) -> bool:
        return self._closing

    def ready(self) -> None:
        self._held = False
        self._drain()

    def send(self, msg: RobotMessage) -> None:
        self._write(self._codec.send(msg))

    def send_telemetry(self, msg: Telemetry) -> None:
        udp, addr = self._udp, self.udp_addr
        if addr is not None and udp is not None and not udp.is_closing():
            udp.sendto(encode_datagram(msg, self.identity.key), addr)
        else:
            self.send(msg)

    def send_camera(self, chunks: list[bytes]) -> None:
        """A frame's chunks (protocol/camera_chunks.py): to the camera port over UDP when
        the welcome named one, else as binary frames on this connection."""
        udp, addr = self._udp, self.camera_addr
        if addr is not None and udp is not None and not udp.is_closing():
            for chunk in chunks:
                udp.sendto(chunk, addr)
        else:
            for chunk in chunks:
                self._write(self._codec.chunk(chunk))

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close without flushing (a handshake that timed out)."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    # ---- helpers ---------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not self._closing and self._transport is not None:
            self._transport.write(data)

    def _fail(self, err: Exception) -> None:
        if not self.welcomed.done():
            self.welcomed.set_exception(err)
            self.welcomed.exception()  # retrieved here; a late awaiter still gets it raised
        self.close()

    def __repr__(self) -> str:
        state = "open" if self.welcomed.done() else "handshake"
        state = "closing" if self._closing else state
        return f"<TcpLink {self.identity.robot} {state}>"
