"""A task of the gateway crashes: the ordered stop still runs, and nothing buffered is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from config import Settings
from gateway.app import Gateway
from gateway.streams.spool import Spool
from protocol import streams
from protocol.messages import Error, Welcome
from protocol.vocabulary import ErrorCode, RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings
from tests.support.integration import events
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

BURST = 50


class Boom(Exception):
    pass


async def _crash_with_held_events(
    settings: Settings, before_crash: Callable[[Gateway], Awaitable[None]] | None = None
) -> Gateway:
    """Start a gateway with a robot, then make its ticker write BURST events and raise in
    the same turn of the loop: the writer has not flushed a single one of them yet."""
    gw = Gateway(settings)
    task = asyncio.create_task(gw.run(asyncio.Event().wait()))
    await asyncio.wait_for(gw.started.wait(), 10)
    bot = TestRobot("serve-1", RobotKind.SERVING, gw.tcp_port, gw.udp_port)
    assert isinstance(await bot.connect(), Welcome)
    assert gw.fleet is not None and gw.writer is not None
    if before_crash is not None:
        await before_crash(gw)

    writer = gw.writer

    def tick(now: float) -> None:
        for n in range(BURST):
            writer.event(streams.EventType.ROBOT_EVENT, "serve-1", data={"n": n})
        raise Boom("ticker failed")

    fleet: Any = gw.fleet  # its tick swapped for one that fails (mypy: a method)
    fleet.tick = tick
    with pytest.raises(BaseExceptionGroup) as raised:
        await asyncio.wait_for(task, 15)
    assert raised.group_contains(Boom)
    # the robot was told, as at a clean stop
    told = await bot.recv()
    assert isinstance(told, Error) and told.code is ErrorCode.SHUTTING_DOWN
    await bot.close()
    return gw


async def test_a_crashed_task_still_flushes_every_held_event_and_records_the_stop(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    await _crash_with_held_events(gateway_settings(redis_server.url, tmp_path))
    got = [e["data"]["n"] for e in await events(redis_client, "robot.event")]
    assert got == list(range(BURST))
    [stopped] = await events(redis_client, "gateway.stopped")
    assert stopped["level"] == "alarm" and "Boom: ticker failed" in stopped["data"]["error"]
    assert len(Spool(tmp_path / "spool.sqlite3", 10)) == 0  # nothing left behind


async def test_a_crash_during_an_outage_leaves_every_held_event_in_the_spool(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    settings = gateway_settings(
        redis_private.url, tmp_path, gateway={"stale_after_s": 30, "offline_after_s": 60}
    )

    async def outage(gw: Gateway) -> None:
        redis_private.kill()
        await wait_for(lambda: gw.writer is not None and not gw.writer.up, timeout=10)

    await _crash_with_held_events(settings, outage)
    spool = Spool(tmp_path / "spool.sqlite3", 10_000)
    rows = [rec for _, rec in spool.peek(10_000)]
    spool.close()
    types = [r.fields["type"] for r in rows]
    ns = [r.fields["data"] for r in rows if r.fields["type"] == "robot.event"]
    assert ns == [f'{{"n":{n}}}' for n in range(BURST)]
    assert types[-1] == "gateway.stopped"  # recorded after them, kept on disk too

    # and the next gateway, with Redis back, replays them in order
    redis_private.start()
    client = aioredis.Redis.from_url(redis_private.url)
    gw = Gateway(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(gw.run(stop.wait()))
    try:
        await wait_for(lambda: _count(client, "robot.event", BURST), timeout=15)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    got = [e["data"]["n"] for e in await events(client, "robot.event")]
    assert got == list(range(BURST))
    await client.aclose()


async def _count(client: aioredis.Redis, type_: str, n: int) -> bool:
    return len(await events(client, type_)) >= n
