"""The UDP telemetry endpoint: the datagrams the socket holds go to the fleet as a run.

The endpoint owns its socket: when the loop finds it readable, ``_readable``
reads what is queued, up to ``BURST`` datagrams (``recv`` until it would
block), and hands them to ``Fleet.datagram_run`` at once: each datagram
checked on its own, the good ones applied as one batch. Nothing waits for a
timer, nothing awaits and no task starts: a few microseconds of synchronous
work per datagram, cheaper than a hop through a queue.

Why not ``create_datagram_endpoint``: uvloop calls ``datagram_received`` per
datagram (with the sender's address made into a tuple, which we never use)
and reads at most 32 per wake-up; collecting those into a run for the next
loop turn cost more gateway CPU per datagram than reading the burst here, and
lost datagrams where this did not (docs/performance.md has the figures).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence
from typing import Protocol

import structlog

from config.settings import CameraSettings, UdpSettings
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats

log = structlog.get_logger("gateway.udp")

BURST = 256  # datagrams read per wake-up at most, so TCP and the writer get their turn
# The camera socket's: a smaller share of each loop turn, so video waits for the rest
CAMERA_BURST = 64


class Datagrams(Protocol):
    """Who takes a socket's runs: the fleet (telemetry), or its cameras (chunks)."""

    stats: Stats

    def datagram_run(self, datagrams: Sequence[bytes], now: float) -> None: ...


class UdpEndpoint:
    """The gateway's UDP socket, read by the loop when readable. ``dropped``: the counter
    for what never reached ``fleet`` (a socket error, a handler that failed)."""

    def __init__(
        self,
        fleet: Datagrams,
        sock: socket.socket,
        max_size: int,
        dropped: str = "udp_dropped",
        burst: int = BURST,
    ) -> None:
        self.fleet = fleet
        self.burst = burst
        self.dropped = dropped
        self.sock = sock
        self._recv = sock.recv
        self._size = max_size + 1  # a bigger datagram reads as one byte too many: too_large
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _readable(self) -> None:
        recv, size = self._recv, self._size
        run: list[bytes] = []
        try:
            for _ in range(self.burst):
                run.append(recv(size))
        except BlockingIOError:
            pass
        except OSError:  # an ICMP error queued on the socket: the next read goes on
            self.fleet.stats.inc(self.dropped, "socket_error")
        if not run:
            return
        try:
            self.fleet.datagram_run(run, time.time())
        except Exception:  # a bug: counted and logged, the next run is handled
            self.fleet.stats.inc(self.dropped, "handler_failed", len(run))
            log.exception("udp_run_failed", datagrams=len(run), counter=self.dropped)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()


async def open_udp(fleet: Fleet, settings: UdpSettings) -> tuple[UdpEndpoint, int]:
    return await _open(
        fleet,
        settings.host,
        settings.port,
        settings.receive_buffer_bytes,
        settings.max_datagram_bytes,
        "udp_dropped",
        BURST,
    )


async def open_camera_udp(
    fleet: Fleet, udp: UdpSettings, settings: CameraSettings
) -> tuple[UdpEndpoint, int]:
    """The camera socket: the same host as telemetry's, a port and a buffer of its own, so a
    burst of video can never fill the buffer telemetry arrives in (docs/protocol.md §11)."""
    return await _open(
        fleet.cameras,
        udp.host,
        settings.port,
        settings.receive_buffer_bytes,
        settings.max_datagram_bytes,
        "camera_dropped",
        CAMERA_BURST,
    )


async def _open(
    sink: Datagrams, host: str, port: int, buffer: int, max_size: int, dropped: str, burst: int
) -> tuple[UdpEndpoint, int]:
    loop = asyncio.get_running_loop()
    family, type_, proto, _, address = (
        await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    )[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setblocking(False)
        sock.bind(address)
        _grow_receive_buffer(sock, buffer)
        endpoint = UdpEndpoint(sink, sock, max_size, dropped, burst)
    except BaseException:
        sock.close()
        raise
    return endpoint, endpoint.port


def _grow_receive_buffer(sock: socket.socket, wanted: int) -> None:
    """The default buffer holds a few hundred datagrams: a short pause of the loop under
    load overflows it, and the kernel drops in silence (docs/performance.md)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux reports double
    if granted < wanted:
        log.warning(
            "udp_receive_buffer_capped",
            wanted=wanted,
            granted=granted,
            hint="raise net.core.rmem_max (systemd/99-robodine-sysctl.conf)",
        )
