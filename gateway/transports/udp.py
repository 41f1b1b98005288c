"""The UDP telemetry endpoint: each datagram goes straight to the fleet.

``datagram_received`` never awaits and starts no task: decoding, checking
the signature and queueing the sample for the writer is a few microseconds
of synchronous work, cheaper than a hop through a queue.
"""

from __future__ import annotations

import asyncio
import time

from config.settings import UdpSettings
from gateway.fleet.fleet import Fleet


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.fleet.datagram(data, time.time())

    def error_received(self, exc: Exception) -> None:
        self.fleet.stats.inc("udp_dropped", "socket_error")


async def open_udp(fleet: Fleet, settings: UdpSettings) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Endpoint(fleet), local_addr=(settings.host, settings.port)
    )
    port = int(transport.get_extra_info("sockname")[1])
    return transport, port
