"""A lean WebSocket client (RFC 6455) for load generation: a Protocol, no task per socket.

A full client library spends several microseconds and a future per message,
which with hundreds of sockets would make the client, not the server, the
bound. This one parses frames straight out of each received chunk, calls
``on_text(payload, t_received)`` for text frames (the time is taken once per
chunk, when the kernel handed it over), answers pings, and masks what it
sends as clients must. It does not handle fragmented messages, which neither
aiohttp nor the web tier send.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Callable
from typing import cast

__all__ = ["WsClient", "connect", "mask_frame"]

OnText = Callable[[bytes, float], None]


def mask_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame with FIN set."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    if not n:
        return head + key
    masked = (
        int.from_bytes(payload, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")
    ).to_bytes(n, "big")
    return head + key + masked


class WsClient(asyncio.Protocol):
    def __init__(
        self, host: str, port: int, path: str, on_text: OnText, *, stall: bool = False
    ) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"
            "\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.on_text = on_text
        self.stall = stall  # stop reading right after the handshake (the slow client)
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self._buf = bytearray()
        self._open = False
        self.frames = 0
        self.bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a TCP connection's (uvloop's transports do not subclass asyncio.Transport)
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))
            self.opened.exception()
        if not self.closed.done():
            self.closed.set_result(None)

    def send_text(self, text: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(mask_frame(text))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(mask_frame((1000).to_bytes(2, "big"), 0x8))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        t = time.time()
        self.bytes += len(data)
        buf = self._buf
        buf += data
        if not self._open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                body = bytes(buf[:300]).decode(errors="replace")
                self.opened.set_exception(ConnectionError(f"upgrade refused: {status} {body}"))
                self.opened.exception()
                assert self.transport is not None
                self.transport.close()
                return
            self._open = True
            self.opened.set_result(None)
            if self.stall:
                assert self.transport is not None
                sock = self.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                self.transport.pause_reading()
        self._parse(buf, t)

    def _parse(self, buf: bytearray, t: float) -> None:
        i, size = 0, len(buf)
        while size - i >= 2:
            b0, n = buf[i], buf[i + 1] & 0x7F
            h = 2
            if n == 126:
                if size - i < 4:
                    break
                n, h = int.from_bytes(buf[i + 2 : i + 4], "big"), 4
            elif n == 127:
                if size - i < 10:
                    break
                n, h = int.from_bytes(buf[i + 2 : i + 10], "big"), 10
            if size - i < h + n:
                break
            opcode = b0 & 0x0F
            start = i + h
            i = start + n
            if opcode == 0x1:
                self.frames += 1
                self.on_text(bytes(buf[start:i]), t)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(mask_frame(bytes(buf[start:i]), 0xA))
            elif opcode == 0x8:
                self.close_code = int.from_bytes(buf[start : start + 2], "big") if n >= 2 else 1005
                if self.transport is not None:
                    self.transport.close()
        del buf[:i]


async def connect(
    host: str, port: int, path: str, on_text: OnText, *, stall: bool = False, wait_s: float = 10.0
) -> WsClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: WsClient(host, port, path, on_text, stall=stall), host, port
    )
    async with asyncio.timeout(wait_s):
        await client.opened
    return client
