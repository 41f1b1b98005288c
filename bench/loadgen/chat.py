"""Chat room members in a process of their own: throughput and ping-pong latency.

``throughput(seconds, inflight)``: every member keeps ``inflight`` of its own
messages on the way and posts the next when it sees one come back, so the
room runs as fast as the server lets it; returns messages posted per second
and deliveries (message x member) per second.
``latency(count)``: one message at a time, timed from the post until every
member of the room has it (so the order in which the server writes to the
members does not favour a room); the members take turns posting, and the
rooms take turns message by message in a fresh random order each turn, so a
shared machine's drift lands on every room alike. Returns each room's
percentiles.
"""

from __future__ import annotations

import asyncio
import random
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
    def __init__(self, port: int, rooms: list[str], members: list[tuple[str, str]]) -> None:
        """``members``: (username, token) each; every member joins every room. Throughput
        runs in the first room."""
        self._child = Child(_main, port, rooms, members, name="bench-chat-members")

    @property
    def pid(self) -> int:
        return self._child.pid

    def connect(self) -> dict[str, Any]:
        return dict(self._child.call("connect", timeout=60))

    def throughput(self, seconds: float, inflight: int = 4) -> dict[str, Any]:
        return dict(self._child.call("throughput", (seconds, inflight), timeout=seconds + 60))

    def latency(
        self, count: int, rooms: list[str] | None = None, *, raw: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Per room (default: all): percentiles of ``count`` messages' post -> every member
        has it, in ms; with ``raw`` also every sample under "raw"."""
        return dict(self._child.call("latency", (count, raw, rooms), timeout=60 + count))

    def close(self) -> None:
        self._child.close()


class _Member:
    def __init__(self, index: int, username: str, shared: _Shared) -> None:
        self.index, self.username, self.shared = index, username, shared
        self.ws: WsClient | None = None
        self.history: asyncio.Future[int] = asyncio.get_running_loop().create_future()
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
        awaited = self.shared.awaited.get(msg["content"])
        if awaited is not None:
            awaited[0] -= 1
            if awaited[0] == 0 and not awaited[1].done():
                awaited[1].set_result(t)
        if msg["username"] != self.username:
            return
        if self.on_own is not None:
            self.on_own(msg["content"])

    def post(self, content: str) -> None:
        assert self.ws is not None
        self.ws.send_text(orjson.dumps({"content": content}))


class _Shared:
    def __init__(self) -> None:
        self.other: Counter[str] = Counter()
        # content -> [members yet to receive it, resolved with the last one's receive time]
        self.awaited: dict[str, list[Any]] = {}


def _main(conn: Connection, port: int, rooms: list[str], members: list[tuple[str, str]]) -> None:
    run_child(conn, lambda c: _serve(c, port, rooms, members))


async def _serve(
    conn: Connection, port: int, rooms: list[str], members: list[tuple[str, str]]
) -> None:
    shared = _Shared()
    by_room = {
        room: [_Member(i, name, shared) for i, (name, _) in enumerate(members)] for room in rooms
    }
    everyone = [m for room in rooms for m in by_room[room]]
    ms = by_room[rooms[0]]
    seq = 0

    async def open_all() -> dict[str, Any]:
        t0 = time.perf_counter()
        for room in rooms:
            for m, (_, token) in zip(by_room[room], members, strict=True):
                m.ws = await connect("127.0.0.1", port, f"/ws/chat/{room}?token={token}", m.on_text)
        history = {
            room: [await asyncio.wait_for(m.history, 10) for m in by_room[room]] for room in rooms
        }
        return {
            "members": len(ms),
            "history_on_join": history,
            "seconds": round(time.perf_counter() - t0, 2),
        }

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
        return {
            "posted": posted,
            "messages_s": round(posted / elapsed, 1),
            "deliveries_s": round(delivered / elapsed, 1),
            "seconds": round(elapsed, 3),
            "closes": [m.ws.close_code for m in ms if m.ws and m.ws.close_code],
        }

    async def latency(count: int, raw: bool, which: list[str]) -> dict[str, dict[str, Any]]:
        nonlocal seq
        lat: dict[str, list[float]] = {room: [] for room in which}
        loop = asyncio.get_running_loop()
        order = list(which)
        for i in range(count):
            random.shuffle(order)
            for room in order:
                seq += 1
                content = f"l{seq}"
                fut: asyncio.Future[float] = loop.create_future()
                shared.awaited[content] = [len(by_room[room]), fut]
                t0 = time.time()
                by_room[room][i % len(members)].post(content)
                try:
                    t1 = await asyncio.wait_for(fut, 10)
                finally:
                    del shared.awaited[content]
                lat[room].append((t1 - t0) * 1000.0)
        return {room: {**percentiles(v), **({"raw": v} if raw else {})} for room, v in lat.items()}

    async def handle(request: str, arg: Any) -> Any:
        if request == "connect":
            return await open_all()
        if request == "throughput":
            return await throughput(*arg)
        if request == "latency":
            return await latency(int(arg[0]), bool(arg[1]), list(arg[2] or rooms))
        raise ValueError(request)

    try:
        await serve_pipe(conn, handle)
    finally:
        for m in everyone:
            if m.ws is not None:
                m.ws.close()
        await asyncio.sleep(0.1)
