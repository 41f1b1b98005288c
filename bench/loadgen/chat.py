"""Chat room members in a process of their own: throughput and ping-pong latency.

``throughput(seconds, inflight)``: every member keeps ``inflight`` of its own
messages on the way and posts the next when it sees one come back, so the
room runs as fast as the server lets it; returns messages posted per second
and deliveries (message x member) per second.
``latency(count)``: member 0 posts one message at a time and waits for its
own copy to come back; returns percentiles of that round trip.
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

__all__ = ["ChatMembers"]

_MESSAGE = b'{"type":"message"'


class ChatMembers:
    def __init__(self, port: int, room: str, members: list[tuple[str, str]]) -> None:
        """``members``: (username, token) each."""
        self._child = Child(_main, port, room, members, name="bench-chat-members")

    @property
    def pid(self) -> int:
        return self._child.pid

    def connect(self) -> dict[str, Any]:
        return dict(self._child.call("connect", timeout=60))

    def throughput(self, seconds: float, inflight: int = 4) -> dict[str, Any]:
        return dict(self._child.call("throughput", (seconds, inflight), timeout=seconds + 60))

    def latency(self, count: int, *, raw: bool = False) -> dict[str, Any]:
        """Round-trip percentiles; with ``raw`` also every sample (ms) under "raw"."""
        return dict(self._child.call("latency", (count, raw), timeout=120))

    def close(self) -> None:
        self._child.close()


class _Member:
    def __init__(self, index: int, username: str, shared: _Shared) -> None:
        self.index, self.username, self.shared = index, username, shared
        self.ws: WsClient | None = None
        self.history: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.on_own: Any = None
        self.received = 0

    def on_text(self, payload: bytes, t: float) -> None:
        if not payload.startswith(_MESSAGE):
            msg = orjson.loads(payload)
            kind = msg.get("type")
            self.shared.other[str(kind)] += 1
            if kind == "history" and not self.history.done():
                self.history.set_result(len(msg.get("messages", [])))
            return
        self.received += 1
        msg = orjson.loads(payload)
        if msg["username"] != self.username:
            return
        fut = self.waiting.pop(msg["content"], None)
        if fut is not None and not fut.done():
            fut.set_result(t)
        if self.on_own is not None:
            self.on_own(msg["content"])

    def post(self, content: str) -> None:
        assert self.ws is not None
        self.ws.send_text(orjson.dumps({"content": content}))


class _Shared:
    def __init__(self) -> None:
        self.other: Counter[str] = Counter()


def _main(conn: Connection, port: int, room: str, members: list[tuple[str, str]]) -> None:
    run_child(conn, lambda c: _serve(c, port, room, members))


async def _serve(conn: Connection, port: int, room: str, members: list[tuple[str, str]]) -> None:
    shared = _Shared()
    ms = [_Member(i, name, shared) for i, (name, _) in enumerate(members)]
    seq = 0

    async def open_all() -> dict[str, Any]:
        t0 = time.perf_counter()
        for m, (_, token) in zip(ms, members, strict=True):
            m.ws = await connect("127.0.0.1", port, f"/ws/chat/{room}?token={token}", m.on_text)
        history = [await asyncio.wait_for(m.history, 10) for m in ms]
        return {"members": len(ms), "history_on_join": history,
                "seconds": round(time.perf_counter() - t0, 2)}

    async def throughput(seconds: float, inflight: int) -> dict[str, Any]:
        nonlocal seq
        posted = 0
        stop_at = time.perf_counter() + seconds
        before = sum(m.received for m in ms)

        def refill(m: _Member) -> Any:
            def on_own(_: str) -> None:
                nonlocal posted, seq
                if time.perf_counter() < stop_at:
                    seq += 1
                    posted += 1
                    m.post(f"t{seq}")
            return on_own

        t0 = time.perf_counter()
        for m in ms:
            m.on_own = refill(m)
            for _ in range(inflight):
                seq += 1
                posted += 1
                m.post(f"t{seq}")
        await asyncio.sleep(seconds)
        for m in ms:
            m.on_own = None
        elapsed = time.perf_counter() - t0
        await asyncio.sleep(0.5)  # what is on the way still arrives (and counts)
        delivered = sum(m.received for m in ms) - before
        return {"posted": posted, "messages_s": round(posted / elapsed, 1),
                "deliveries_s": round(delivered / elapsed, 1), "seconds": round(elapsed, 3),
                "closes": [m.ws.close_code for m in ms if m.ws and m.ws.close_code]}

    async def latency(count: int, raw: bool) -> dict[str, Any]:
        nonlocal seq
        m = ms[0]
        lat: list[float] = []
        loop = asyncio.get_running_loop()
        for _ in range(count):
            seq += 1
            content = f"l{seq}"
            fut: asyncio.Future[float] = loop.create_future()
            m.waiting[content] = fut
            t0 = time.time()
            m.post(content)
            t1 = await asyncio.wait_for(fut, 10)
            lat.append((t1 - t0) * 1000.0)
        return {**percentiles(lat), **({"raw": lat} if raw else {})}

    async def handle(request: str, arg: Any) -> Any:
        if request == "connect":
            return await open_all()
        if request == "throughput":
            return await throughput(*arg)
        if request == "latency":
            return await latency(int(arg[0]), bool(arg[1]))
        raise ValueError(request)

    try:
        await serve_pipe(conn, handle)
    finally:
        for m in ms:
            if m.ws is not None:
                m.ws.close()
        await asyncio.sleep(0.1)
