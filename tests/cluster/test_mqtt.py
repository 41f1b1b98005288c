"""MQTT robots with two gateways on one broker: each robot taken care of by one gateway."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from protocol.messages import State
from protocol.mqtt_topics import Presence
from tests.integration.mqtt_support import ScriptedRobot, mqtt_settings
from tests.servers import MosquittoServer, RedisServer
from tests.support.cluster import commanded, holder, leader, mqtt_cluster_settings, outcomes, post  # noqa: F401
from tests.support.gateway import RunningGateway, run_gateway
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

TTL = 1.0


def settings(redis: str, tmp_path: Path, broker: str, name: str) -> Any:
    return mqtt_cluster_settings(redis, tmp_path, broker, name, TTL, vda5050={"enabled": False})


@contextlib.asynccontextmanager
async def gateways(
    redis: str, tmp_path: Path, broker: str
) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    async with (
        run_gateway(settings(redis, tmp_path, broker, "gw-a")) as a,
        run_gateway(settings(redis, tmp_path, broker, "gw-b")) as b,
    ):
        for gw in (a, b):
            assert gw.gateway.mqtt is not None
            await asyncio.wait_for(gw.gateway.mqtt.connected.wait(), 5)
        yield a, b


async def test_each_mqtt_robot_is_taken_by_one_gateway_and_commanded_by_it(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    async with gateways(redis_server.url, tmp_path, mosquitto_private.url):
        await wait_for(lambda: leader(redis_client))
        async with (
            ScriptedRobot(mosquitto_private.port, "mq-1") as one,
            ScriptedRobot(mosquitto_private.port, "mq-cook") as two,
        ):
            for bot in (one, two):
                await bot.presence(Presence.ONLINE)
                await bot.send(State(robot=bot.robot, state="idle"))
            held = {
                bot.robot: await wait_for(partial(holder, redis_client, bot.robot))
                for bot in (one, two)
            }
            assert set(held.values()) <= {"gw-a", "gw-b"}
            for bot in (one, two):
                assert await commanded(bot, redis_client) == held[bot.robot]


async def test_mqtt_robots_of_a_gateway_that_stops_are_taken_by_another(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    sa = settings(redis_server.url, tmp_path, mosquitto_private.url, "gw-a")
    sb = settings(redis_server.url, tmp_path, mosquitto_private.url, "gw-b")
    async with ScriptedRobot(mosquitto_private.port, "mq-1") as bot:
        await bot.presence(Presence.ONLINE)  # retained: online before any gateway runs
        async with run_gateway(sa) as a:
            assert a.gateway.mqtt is not None
            await asyncio.wait_for(a.gateway.mqtt.connected.wait(), 5)
            # nobody announced it: the sweep takes it
            assert await wait_for(lambda: holder(redis_client, "mq-1"), timeout=5) == "gw-a"
            async with run_gateway(sb):
                await wait_for(lambda: leader(redis_client))
                await a.stop()  # its robots go free at once
                await wait_for(lambda: _holder_is(redis_client, "mq-1", "gw-b"), timeout=TTL * 5)
                assert await commanded(bot, redis_client) == "gw-b"


async def _holder_is(redis: aioredis.Redis, robot: str, name: str) -> bool:
    return await holder(redis, robot) == name


async def test_each_vda5050_agv_is_taken_by_one_gateway(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    from protocol.vda5050 import ConnectionState
    from tests.integration.mqtt_support import ScriptedAgv

    names = ("gw-a", "gw-b")
    runs = []
    for name in names:
        (tmp_path / name).mkdir(exist_ok=True)
        runs.append(
            mqtt_settings(
                redis_server.url,
                tmp_path / name,
                mosquitto_private.url,
                gateway={"name": name},
                cluster={"enabled": True, "lease_ttl_s": TTL},
            )
        )
    async with run_gateway(runs[0]) as a, run_gateway(runs[1]) as b:
        for gw in (a, b):
            assert gw.gateway.mqtt is not None
            await asyncio.wait_for(gw.gateway.mqtt.connected.wait(), 5)
        await wait_for(lambda: leader(redis_client))
        async with ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
            await agv.connection(ConnectionState.ONLINE)
            await agv.state()
            held = await wait_for(lambda: holder(redis_client, "agv-1"))
            await post(redis_client, "agv-1", "goto", args={"table": "T1", "x": 4.0, "y": 4.0})
            order, _ = await agv.order(timeout=5)
            assert order.nodes  # a route, from the gateway that holds it
            other = b if held == "gw-a" else a
            holder_gw = a if held == "gw-a" else b
            assert holder_gw.gateway.fleet is not None and other.gateway.fleet is not None
            assert holder_gw.gateway.fleet.sessions["agv-1"].link is not None
            assert other.gateway.fleet.sessions["agv-1"].link is None
