"""Robot leases with two gateways in one Redis: each robot held by one gateway at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from protocol import cluster
from protocol.messages import Error, Welcome
from protocol.vocabulary import ErrorCode, RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.cluster import TTL, alive, cluster_settings, two_gateways
from tests.support.gateway import run_gateway
from tests.support.replies import RawEntries
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def lease(redis: aioredis.Redis, robot: str) -> cluster.Holder | None:
    return cluster.parse_holder(await redis.get(cluster.lease_key(robot)))


async def events(redis: aioredis.Redis, robot: str) -> list[dict[bytes, bytes]]:
    entries = cast(RawEntries, await redis.xrange("rd:events"))
    return [f for _, f in entries if f.get(b"robot") == robot.encode()]


async def test_a_robot_is_held_by_the_gateway_it_reached_and_its_events_carry_the_fence(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path) as (a, _b):
        robot = TestRobot("serve-1", RobotKind.SERVING, a.tcp_port)
        try:
            assert isinstance(await robot.connect(), Welcome)
            held = await wait_for(lambda: lease(redis_client, "serve-1"))
            assert held.gateway == "gw-a"
            await a.drained()
            online = [
                f
                for f in await events(redis_client, "serve-1")
                if f[b"type"] == b"robot.connection"
            ]
            assert online and online[-1][b"fence"] == str(held.token).encode()
            # renewed: still held after several TTLs
            await alive(robot, TTL * 2.5)
            assert await lease(redis_client, "serve-1") == held
            gateways = await redis_client.smembers(cluster.GATEWAYS)
            assert gateways == {b"gw-a", b"gw-b"}
        finally:
            await robot.close()
        # the robot left: its lease goes at once, not after the TTL
        await wait_for(lambda: _absent(redis_client, "serve-1"), timeout=TTL * 0.9)
    # both gateways stopped: their liveness keys are gone
    assert not await redis_client.exists(cluster.gateway_key("gw-a"), cluster.gateway_key("gw-b"))


async def _absent(redis: aioredis.Redis, robot: str) -> bool:
    return not await redis.exists(cluster.lease_key(robot))


async def test_a_newer_connection_at_another_gateway_wins_once_the_first_lets_go(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path) as (a, b):
        first = TestRobot("serve-1", RobotKind.SERVING, a.tcp_port)
        second = TestRobot("serve-1", RobotKind.SERVING, b.tcp_port)
        try:
            assert isinstance(await first.connect(), Welcome)
            before = await wait_for(lambda: lease(redis_client, "serve-1"))
            answer = await second.connect()
            assert isinstance(answer, Welcome)
            # the first gateway closed its link, telling why
            bye = await first.recv()
            assert isinstance(bye, Error) and bye.code == ErrorCode.REPLACED
            assert "gw-b" in bye.message
            assert await first.closed()
            after = await lease(redis_client, "serve-1")
            assert after is not None and after.gateway == "gw-b"
            assert after.token > before.token
            assert a.gateway.fleet is not None and b.gateway.fleet is not None
            assert a.gateway.fleet.sessions["serve-1"].link is None
            assert b.gateway.fleet.sessions["serve-1"].link is not None
            # gw-a wrote nothing about the robot after it let go (no "offline" over gw-b's online)
            await a.drained()
            await b.drained()
            snap = await redis_client.hget("rd:robot:serve-1", "connection")
            assert snap == b"online"
        finally:
            await first.close()
            await second.close()


async def test_a_lease_of_a_dead_gateway_is_taken_once_it_expires(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path) as (a, _b):
        await redis_client.set(cluster.lease_key("serve-1"), "gw-dead 7", px=int(TTL * 1000))
        robot = TestRobot("serve-1", RobotKind.SERVING, a.tcp_port)
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            assert isinstance(await robot.connect(), Welcome)
            assert loop.time() - t0 >= TTL * 0.5  # it waited for the expiry
            held = await lease(redis_client, "serve-1")
            assert held is not None and held.gateway == "gw-a"
        finally:
            await robot.close()


async def test_a_robot_still_held_elsewhere_after_the_handshake_timeout_is_refused(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path) as (a, _b):
        await redis_client.set(cluster.lease_key("serve-1"), "gw-stuck 3", px=60_000)
        robot = TestRobot("serve-1", RobotKind.SERVING, a.tcp_port)
        try:
            answer = await robot.connect()
            assert isinstance(answer, Error) and answer.code == ErrorCode.HELD_ELSEWHERE
            assert "gw-stuck" in answer.message
            assert await lease(redis_client, "serve-1") == ("gw-stuck", 3)
            # it asked gw-stuck to let go
            assert await redis_client.get(cluster.want_key("serve-1")) == b"gw-a"
        finally:
            await robot.close()


async def test_udp_telemetry_of_a_robot_held_elsewhere_is_dropped(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with two_gateways(redis_server.url, tmp_path) as (a, b):
        robot = TestRobot("serve-1", RobotKind.SERVING, a.tcp_port, udp_port=b.udp_port)
        try:
            assert isinstance(await robot.connect(), Welcome)
            robot.udp(robot.telemetry())  # to gw-b, which does not hold it
            await wait_for(lambda: b.gateway.stats.get("udp_dropped", "not_held") == 1)
            assert b.gateway.fleet is not None
            assert b.gateway.fleet.sessions["serve-1"].conn == "offline"
        finally:
            await robot.close()


async def test_one_gateway_name_cannot_run_twice(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    from config import ConfigError
    from gateway.app import Gateway

    async with run_gateway(cluster_settings(redis_server.url, tmp_path, "gw-a")):
        twin = Gateway(cluster_settings(redis_server.url, tmp_path / "twin", "gw-a"))
        with pytest.raises(ConfigError, match="in use by another live gateway"):
            await twin.run(asyncio.get_running_loop().create_future())


async def test_the_cluster_status_names_gateways_leader_and_robots(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    from gateway.cluster.status import cluster_status

    assert (await cluster_status(redis_client, ["serve-1"]))["enabled"] is False
    async with two_gateways(redis_server.url, tmp_path) as (a, b):
        robot = TestRobot("serve-1", RobotKind.SERVING, b.tcp_port)
        try:
            assert isinstance(await robot.connect(), Welcome)
            await wait_for(lambda: lease(redis_client, "serve-1"))
            await wait_for(lambda: redis_client.get(cluster.LEADER))
            status = await cluster_status(redis_client, ["serve-1", "serve-2"])
        finally:
            await robot.close()
    assert status["enabled"] is True
    by_name = {g["name"]: g for g in status["gateways"]}
    assert set(by_name) == {"gw-a", "gw-b"}
    assert by_name["gw-b"]["robots"] == ["serve-1"] and by_name["gw-a"]["robots"] == []
    assert by_name["gw-b"]["tcp"] == b.tcp_port and by_name["gw-a"]["tcp"] == a.tcp_port
    assert all(g["alive"] for g in status["gateways"])
    leader = status["leader"]
    assert leader is not None and by_name[leader["gateway"]]["leader"] is True
    assert status["unheld"] == ["serve-2"]
