"""Robots of rd:registry on MQTT and VDA 5050: served like config robots of that transport.

The entries carry ``transport`` and ``vda`` as a config robot does; the gateway's
MQTT router and VDA 5050 master control learn them at start (present before) and
without a restart (``registry.sync``), and forget them when they are removed.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from protocol import streams
from protocol.messages import Ack, State
from protocol.mqtt_topics import Presence, decode_command
from tests.integration.mqtt_support import (
    MANUFACTURER,
    ScriptedAgv,
    ScriptedRobot,
    events,
    mqtt_settings,
)
from tests.servers import MosquittoServer, RedisServer
from tests.support.gateway import run_gateway
from tests.support.integration import outcome, submit
from tests.support.registry import (
    DATA_KEY,
    changes,
    put,
    sync,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def connections(r: aioredis.Redis, robot: str) -> list[tuple[str, str]]:
    return [
        (e["data"]["state"], e["data"]["transport"])
        for e in await events(r, "robot.connection", robot)
    ]


async def test_api_robots_on_mqtt_and_vda5050_are_served_then_forgotten(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    settings = mqtt_settings(
        redis_server.url, tmp_path, mosquitto_private.url, data={"key": DATA_KEY.hex()}
    )
    await put(redis_client, "api-mq", "mqtt")  # there at start: loaded before MQTT opens
    async with run_gateway(settings) as gw:
        assert gw.gateway.mqtt is not None
        stats = gw.gateway.stats
        await asyncio.wait_for(gw.gateway.mqtt.connected.wait(), 5)
        # added while running, with a pinned version
        await put(
            redis_client,
            "api-agv",
            "vda5050",
            {"manufacturer": MANUFACTURER, "serial": "API-7", "version": "2.0.0"},
        )
        await sync(redis_client, "api-agv")
        await wait_for(lambda: _has(changes(redis_client), ("api-agv", "added")))

        async with ScriptedRobot(mosquitto_private.port, "api-mq") as bot:
            await bot.presence(Presence.ONLINE)
            await bot.send(State(robot="api-mq", state="idle"))
            await wait_for(lambda: connections(redis_client, "api-mq"))
            cid = await submit(redis_client, "api-mq", "dock")
            got = await bot.next()
            cmd = decode_command(got.topic, got.payload)
            assert (got.topic, cmd.id, cmd.action) == (
                "robodine/v1/robots/api-mq/command",
                cid,
                "dock",
            )
            await bot.send(Ack(robot="api-mq", id=cmd.id))
            assert (await outcome(redis_client, cid))["type"] == "command.acked"

        async with ScriptedAgv(mosquitto_private.port, "API-7", version="2.0.0") as agv:
            await agv.connection()
            await agv.state()
            await wait_for(lambda: connections(redis_client, "api-agv"))
            cid = await submit(redis_client, "api-agv", "goto", args={"x": 4.0, "y": 4.0})
            order, received = await agv.order()
            assert received.topic == "uagv/v2/Acme/API-7/order"
            assert order.version == "2.0.0"  # the pin of the entry
        assert (await connections(redis_client, "api-mq"))[0] == ("online", "mqtt")
        assert (await connections(redis_client, "api-agv"))[0] == ("online", "vda5050")

        # a TCP robot of the registry is refused on MQTT, as a config one would be
        await put(redis_client, "api-tcp", "tcp")
        await sync(redis_client, "api-tcp")
        await wait_for(lambda: _has(changes(redis_client), ("api-tcp", "added")))
        async with ScriptedRobot(mosquitto_private.port, "api-tcp") as bot:
            await bot.presence(Presence.ONLINE)
            await wait_for(lambda: _counted(stats, "mqtt_dropped", "wrong_transport"))

        # removed: its topics are unknown again
        for robot in ("api-mq", "api-agv"):
            await redis_client.hdel(streams.REGISTRY, robot)
            await sync(redis_client, robot)
            await wait_for(partial(_removed, redis_client, robot))
        async with ScriptedRobot(mosquitto_private.port, "api-mq") as bot:
            await bot.presence(Presence.ONLINE)
            await wait_for(lambda: _counted(stats, "mqtt_dropped", "unknown_robot"))
        async with ScriptedAgv(mosquitto_private.port, "API-7", version="2.0.0") as agv:
            await agv.connection()
            await wait_for(lambda: _counted(stats, "vda_dropped", "unknown_agv"))
        del cid


async def test_entries_a_vda5050_robot_cannot_have_are_refused(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    settings = mqtt_settings(
        redis_server.url, tmp_path, mosquitto_private.url, data={"key": DATA_KEY.hex()}
    )
    async with run_gateway(settings):
        await put(redis_client, "no-ident", "vda5050")  # no vda identity
        await put(redis_client, "twin", "vda5050", {"manufacturer": MANUFACTURER, "serial": "SN-1"})
        await put(
            redis_client,
            "cook-agv",
            "vda5050",
            {"manufacturer": MANUFACTURER, "serial": "C-1"},
            kind="cooking",
        )
        for robot in ("no-ident", "twin", "cook-agv"):
            await sync(redis_client, robot)
        refused = await wait_for(lambda: _refused(redis_client, 3))
    assert "needs vda" in refused["no-ident"]
    assert "is robot 'agv-1' already" in refused["twin"]  # agv-1 of the config is SN-1
    assert "must be of kind serving" in refused["cook-agv"]


async def _counted(stats: Any, name: str, label: str) -> bool:
    return bool(stats.get(name, label))


async def _has(coro: Any, item: tuple[str, str]) -> bool:
    return item in await coro


async def _removed(r: aioredis.Redis, robot: str) -> bool:
    return await _has(changes(r), (robot, "removed"))


async def _refused(r: aioredis.Redis, n: int) -> dict[str, str]:
    out = {
        e["data"]["robot"]: e["data"]["reason"]
        for e in await events(r, "registry.changed")
        if e["data"]["change"] == "refused"
    }
    return out if len(out) >= n else {}
