"""Many WebSocket clients on one feed, in a process of their own, counting what arrives.

Used by fanout (frames per second), e2e-latency and slow-client (receive
time minus the robot's ``ts`` of each telemetry sample; robot and clients
share this machine's clock). ``stalled`` extra clients stop reading right
after the upgrade and are left out of every figure.

Requests: ``connect`` -> {"connected", "failed", "seconds"}; ``start`` opens a
measuring window and ``window`` closes it, returning counts and latency
percentiles; ``status`` -> counters so far (closes included).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import orjson

from bench.loadgen.child import Child, run_child, serve_pipe
from bench.loadgen.ws import WsClient, connect
from bench.stats import percentiles

__all__ = ["FeedClients"]

_TELEMETRY = b'{"type":"telemetry"'


class FeedClients:
    def __init__(self, port: int, path: str, n: int, *, latency: bool = False,
                 stalled: int = 0, host: str = "127.0.0.1") -> None:
        self._child = Child(_main, host, port, path, n, latency, stalled, name="bench-ws-clients")

    @property
    def pid(self) -> int:
        return self._child.pid

    def connect(self, timeout: float = 60.0) -> dict[str, Any]:
        return dict(self._child.call("connect", timeout, timeout=timeout + 5))

    def start(self) -> None:
        self._child.call("start")

    def window(self) -> dict[str, Any]:
        return dict(self._child.call("window", timeout=120))

    def status(self) -> dict[str, Any]:
        return dict(self._child.call("status"))

    def close(self) -> None:
        self._child.close()


class _State:
    def __init__(self, latency: bool) -> None:
        self.latency = latency
        self.measuring = False
        self.t0 = 0.0
        self.telemetry = 0
        self.other: Counter[str] = Counter()
        self.lat_ms: list[float] = []
        self.per_client: Counter[int] = Counter()

    def handler(self, index: int) -> Any:
        def on_text(payload: bytes, t: float) -> None:
            if payload.startswith(_TELEMETRY):
                if self.measuring:
                    self.telemetry += 1
                    self.per_client[index] += 1
                    if self.latency:
                        self.lat_ms.append((t - orjson.loads(payload)["sample"]["ts"]) * 1000.0)
            else:
                kind = orjson.loads(payload).get("type", "?")
                self.other[str(kind)] += 1
        return on_text


def _main(conn: Connection, host: str, port: int, path: str, n: int, latency: bool,
          stalled: int) -> None:
    run_child(conn, lambda c: _serve(c, host, port, path, n, latency, stalled))


async def _serve(conn: Connection, host: str, port: int, path: str, n: int, latency: bool,
                 stalled: int) -> None:
    st = _State(latency)
    clients: list[WsClient] = []
    slow: list[WsClient] = []
    errors: Counter[str] = Counter()

    async def open_all(wait_s: float) -> dict[str, Any]:
        t0 = time.perf_counter()
        gate = asyncio.Semaphore(50)

        async def one(i: int, stall: bool) -> None:
            async with gate:
                try:
                    c = await connect(host, port, path, st.handler(i), stall=stall, wait_s=wait_s)
                except (OSError, TimeoutError) as exc:
                    errors[str(exc)[:200]] += 1
                    return
            (slow if stall else clients).append(c)

        async with asyncio.TaskGroup() as tg:
            for i in range(n):
                tg.create_task(one(i, False))
            for i in range(stalled):
                tg.create_task(one(n + i, True))
        return {"connected": len(clients), "stalled": len(slow), "failed": sum(errors.values()),
                "errors": dict(errors), "seconds": round(time.perf_counter() - t0, 2)}

    def status() -> dict[str, Any]:
        closes = Counter(str(c.close_code) for c in clients + slow if c.closed.done())
        return {"open": sum(not c.closed.done() for c in clients),
                "stalled_open": sum(not c.closed.done() for c in slow),
                "closes": dict(closes), "other_frames": dict(st.other),
                "frames_total": sum(c.frames for c in clients)}

    async def handle(request: str, arg: Any) -> Any:
        if request == "connect":
            return await open_all(float(arg))
        if request == "start":
            st.measuring, st.t0 = True, time.perf_counter()
            st.telemetry, st.lat_ms, st.per_client = 0, [], Counter()
            return True
        if request == "window":
            seconds = time.perf_counter() - st.t0
            st.measuring = False
            counts = [st.per_client.get(i, 0) for i in range(n)]
            out = {"seconds": round(seconds, 3), "frames": st.telemetry,
                   "frames_s": round(st.telemetry / seconds, 1) if seconds else 0.0,
                   "per_client_min": min(counts) if counts else 0,
                   "per_client_max": max(counts) if counts else 0, **status()}
            if st.latency:
                out["latency_ms"] = percentiles(st.lat_ms)
            return out
        if request == "status":
            return status()
        raise ValueError(f"unknown request {request!r}")

    try:
        await serve_pipe(conn, handle)
    finally:
        for c in clients + slow:
            c.close()
        await asyncio.sleep(0.1)
