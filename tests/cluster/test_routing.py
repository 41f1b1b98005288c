"""Commands with two gateways in one Redis: each reaches the gateway holding its robot."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from functools import partial
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from protocol import cluster, streams
from protocol.messages import Command, Welcome
from protocol.streams import CommandRecord
from protocol.vocabulary import RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.cluster import alive, leader, outcomes, post, two_gateways
from tests.support.replies import RawEntries, as_fields
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def settled(redis: aioredis.Redis, stream: str) -> bool:
    """No entry of ``stream`` pending in its group."""
    if not await redis.exists(stream):
        return True
    summary = await redis.xpending(stream, streams.COMMANDS_GROUP)
    return bool(summary["pending"] == 0)


async def next_command(robot: TestRobot) -> Command:
    while True:
        msg = await robot.wait_command(timeout=10)
        if isinstance(msg, Command):
            return msg


async def test_a_command_reaches_the_gateway_holding_its_robot(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path) as (a, b):
        await wait_for(lambda: leader(redis_client))
        for gw in (a, b):  # wherever the robot is, leader or not
            robot = TestRobot("serve-1", RobotKind.SERVING, gw.tcp_port)
            try:
                assert isinstance(await robot.connect(), Welcome)
                cid = await post(redis_client, "serve-1")
                cmd = await next_command(robot)
                assert cmd.id == cid
                robot.ack(cmd)
                done = await wait_for(partial(outcomes, redis_client, cid))
                assert done == [
                    {
                        "type": "command.acked",
                        "src": gw.gateway.settings.gateway.name,
                        "command": cid,
                        "action": "goto",
                        "attempts": 1,
                        "result": {},
                    }
                ]
                await wait_for(lambda: settled(redis_client, streams.COMMANDS))
                await wait_for(
                    partial(settled, redis_client, cluster.inbox(gw.gateway.settings.gateway.name))
                )
            finally:
                await robot.close()
            await wait_for(lambda: _free(redis_client, "serve-1"))


async def _free(redis: aioredis.Redis, robot: str) -> bool:
    return not await redis.exists(cluster.lease_key(robot))


async def test_a_command_for_a_robot_nobody_holds_fails_fast(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path):
        await wait_for(lambda: leader(redis_client))
        t0 = time.monotonic()
        cid = await post(redis_client, "serve-2")
        done = await wait_for(lambda: outcomes(redis_client, cid))
        assert time.monotonic() - t0 < 2.0  # not the 30 s of its expiry
        assert [d["reason"] for d in done] == ["robot_offline"]
        assert "no gateway holds" in done[0]["detail"]
        await wait_for(lambda: settled(redis_client, streams.COMMANDS))


async def test_a_registry_sync_reaches_every_gateway(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    from protocol.streams import CommandType

    async with two_gateways(redis_server.url, tmp_path) as _:
        await wait_for(lambda: leader(redis_client))
        await wait_for(lambda: _live(redis_client, 2))
        rec = CommandRecord(
            id=uuid.uuid4().hex,
            robot="",
            action="sync",
            ts=time.time(),
            type=CommandType.REGISTRY_SYNC,
            args={"robot": "ghost-1"},
        )
        await redis_client.xadd(streams.COMMANDS, as_fields(streams.to_fields(rec)))

        async def synced() -> set[str]:
            return {
                streams.from_fields(streams.EventRecord, f).src
                for _, f in cast(RawEntries, await redis_client.xrange(streams.EVENTS))
                if f[b"type"] == b"registry.changed"
            }

        assert await wait_for(lambda: _eq(synced(), {"gw-a", "gw-b"}))


async def _live(redis: aioredis.Redis, n: int) -> bool:
    return await redis.exists(cluster.gateway_key("gw-a"), cluster.gateway_key("gw-b")) == n


async def _eq(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_unacknowledged_commands_follow_a_robot_to_its_new_gateway(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path) as (a, b):
        await wait_for(lambda: leader(redis_client))
        first = TestRobot("serve-1", RobotKind.SERVING, a.tcp_port)
        second = TestRobot("serve-1", RobotKind.SERVING, b.tcp_port)
        try:
            assert isinstance(await first.connect(), Welcome)
            cid = await post(redis_client, "serve-1")
            got = await next_command(first)  # received, never acknowledged
            assert got.id == cid
            assert isinstance(await second.connect(), Welcome)  # the robot moved
            again = await next_command(second)
            assert again.id == cid  # the same command: a robot runs an id once
            second.ack(again)
            await alive(second, 0.5)
            done = await wait_for(lambda: outcomes(redis_client, cid))
            assert [(d["type"], d["src"]) for d in done] == [("command.acked", "gw-b")]
            for stream in (streams.COMMANDS, cluster.inbox("gw-a"), cluster.inbox("gw-b")):
                await wait_for(partial(settled, redis_client, stream))
            await alive(second, 1.0)
            assert len(await outcomes(redis_client, cid)) == 1
        finally:
            await first.close()
            await second.close()


async def dead_gateway_inbox(redis: aioredis.Redis, robot: str) -> str:
    """An inbox left by a gateway that died with a command read and not yet decided."""
    stream = cluster.inbox("gw-dead")
    await redis.xgroup_create(stream, streams.COMMANDS_GROUP, id="0", mkstream=True)
    rec = CommandRecord(
        id=uuid.uuid4().hex,
        robot=robot,
        action="goto",
        ts=time.time(),
        args={"x": 3.0, "y": 4.0},
        expires=time.time() + 30,
        source="test",
    )
    await redis.xadd(stream, as_fields(streams.to_fields(rec)))
    await redis.xreadgroup(streams.COMMANDS_GROUP, "gw-dead", {stream: ">"})
    await redis.sadd(cluster.GATEWAYS, "gw-dead")
    return rec.id


async def test_commands_a_dead_gateway_held_go_to_the_robot_s_new_gateway(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path) as (_a, b):
        robot = TestRobot("serve-1", RobotKind.SERVING, b.tcp_port)
        try:
            assert isinstance(await robot.connect(), Welcome)
            cid = await dead_gateway_inbox(redis_client, "serve-1")
            cmd = await next_command(robot)
            assert cmd.id == cid
            robot.ack(cmd)
            done = await wait_for(lambda: outcomes(redis_client, cid))
            assert [(d["type"], d["src"]) for d in done] == [("command.acked", "gw-b")]
            # the dead gateway's inbox, empty, is gone, and so is its name
            await wait_for(lambda: _gone(redis_client), timeout=10)
        finally:
            await robot.close()


async def _gone(redis: aioredis.Redis) -> bool:
    return not await redis.exists(cluster.inbox("gw-dead")) and not await redis.sismember(
        cluster.GATEWAYS, "gw-dead"
    )


async def test_commands_a_dead_gateway_held_for_a_robot_nobody_took_fail_after_the_grace(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path) as (a, _b):
        cid = await dead_gateway_inbox(redis_client, "serve-2")
        t0 = time.monotonic()
        done = await wait_for(lambda: outcomes(redis_client, cid), timeout=15)
        offline_after = a.gateway.settings.gateway.offline_after_s
        assert time.monotonic() - t0 >= offline_after * 0.9  # the robot had its chance
        assert [d["reason"] for d in done] == ["robot_offline"]
        assert "gw-dead died" in done[0]["detail"]
        await wait_for(lambda: _gone(redis_client), timeout=10)
        await asyncio.sleep(1.5)  # a later pass fails it no second time
        assert len(await outcomes(redis_client, cid)) == 1
