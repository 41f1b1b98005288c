"""Redis restarted without persistence (all data gone): the gateway writes back, from
memory, every field of every robot's snapshot, the robots index and the open orders."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from protocol import streams
from protocol.messages import Command
from protocol.vocabulary import RobotKind
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.integration import online
from tests.support.replies import RawFields, as_fields
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Written by the lua script from the newest sample; everything else comes from events.
TELEMETRY_FIELDS = {"seq", "ts", "x", "y", "theta", "battery", "speed", "seen", "updated"}


async def _snapshots(client: aioredis.Redis) -> dict[str, dict[bytes, bytes]]:
    return {
        robot: cast(RawFields, await client.hgetall(streams.robot_key(robot)))
        for robot in ("serve-1", "serve-2", "cook-1")
    }


@pytest.mark.parametrize("traffic", ["telemetry", "quiet"])
async def test_a_redis_that_lost_its_data_gets_every_snapshot_field_back(
    volatile_redis: RedisServer, tmp_path: Path, traffic: str
) -> None:
    client = aioredis.Redis.from_url(volatile_redis.url)
    settings = gateway_settings(
        volatile_redis.url, tmp_path, gateway={"stale_after_s": 30, "offline_after_s": 60}
    )
    async with run_gateway(settings) as gw:
        bot = await online(gw)
        cook = await online(gw, "cook-1", RobotKind.COOKING)
        bot.state("idle")
        cook.state("idle")
        bot.udp(bot.telemetry(x=3.5, y=4.25, battery=77.0))
        if traffic == "telemetry":  # and an open order, which the dispatcher rewrites each tick
            order = uuid.uuid4().hex
            place = streams.CommandRecord(
                id=uuid.uuid4().hex, robot="", action="place", ts=time.time(), type="order.place",
                args={"order": order, "table": {"name": "T1", "x": 5.0, "y": 2.0},
                      "items": [{"line": "1", "name": "Bibimbap", "recipe": "bibimbap"}]},
            )  # fmt: skip
            await client.xadd(streams.COMMANDS, as_fields(streams.to_fields(place)))
            cmd = await cook.wait_command()  # the cook task: the order is open in rd:dispatch
            assert isinstance(cmd, Command)
            cook.ack(cmd)
            cook.state("cooking", cmd.args["task"])
            await wait_for(lambda: client.hexists(streams.DISPATCH, order))
        else:  # nothing written after the restart unless the writer looks for itself
            cook.state("cooking", "t1")

        async def settled() -> bool:
            snaps = await _snapshots(client)
            cooking = snaps["cook-1"].get(b"state") == b"cooking"
            return snaps["serve-1"].get(b"x") == b"3.5" and cooking

        await wait_for(settled)
        await gw.drained()
        before = await _snapshots(client)
        assert before["serve-1"][b"connection"] == b"online"
        assert before["serve-2"][b"kind"] == b"serving"  # configured, never connected
        dispatch = await client.hgetall(streams.DISPATCH)
        await client.set("test:marker", "1")  # only this test writes it: gone means data lost

        volatile_redis.kill()
        volatile_redis.start()  # same port, nothing kept
        await client.aclose()
        client = aioredis.Redis.from_url(volatile_redis.url)
        # (not DBSIZE == 0: the gateway may already have written again)
        assert await client.exists("test:marker") == 0

        async def rebuilt() -> bool:
            bot.heartbeat()
            cook.heartbeat()
            if traffic == "telemetry":
                bot.udp(bot.telemetry(x=3.5, y=4.25, battery=77.0))
            snaps = await _snapshots(client)
            return all(set(before[r]) <= set(snaps[r]) for r in before) and await client.hlen(
                streams.DISPATCH
            ) == len(dispatch)

        await wait_for(rebuilt, timeout=15, interval=0.2)
        after = await _snapshots(client)
        for robot, fields in before.items():
            kept = {k: v for k, v in fields.items() if k.decode() not in TELEMETRY_FIELDS}
            assert {k: after[robot][k] for k in kept} == kept, robot
        assert after["serve-1"][b"connection"] == b"online"  # what /api/robots shows
        members = cast(set[bytes], await client.smembers(streams.ROBOTS_INDEX))
        assert {m.decode() for m in members} == {
            "serve-1", "serve-2", "cook-1"
        }  # fmt: skip
        assert await client.hgetall(streams.DISPATCH) == dispatch
        await asyncio.gather(bot.close(), cook.close())
    await client.aclose()
