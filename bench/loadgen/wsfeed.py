"""Many WebSocket clients on one feed, in a process of their own, counting what arrives.

Used by fanout (samples per second), e2e-latency and slow-client (receive
time minus the robot's ``ts`` of each telemetry sample; robot and clients
share this machine's clock). ``stalled`` extra clients stop reading right
after the upgrade and are left out of every figure.

With ``latency``, each sample's delay is also taken from the time in its
stream id (when Redis stored it) to its receipt: the web tier's share of the
latency, apart from the robot -> gateway -> Redis part (``from_redis_ms``).
Messages are kept with their receive time and decoded when the window
closes, so the measuring costs the shared cores as little as it can.

What is counted: telemetry *samples* (a message is one ``telemetry`` frame or
a ``batch`` of them: docs/api.md section 5) and, separately, the WebSocket
messages that carried them. Latency is taken per sample, each with the
receive time of the chunk its message arrived in.

Requests: ``connect`` -> {"connected", "failed", "seconds"}; ``start`` opens a
measuring window and ``window`` closes it, returning counts and latency
percentiles; ``status`` -> counters so far (closes included).
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import msgspec
import orjson

from bench.loadgen.child import Child, run_child, serve_pipe
from bench.loadgen.ws import WsClient, connect
from bench.stats import percentiles

__all__ = ["FeedClients"]

_TELEMETRY = b'{"type":"telemetry"'
_BATCH = b'{"type":"batch"'


class _Sample(msgspec.Struct):
    ts: float


class _Frame(msgspec.Struct):
    type: str
    id: str = ""
    sample: _Sample | None = None


class _Message(_Frame):
    frames: list[_Frame] = []


# Only what the latency needs: ~1 us a sample, so the receiving process (and
# with it each chunk's receive time) keeps up with 250,000 samples/s.
_decode = msgspec.json.Decoder(_Message).decode


def samples_in(payload: bytes) -> int:
    """Telemetry samples in one message, counted without decoding it."""
    if payload.startswith(_TELEMETRY):
        return 1
    if payload.startswith(_BATCH):
        return payload.count(_TELEMETRY)
    return 0


class FeedClients:
    """``n`` clients (plus ``stalled``) spread over ``processes`` child processes.

    One process per core's worth of receiving work: with latency on, each sample
    is decoded (~1 us), and a receiving process that falls behind would time its
    own backlog (chunks wait in the kernel), not the server's delivery.
    """

    def __init__(
        self,
        port: int,
        path: str,
        n: int,
        *,
        latency: bool = False,
        stalled: int = 0,
        host: str = "127.0.0.1",
        processes: int = 1,
    ) -> None:
        shares = [n // processes + (i < n % processes) for i in range(processes)]
        self._children = [
            Child(
                _main,
                host,
                port,
                path,
                share,
                latency,
                stalled if i == 0 else 0,
                name=f"bench-ws-clients-{i}",
            )
            for i, share in enumerate(shares)
        ]
        self._latency = latency

    @property
    def pid(self) -> int:
        return self._children[0].pid

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self._children]

    def connect(self, timeout: float = 60.0) -> dict[str, Any]:
        parts = [c.call("connect", timeout, timeout=timeout + 5) for c in self._children]
        out: dict[str, Any] = {
            k: sum(p[k] for p in parts) for k in ("connected", "stalled", "failed")
        }
        out["errors"] = dict(sum((Counter(p["errors"]) for p in parts), Counter()))
        out["seconds"] = max(p["seconds"] for p in parts)
        return out

    def start(self) -> None:
        for c in self._children:
            c.call("start")

    def window(self, *, raw: bool = False) -> dict[str, Any]:
        """Close the window: counts and latency percentiles (with ``raw``, also the
        samples themselves under ``raw_latency_ms`` / ``raw_from_redis_ms``, for a caller
        that pools several windows)."""
        parts = [c.call("window", timeout=120) for c in self._children]
        out = _merge(parts)
        if self._latency:
            for key in ("latency_ms", "from_redis_ms"):
                samples = array("d")
                for p in parts:
                    samples.frombytes(p[key])
                out[key] = percentiles(samples)
                if raw:
                    out[f"raw_{key}"] = samples
        return out

    def status(self) -> dict[str, Any]:
        return _merge([c.call("status") for c in self._children])

    def close(self) -> None:
        for c in self._children:
            c.close()


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts summed, per-client extremes across processes, the longest window."""
    out: dict[str, Any] = {}
    for key, value in parts[0].items():
        if key in ("latency_ms", "from_redis_ms"):
            continue
        values = [p[key] for p in parts]
        if key == "per_client_min":
            out[key] = min(values)
        elif key in ("per_client_max", "seconds"):
            out[key] = max(values)
        elif isinstance(value, dict):
            out[key] = dict(sum((Counter(v) for v in values), Counter()))
        else:
            out[key] = sum(values)
    seconds = out.get("seconds") or 0
    for key in ("samples", "messages"):
        if key in out:
            out[f"{key}_s"] = round(out[key] / seconds, 1) if seconds else 0.0
    return out


class _State:
    def __init__(self, latency: bool) -> None:
        self.latency = latency
        self.measuring = False
        self.t0 = 0.0
        self.telemetry = 0
        self.messages = 0
        self.other: Counter[str] = Counter()
        # Each message's receive time now, its samples decoded when the window closes:
        # decoding them as they came kept each client process at ~33 % of a core
        # (~26 % without) on the two cores the chain it times runs on.
        self.received_at = array("d")
        self.received: list[bytes] = []
        self.lat_ms = array("d")
        self.web_ms = array("d")
        self.per_client: Counter[int] = Counter()

    def handler(self, index: int) -> Any:
        def on_text(payload: bytes, t: float) -> None:
            n = samples_in(payload)
            if not n:
                kind = orjson.loads(payload).get("type", "?")
                self.other[str(kind)] += 1
            elif self.measuring:
                self.telemetry += n
                self.messages += 1
                self.per_client[index] += n
                if self.latency:
                    self.received_at.append(t)
                    self.received.append(payload)

        return on_text

    def decode_latencies(self) -> None:
        """The samples of the messages received in the window, each timed by its message."""
        for t, payload in zip(self.received_at, self.received, strict=True):
            self.sample_latency(payload, t)
        self.received_at, self.received = array("d"), []

    def sample_latency(self, payload: bytes, t: float) -> None:
        msg = _decode(payload)
        for f in msg.frames or (msg,):
            if f.sample is not None:
                self.lat_ms.append((t - f.sample.ts) * 1000.0)
                # The stream id's time is when Redis stored it: the web tier's share.
                self.web_ms.append(t * 1000.0 - int(f.id.partition("-")[0]))
            else:
                self.other[f.type] += 1


def _main(
    conn: Connection, host: str, port: int, path: str, n: int, latency: bool, stalled: int
) -> None:
    run_child(conn, lambda c: _serve(c, host, port, path, n, latency, stalled))


async def _serve(
    conn: Connection, host: str, port: int, path: str, n: int, latency: bool, stalled: int
) -> None:
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
        return {
            "connected": len(clients),
            "stalled": len(slow),
            "failed": sum(errors.values()),
            "errors": dict(errors),
            "seconds": round(time.perf_counter() - t0, 2),
        }

    def status() -> dict[str, Any]:
        closes = Counter(str(c.close_code) for c in clients + slow if c.closed.done())
        return {
            "open": sum(not c.closed.done() for c in clients),
            "stalled_open": sum(not c.closed.done() for c in slow),
            "closes": dict(closes),
            "other_frames": dict(st.other),
            "messages_total": sum(c.frames for c in clients),
        }

    async def handle(request: str, arg: Any) -> Any:
        if request == "connect":
            return await open_all(float(arg))
        if request == "start":
            st.measuring, st.t0 = True, time.perf_counter()
            st.telemetry, st.messages, st.per_client = 0, 0, Counter()
            st.lat_ms, st.web_ms = array("d"), array("d")
            st.received_at, st.received = array("d"), []
            return True
        if request == "window":
            seconds = time.perf_counter() - st.t0
            st.measuring = False
            st.decode_latencies()
            counts = [st.per_client.get(i, 0) for i in range(n)]
            out = {
                "seconds": round(seconds, 3),
                "samples": st.telemetry,
                "samples_s": round(st.telemetry / seconds, 1) if seconds else 0.0,
                "messages": st.messages,
                "messages_s": round(st.messages / seconds, 1) if seconds else 0.0,
                "per_client_min": min(counts) if counts else 0,
                "per_client_max": max(counts) if counts else 0,
                **status(),
            }
            if st.latency:  # raw, merged over processes by the parent
                out["latency_ms"] = st.lat_ms.tobytes()
                out["from_redis_ms"] = st.web_ms.tobytes()
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
