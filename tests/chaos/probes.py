"""Counting the simulated robots' numbered ``probe`` events: lost, duplicated, out of order.

Each robot numbers its probes 1, 2, ...; the stream (or a client's feed) shows which numbers
arrived and in what order. A number missing is lost, one seen twice a duplicate, one smaller
than a number of the same robot seen before it out of order.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis

from protocol import streams
from simulator.fleet import Fleet
from tests.support.replies import RawEntries

# Set by scripts/reliability-report: each test appends its figures to this file (JSON lines).
FIGURES_ENV = "CHAOS_FIGURES"


@dataclass
class Tally:
    generated: int = 0
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    lost_by_robot: dict[str, int] = field(default_factory=dict)


def tally(
    generated: Mapping[str, int],
    seen: Iterable[tuple[str, int]],
    after: Mapping[str, int] | None = None,
) -> Tally:
    """``generated``: per robot, the last number it made; ``seen``: (robot, n) in arrival
    order. With ``after``, only numbers above ``after[robot]`` count (those made after a
    point in time, e.g. once Redis lost everything older)."""
    floor = after or {}
    got: dict[str, list[int]] = defaultdict(list)
    out = Tally()
    top: dict[str, int] = {}
    for robot, n in seen:
        if n <= floor.get(robot, 0):
            continue
        if n < top.get(robot, 0) and n not in got[robot]:  # a duplicate is counted as one
            out.out_of_order += 1
        got[robot].append(n)
        out.received += 1
        top[robot] = max(top.get(robot, 0), n)
    for robot, last in generated.items():
        made = max(0, last - floor.get(robot, 0))
        out.generated += made
        unique = set(got.get(robot, ()))
        out.duplicated += len(got.get(robot, ())) - len(unique)
        lost = made - len(unique & set(range(floor.get(robot, 0) + 1, last + 1)))
        if lost:
            out.lost_by_robot[robot] = lost
        out.lost += lost
    return out


async def stream_probes(r: aioredis.Redis, start: str = "-") -> list[tuple[str, str, int]]:
    """Every probe event in rd:events from ``start`` on: (entry id, robot, n), in order."""
    out: list[tuple[str, str, int]] = []
    cursor = start
    while True:
        chunk = cast(RawEntries, await r.xrange(streams.EVENTS, cursor, "+", count=5000))
        for entry_id, fields in chunk:
            probe = _probe(fields)
            if probe is not None:
                out.append((entry_id.decode(), *probe))
        if len(chunk) < 5000:
            return out
        cursor = "(" + chunk[-1][0].decode()


def _probe(fields: dict[bytes, bytes]) -> tuple[str, int] | None:
    if fields.get(b"type") != b"robot.event":
        return None
    data = json.loads(fields.get(b"data", b"{}"))
    if data.get("name") != "probe":
        return None
    return fields[b"robot"].decode(), int(data["data"]["n"])


def probe_of_event(event: Mapping[str, Any]) -> tuple[str, int] | None:
    """(robot, n) of a decoded event (a feed frame's ``event``), None if it is no probe."""
    data = event.get("data") or {}
    if event.get("type") != "robot.event" or data.get("name") != "probe":
        return None
    return str(event["robot"]), int(data["data"]["n"])


class ProbeWatch:
    """Follows rd:events as it grows, to time a recovery."""

    def __init__(self, r: aioredis.Redis) -> None:
        self.r = r
        self.cursor = "-"
        self.seen: dict[str, set[int]] = defaultdict(set)

    async def read(self) -> None:
        for entry_id, robot, n in await stream_probes(self.r, self.cursor):
            self.seen[robot].add(n)
            self.cursor = "(" + entry_id

    def holds(self, marks: Mapping[str, int], after: Mapping[str, int] | None = None) -> bool:
        low = after or {}
        return all(set(range(low.get(r, 0) + 1, m + 1)) <= self.seen[r] for r, m in marks.items())

    def beyond(self, marks: Mapping[str, int]) -> bool:
        return all(any(n > m for n in self.seen[r]) for r, m in marks.items())

    async def until(self, check: Any, timeout: float) -> float | None:
        """Seconds until ``check()`` holds (reading the stream meanwhile); None on timeout."""
        t0 = time.monotonic()
        while True:
            await self.read()
            if check():
                return round(time.monotonic() - t0, 2)
            if time.monotonic() - t0 > timeout:
                return None
            await asyncio.sleep(0.05)


async def settle(fleet: Fleet, r: aioredis.Redis, timeout: float = 20.0) -> dict[str, int]:
    """Stop making probes, let every robot send what it holds, and wait (up to ``timeout``)
    for each robot's last probe to reach rd:events. Returns what each robot made."""
    for robot in fleet.robots.values():
        robot.stop_probes()
    made = fleet.probes()
    watch = ProbeWatch(r)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = all(bot.connected and bot.queued == 0 for bot in fleet.robots.values())
        await watch.read()
        if sent and all(m == 0 or m in watch.seen[rb] for rb, m in made.items()):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # anything still on its way behind the last one
    return made


def record(
    name: str, injected: str, load: str, promise: str, t: Tally | None = None, **figures: Any
) -> dict[str, Any]:
    """Print one test's figures and keep them for the report (``$CHAOS_FIGURES``)."""
    row: dict[str, Any] = {
        "test": name,
        "injected": injected,
        "load": load,
        "promise": promise,
        **(asdict(t) if t is not None else {}),
        **figures,
    }
    print(f"\nchaos figures: {json.dumps(row)}")
    path = os.environ.get(FIGURES_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
    return row
