"""Robots added through the API (rd:registry) on MQTT and VDA 5050, with two gateways on one
broker: claimed by one gateway like config robots, before and after a start, and let go
when removed."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from protocol import streams
from protocol.messages import State
from protocol.mqtt_topics import Presence
from tests.integration.mqtt_support import MANUFACTURER, ScriptedAgv, ScriptedRobot
from tests.servers import MosquittoServer, RedisServer
from tests.support.cluster import commanded, holder, leader, mqtt_cluster_settings, post
from tests.support.gateway import run_gateway
from tests.support.registry import DATA_KEY, changes, put, sync
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

TTL = 1.0


def settings(redis: str, tmp_path: Path, broker: str, name: str) -> Any:
    return mqtt_cluster_settings(redis, tmp_path, broker, name, TTL, data={"key": DATA_KEY.hex()})


async def _changed_everywhere(r: aioredis.Redis, robot: str, change: str) -> bool:
    """Both gateways applied the registry.sync (each writes its registry.changed)."""
    return sum(1 for c in await changes(r) if c == (robot, change)) >= 2


async def test_api_robots_on_mqtt_and_vda5050_are_claimed_by_one_gateway_and_let_go(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    broker = mosquitto_private.url
    await put(redis_client, "api-early", "mqtt")  # in rd:registry before the gateways start
    async with (
        run_gateway(settings(redis_server.url, tmp_path, broker, "gw-a")) as a,
        run_gateway(settings(redis_server.url, tmp_path, broker, "gw-b")) as b,
    ):
        for gw in (a, b):
            assert gw.gateway.mqtt is not None
            await asyncio.wait_for(gw.gateway.mqtt.connected.wait(), 5)
        await wait_for(lambda: leader(redis_client))
        # added while they run: registry.sync reaches both gateways
        await put(redis_client, "api-late", "mqtt")
        await put(
            redis_client,
            "api-agv",
            "vda5050",
            {"manufacturer": MANUFACTURER, "serial": "API-9", "version": "2.0.0"},
        )
        for robot in ("api-late", "api-agv"):
            await sync(redis_client, robot)
        for robot in ("api-late", "api-agv"):
            await wait_for(partial(_changed_everywhere, redis_client, robot, "added"), 10)
        async with (
            ScriptedRobot(mosquitto_private.port, "api-early") as early,
            ScriptedRobot(mosquitto_private.port, "api-late") as late,
            ScriptedAgv(mosquitto_private.port, "API-9", version="2.0.0") as agv,
        ):
            for bot in (early, late):
                await bot.presence(Presence.ONLINE)
                await bot.send(State(robot=bot.robot, state="idle"))
            await agv.connection()
            await agv.state()
            held = {
                robot: await wait_for(partial(holder, redis_client, robot), timeout=10)
                for robot in ("api-early", "api-late", "api-agv")
            }
            assert set(held.values()) <= {"gw-a", "gw-b"}
            for bot in (early, late):  # commanded once, by the gateway holding it
                assert await commanded(bot, redis_client) == held[bot.robot], bot.robot
            await post(redis_client, "api-agv", "goto", args={"table": "T1", "x": 4.0, "y": 4.0})
            order, _ = await agv.order(timeout=5)
            assert order.nodes
            gws = {"gw-a": a, "gw-b": b}
            for robot, name in held.items():
                fleets = {n: g.gateway.fleet for n, g in gws.items()}
                assert all(f is not None for f in fleets.values())
                claims = {n: _claims(g, robot) for n, g in gws.items()}
                assert claims[name] is not None and robot in claims[name].held
                assert all(robot not in c.held for n, c in claims.items() if n != name and c)

            # removed from rd:registry: not held any more, its lease let go
            for robot in ("api-late", "api-agv"):
                await redis_client.hdel(streams.REGISTRY, robot)
                await sync(redis_client, robot)
            for robot in ("api-late", "api-agv"):
                await wait_for(
                    partial(_changed_everywhere, redis_client, robot, "removed"), timeout=10
                )
                assert await wait_for(partial(_free, redis_client, robot), timeout=5)
                for g in gws.values():
                    c = _claims(g, robot)
                    assert c is not None and robot not in c.held and robot not in c.robots
            assert await holder(redis_client, "api-early") == held["api-early"]


async def _free(r: aioredis.Redis, robot: str) -> bool:
    return await holder(r, robot) == ""


def _claims(gw: Any, robot: str) -> Any:
    """The claims of the router serving ``robot``'s transport in that gateway."""
    from gateway.transports.mqtt_robots import RobotRouter
    from gateway.vda5050.master import MasterControl

    kind = MasterControl if robot == "api-agv" else RobotRouter
    mqtt = gw.gateway.mqtt
    for router in mqtt.routers if mqtt is not None else ():
        if isinstance(router, kind):
            return router.claims
    return None
