"""A lean HTTP/1.1 load generator: C keep-alive connections, each sends its next request
as soon as the previous response is complete (closed loop, no pipelining).

A Protocol per connection parses only the status line and Content-Length,
so one process drives far more requests per second than the servers under
test answer, and its own CPU is reported beside their figures.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any, cast

from bench.loadgen.child import Child, run_child, serve_pipe
from bench.stats import percentiles

__all__ = ["HttpLoad"]


class HttpLoad:
    def __init__(
        self,
        port: int,
        path: str,
        connections: int,
        *,
        headers: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._child = Child(
            _main, host, port, path, connections, headers or {}, name="bench-http-load"
        )

    @property
    def pid(self) -> int:
        return self._child.pid

    def start(self) -> dict[str, Any]:
        """Open the connections and start the requests (the warm-up is the caller's)."""
        return dict(self._child.call("start"))

    def window(self, seconds: float) -> dict[str, Any]:
        """Count over the next ``seconds``: requests/s, statuses, latency percentiles."""
        return dict(self._child.call("window", seconds, timeout=seconds + 60))

    def close(self) -> None:
        self._child.close()


class _Conn(asyncio.Protocol):
    def __init__(self, request: bytes, stats: _Stats) -> None:
        self.request = request
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.sent_at = 0.0
        self.need = -1  # bytes of the current response still to come after the head

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a TCP connection's (uvloop's transports do not subclass asyncio.Transport)
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                self.status = head[9:12].decode()
                i = head.lower().find(b"content-length:")
                self.need = int(head[i + 15 : head.find(b"\r\n", i)]) if i >= 0 else 0
            if len(buf) < self.need:
                return
            del buf[: self.need]
            self.need = -1
            self.stats.done(self.status, time.perf_counter() - self.sent_at)
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.lost += 1


class _Stats:
    def __init__(self) -> None:
        self.measuring = False
        self.statuses: Counter[str] = Counter()
        self.lat: list[float] = []
        self.lost = 0

    def done(self, status: str, seconds: float) -> None:
        if self.measuring:
            self.statuses[status] += 1
            self.lat.append(seconds * 1000.0)


def _main(
    conn: Connection, host: str, port: int, path: str, connections: int, headers: dict[str, str]
) -> None:
    run_child(conn, lambda c: _serve(c, host, port, path, connections, headers))


async def _serve(
    conn: Connection, host: str, port: int, path: str, connections: int, headers: dict[str, str]
) -> None:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
    stats = _Stats()
    loop = asyncio.get_running_loop()
    conns: list[asyncio.BaseTransport] = []

    async def handle(req: str, arg: Any) -> Any:
        if req == "start":
            for _ in range(connections):
                t, _ = await loop.create_connection(lambda: _Conn(request, stats), host, port)
                conns.append(t)
            return {"connections": len(conns)}
        if req == "window":
            stats.statuses, stats.lat, stats.measuring = Counter(), [], True
            t0 = time.perf_counter()
            await asyncio.sleep(float(arg))
            stats.measuring = False
            seconds = time.perf_counter() - t0
            n = sum(stats.statuses.values())
            return {
                "requests": n,
                "rps": round(n / seconds, 1),
                "seconds": round(seconds, 3),
                "statuses": dict(stats.statuses),
                "latency_ms": percentiles(stats.lat),
                "lost": stats.lost,
            }
        raise ValueError(req)

    try:
        await serve_pipe(conn, handle)
    finally:
        for t in conns:
            t.close()
