"""Many lean TCP robots in one process: real handshakes, then telemetry frames at ``hz``.

Each robot is an ``asyncio.Protocol`` around the sans-IO
``protocol.tcp.RobotConnection`` (no task per robot). One ticker sends every
10 ms to the tenth of the fleet whose turn it is, so the load is smooth, not
a burst per period; heartbeats go out every ``heartbeat_s`` the welcome names.
Telemetry travels in TCP frames (not UDP), which is what ingest-tcp measures.

The parent drives it over a pipe: ``status()`` returns counters, ``close()``
stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import random
import secrets
import time
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from protocol.messages import Challenge, Error, Heartbeat, Ping, Telemetry, Welcome
from protocol.tcp import NEED_DATA, RobotConnection
from protocol.vocabulary import RobotKind

__all__ = ["TcpRobots"]

_SLICES = 10
_CONNECTING = 50  # handshakes in flight at once


class TcpRobots:
    """The parent's handle on the robot process."""

    def __init__(
        self, host: str, port: int, robots: list[tuple[str, str, bytes]], hz: float
    ) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_main, args=(child, host, port, robots, hz), name="bench-tcp-robots", daemon=True
        )
        self._proc.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def status(self) -> dict[str, Any]:
        self._conn.send("status")
        if not self._conn.poll(30):
            raise TimeoutError("tcp robot process did not answer")
        reply = self._conn.recv()
        if isinstance(reply, BaseException):
            raise RuntimeError(f"tcp robot process failed: {reply!r}")
        return dict(reply)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2)


class _Robot(asyncio.Protocol):
    def __init__(self, robot: str, kind: str, key: bytes, counts: dict[str, int]) -> None:
        self.robot = robot
        self.codec = RobotConnection(
            robot, RobotKind(kind), key, secrets.token_hex(16), firmware="robodine-bench"
        )
        self.counts = counts
        self.transport: asyncio.Transport | None = None
        self.welcomed: asyncio.Future[Welcome] = asyncio.get_running_loop().create_future()
        self.seq = 0
        self.heartbeat_s = 1.0
        self.rng = random.Random(robot)
        self.x, self.y = self.rng.uniform(0, 40), self.rng.uniform(0, 25)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.codec.receive_data(data)
        while True:
            msg = self.codec.next_event()
            if msg is NEED_DATA:
                return
            if isinstance(msg, Challenge):
                self._write(self.codec.hello(msg, time.time()))
            elif isinstance(msg, Welcome):
                self.heartbeat_s = msg.heartbeat_s
                if not self.welcomed.done():
                    self.welcomed.set_result(msg)
            elif isinstance(msg, Ping):
                self.heartbeat()
            elif isinstance(msg, Error):
                self.counts["errors"] += 1
                self.counts[f"error:{msg.code}"] = self.counts.get(f"error:{msg.code}", 0) + 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.counts["lost"] += 1
        self.transport = None
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(f"closed in handshake: {exc}"))
            self.welcomed.exception()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def telemetry(self, now: float) -> None:
        self.seq += 1
        self.x += self.rng.uniform(-0.05, 0.05)
        self.y += self.rng.uniform(-0.05, 0.05)
        self._write(
            self.codec.send(
                Telemetry(
                    robot=self.robot,
                    seq=self.seq,
                    ts=now,
                    x=round(self.x, 3),
                    y=round(self.y, 3),
                    theta=round(self.rng.uniform(-3.14, 3.14), 3),
                    battery=87.5,
                    speed=0.6,
                )
            )
        )
        self.counts["telemetry"] += 1

    def heartbeat(self) -> None:
        self.seq += 1
        self._write(self.codec.send(Heartbeat(robot=self.robot, seq=self.seq, ts=time.time())))
        self.counts["heartbeats"] += 1


def _main(
    conn: Connection, host: str, port: int, robots: list[tuple[str, str, bytes]], hz: float
) -> None:
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(conn, host, port, robots, hz))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send(exc)
        raise


async def _serve(
    conn: Connection, host: str, port: int, robots: list[tuple[str, str, bytes]], hz: float
) -> None:
    loop = asyncio.get_running_loop()
    counts = {
        "telemetry": 0,
        "heartbeats": 0,
        "errors": 0,
        "lost": 0,
        "connected": 0,
        "connect_failed": 0,
    }
    fleet: list[_Robot] = []
    gate = asyncio.Semaphore(_CONNECTING)
    t0 = time.perf_counter()
    state: dict[str, Any] = {"connect_s": None}

    async def connect(robot: str, kind: str, key: bytes) -> None:
        async with gate:
            try:
                _, proto = await loop.create_connection(
                    lambda: _Robot(robot, kind, key, counts), host, port
                )
                async with asyncio.timeout(30):
                    await proto.welcomed
            except (OSError, TimeoutError) as exc:
                counts["connect_failed"] += 1
                state["last_error"] = str(exc)
                return
        counts["connected"] += 1
        fleet.append(proto)
        if counts["connected"] == len(robots):
            state["connect_s"] = round(time.perf_counter() - t0, 2)

    async with asyncio.TaskGroup() as tg:
        for robot, kind, key in robots:
            tg.create_task(connect(robot, kind, key))
        ticker = tg.create_task(_tick(fleet, hz))
        while True:
            if conn.poll():
                cmd = conn.recv()
                if cmd == "stop":
                    break
                conn.send({**counts, **state, "open": sum(r.transport is not None for r in fleet)})
            await asyncio.sleep(0.02)
        ticker.cancel()
    for r in fleet:
        if r.transport is not None:
            r.transport.close()


async def _tick(fleet: list[_Robot], hz: float) -> None:
    """Every 1/(hz * slices) s, robots whose index is the slice number send telemetry."""
    step = 1.0 / (hz * _SLICES)
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    k = 0
    next_beat: dict[int, float] = {}
    while True:
        now = time.time()
        mono = loop.time()
        for i in range(k, len(fleet), _SLICES):
            r = fleet[i]
            r.telemetry(now)
            if mono >= next_beat.get(i, 0.0):
                next_beat[i] = mono + r.heartbeat_s
                r.heartbeat()
        k = (k + 1) % _SLICES
        next_at += step
        delay = next_at - loop.time()
        if delay < -step:  # fell behind: skip ahead, don't burst
            next_at = loop.time()
            delay = 0.0
        await asyncio.sleep(max(0.0, delay))
