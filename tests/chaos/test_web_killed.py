"""The web tier SIGKILLed under a simulated fleet while a WebSocket client and an SSE client
follow /events; restarted: each client, resuming the documented way (``?since=<id>``,
``Last-Event-ID``), gets every event once, in stream order (docs/api.md §5, Resuming)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp
import orjson
import pytest

from protocol import streams
from robodine.redisio.streamid import StreamId
from tests.chaos.probes import Tally, probe_of_event, record, settle, stream_probes
from tests.chaos.world import wait_until
from tests.servers import RedisServer
from tests.support.chaos import OUTAGES, MakeWorld

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROBOTS = 6
TOPIC = {"type": "robot.event"}


class Follower:
    """One feed client: keeps the id of the last frame that had one and reconnects with it."""

    def __init__(self, port: int, token: str, since: str, sse: bool) -> None:
        self.port, self.token, self.sse = port, token, sse
        self.last = since
        self.got: list[str] = []  # stream ids of the probe events, in arrival order
        self.connects = 0
        self.resets = 0  # snapshots with reset: true (never expected here)
        self.not_resumed = 0  # reconnects the server did not take as a resume

    async def run(self) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError, ConnectionError, TimeoutError):
                    await (self._sse(http) if self.sse else self._ws(http))
                await asyncio.sleep(0.2)

    def _frame(self, f: dict[str, Any]) -> None:
        if f["type"] == "hello":
            self.connects += 1
            self.not_resumed += not f["resumed"]
        elif f["type"] == "snapshot":
            self.resets += bool(f["reset"])
            self.last = f["id"]
        elif f["type"] == "event":
            if probe_of_event(f["event"]) is not None:
                self.got.append(f["id"])
            self.last = f["id"]

    async def _ws(self, http: aiohttp.ClientSession) -> None:
        params = {**TOPIC, "token": self.token, "since": self.last}
        async with http.ws_connect(
            f"http://127.0.0.1:{self.port}/ws/events", params=params, heartbeat=2.0
        ) as ws:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    return
                self._frame(orjson.loads(msg.data))

    async def _sse(self, http: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Last-Event-ID": self.last}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=10)
        async with http.get(
            f"http://127.0.0.1:{self.port}/api/stream/events",
            params=TOPIC,
            headers=headers,
            timeout=timeout,
        ) as resp:
            if resp.status != 200:
                return
            data = b""
            async for line in resp.content:
                if line.startswith(b"data: "):
                    data = line[6:]
                elif line == b"\n" and data:
                    f = orjson.loads(data)
                    data = b""
                    if f["type"] == "goodbye":
                        return
                    self._frame(f)


def compare(reference: list[str], got: list[str]) -> Tally:
    """What a client saw of the reference ids: lost, duplicated, out of order."""
    t = Tally(generated=len(reference), received=len(got))
    t.lost = len(set(reference) - set(got))
    t.duplicated = len(got) - len(set(got))
    top: StreamId | None = None
    for i in got:
        sid = StreamId.parse(i)
        if top is not None and sid < top:
            t.out_of_order += 1
        top = sid if top is None or sid > top else top
    return t


async def tail(world: Any) -> str:
    last = await world.redis.xrevrange(streams.EVENTS, count=1)
    return last[0][0].decode() if last else "0-0"


@pytest.mark.parametrize("outage_s", OUTAGES)
async def test_web_killed_under_resuming_clients(
    redis_private: RedisServer, make_world: MakeWorld, outage_s: float
) -> None:
    world = await make_world(redis_private, robots=ROBOTS)
    world.start_gateway()
    world.start_web()
    token = world.token()
    async with world.fleet(probe_hz=10.0) as fleet:
        await world.online(world.robot_ids)
        start = await tail(world)
        clients = {
            "websocket": Follower(world.ports.web, token, start, sse=False),
            "sse": Follower(world.ports.web, token, start, sse=True),
        }
        tasks = [asyncio.create_task(c.run()) for c in clients.values()]
        await asyncio.sleep(2.0)
        world.kill(world.web)
        await asyncio.sleep(outage_s)
        world.start_web(first=False)
        restarted = time.monotonic()
        mark = StreamId.parse(await tail(world))
        recovery: dict[str, float | None] = dict.fromkeys(clients)
        while None in recovery.values() and time.monotonic() - restarted < 30:
            for name, c in clients.items():  # level again with the stream as it was
                if recovery[name] is None and StreamId.parse(c.last) >= mark:
                    recovery[name] = round(time.monotonic() - restarted, 2)
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)
        await settle(fleet, world.redis)
        end = StreamId.parse(await tail(world))

        async def level() -> bool:
            return all(StreamId.parse(c.last) >= end for c in clients.values())

        await wait_until(level, timeout=20, interval=0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    reference = [i for i, _, _ in await stream_probes(world.redis, "(" + start)]
    tallies = {name: compare(reference, c.got) for name, c in clients.items()}
    for name, c in clients.items():
        t = tallies[name]
        record(
            f"web SIGKILL {outage_s:g}s, {name}",
            f"web tier SIGKILLed, restarted after {outage_s:g} s; a {name} client resumes",
            f"{ROBOTS} TCP robots, 10 events/s each, through the gateway",
            "a resuming client gets every event once, in order",
            t,
            recovery_s=recovery[name],
            connects=c.connects,
            resets=c.resets,
        )
    for name, c in clients.items():
        t = tallies[name]
        assert (t.lost, t.duplicated, t.out_of_order) == (0, 0, 0), (name, t)
        assert c.connects >= 2 and c.resets == 0 and c.not_resumed == 0, name
        assert recovery[name] is not None, name
