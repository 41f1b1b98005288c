"""The gateway speaks each AGV's own VDA 5050 version, through a real mosquitto.

Scripted AGVs announce 2.0.0, 1.1.0 or a version we do not speak (3.0.0);
what the gateway publishes is checked against that version's schemas (2.0.0:
the official ones, fixed and strict, and as published), and the fleet's events
in Redis show sessions, alarms and refusals.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from protocol.vda5050 import ConnectionState, Subtopic
from tests.integration.mqtt_support import (
    ScriptedAgv,
    events,
    mqtt_robots,
    mqtt_settings,
    robot_events,
    states_of,
)
from tests.protocol.vda5050_support import assert_schema_valid
from tests.servers import MosquittoServer, RedisServer
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.integration import outcome, submit
from tests.support.vda5050 import online, remaining
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def connections(r: aioredis.Redis, robot: str = "agv-1") -> list[tuple[str, str]]:
    return [
        (e["data"]["state"], e["data"]["reason"])
        for e in await events(r, "robot.connection", robot)
    ]


async def test_a_2_0_agv_is_spoken_to_in_2_0(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    async with ScriptedAgv(mosquitto_private.port, "SN-1", version="2.0.0") as agv:
        await online(agv, redis_client, "agv-1")
        cid = await submit(redis_client, "agv-1", "goto", args={"table": "T3", "task": "o-1"})
        order, got = await agv.order()
        assert got.topic == "uagv/v2/Acme/SN-1/order"
        assert_schema_valid(Subtopic.ORDER, got.payload, "2.0.0")
        doc: dict[str, Any] = json.loads(got.payload)
        assert doc["version"] == "2.0.0"
        assert all(
            n["nodePosition"]["allowedDeviationXy"]
            == n["nodePosition"]["allowedDeviationXY"]
            == 0.3
            for n in doc["nodes"]
        )
        await agv.state(order_id=order.order_id, driving=True, **remaining(order, 1))
        assert (await outcome(redis_client, cid))["type"] == "command.acked"

        pid = await submit(redis_client, "agv-1", "pause")
        pause, got = await agv.instant()
        assert_schema_valid(Subtopic.INSTANT_ACTIONS, got.payload, "2.0.0")
        (action,) = json.loads(got.payload)["actions"]
        assert action["actionType"] == action["actionName"] == "startPause"
        await agv.state(order_id=order.order_id, paused=True, **remaining(order, 1))
        assert (await outcome(redis_client, pid))["type"] == "command.acked"
        assert pause.version == "2.0.0"
    assert gw.gateway.stats.total("vda_dropped") == 0


async def test_a_1_1_agv_is_spoken_to_in_1_1_under_v1(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    async with ScriptedAgv(mosquitto_private.port, "SN-1", version="1.1.0") as agv:
        await online(agv, redis_client, "agv-1")
        cid = await submit(redis_client, "agv-1", "goto", args={"table": "T1"})
        order, got = await agv.order()
        assert got.topic == "uagv/v1/Acme/SN-1/order" and order.version == "1.1.0"
        await agv.state(order_id=order.order_id, driving=True, **remaining(order, 1))
        assert (await outcome(redis_client, cid))["type"] == "command.acked"
        await submit(redis_client, "agv-1", "cancel")
        _, got = await agv.instant()
        assert got.topic == "uagv/v1/Acme/SN-1/instantActions"
        doc = json.loads(got.payload)
        assert [a["actionType"] for a in doc["instantActions"]] == ["cancelOrder"]
        assert "actions" not in doc and doc["version"] == "1.1.0"
    conn = (await events(redis_client, "robot.connection", "agv-1"))[0]
    assert conn["data"]["transport"] == "vda5050"


async def test_an_agv_that_changes_its_version_is_a_new_session(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    port = mosquitto_private.port
    async with ScriptedAgv(port, "SN-1") as agv:
        await online(agv, redis_client, "agv-1")
    async with ScriptedAgv(port, "SN-1", version="2.0.0") as agv:  # a firmware update
        await agv.state()
        await wait_for(
            lambda: equals(
                connections(redis_client),
                [("online", "hello"), ("offline", "version_changed"), ("online", "hello")],
            )
        )
        cid = await submit(redis_client, "agv-1", "goto", args={"table": "T1"})
        order, _ = await agv.order()
        assert order.version == "2.0.0"
        await agv.state(order_id=order.order_id, driving=True, **remaining(order, 1))
        assert (await outcome(redis_client, cid))["type"] == "command.acked"
    (changed,) = robot_events(await events(redis_client), "agv-1", "version_changed")
    assert changed["level"] == "warning"
    assert changed["data"]["data"] == {"from": "2.1.0", "to": "2.0.0"}


async def equals(got: Awaitable[object], want: object) -> bool:
    return await got == want


async def test_an_agv_of_a_version_we_do_not_speak_is_told_not_ignored(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    r = redis_client
    stats = gw.gateway.stats
    async with ScriptedAgv(mosquitto_private.port, "SN-1", version="3.0.0") as agv:
        assert agv.topic(Subtopic.STATE) == "uagv/v3/Acme/SN-1/state"
        await agv.connection()
        for _ in range(3):
            await agv.state()
        await wait_for(lambda: stats.get("vda_dropped", "unsupported_version") == 4)
        await wait_for(lambda: has_state(r, "error"))
        cids = [
            await submit(r, "agv-1", action, args=args)
            for action, args in (("goto", {"table": "T1"}), ("pause", {}), ("estop", {}))
        ]
        fails = [await outcome(r, c) for c in cids]
        assert await agv.nothing(0.3) == []  # nothing is sent to it
        await agv.connection(ConnectionState.CONNECTIONBROKEN)
        await wait_for(
            lambda: equals(connections(r), [("online", "hello"), ("offline", "connection_broken")])
        )
    for ev in fails:
        assert ev["type"] == "command.failed" and ev["data"]["reason"] == "unsupported_version"
        assert ev["data"]["detail"].startswith(
            "unsupported_version: the AGV announces '3.0.0'; this gateway speaks VDA 5050 "
            "1.1, 2.0, 2.1"
        )
    (alarm,) = robot_events(await events(r), "agv-1", "unsupported_version")  # once
    assert alarm["level"] == "alarm" and alarm["data"]["data"]["spoken"] == "1.1, 2.0, 2.1"
    (st,) = await events(r, "robot.state", "agv-1")
    assert (st["data"]["state"], st["data"]["reason"], st["level"]) == (
        "error",
        "unsupported_version",
        "alarm",
    )


async def has_state(r: aioredis.Redis, state: str) -> bool:
    return state in states_of(await events(r, "robot.state"), "agv-1")


async def test_a_pinned_version_is_the_only_one_spoken(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    robots = [
        dict(r, vda={**r["vda"], "version": "2.0.0"}) if r["id"] == "agv-1" else r
        for r in mqtt_robots()
    ]
    settings = mqtt_settings(redis_server.url, tmp_path, mosquitto_private.url, robots=robots)
    port = mosquitto_private.port
    async with run_gateway(settings) as gw:
        assert gw.gateway.mqtt is not None
        await wait_for(lambda: gw.gateway.mqtt is not None and gw.gateway.mqtt.up)
        async with ScriptedAgv(port, "SN-1") as agv:  # announces 2.1.0
            await agv.connection()
            await agv.state()
            await wait_for(lambda: has_state(redis_client, "error"))
            cid = await submit(redis_client, "agv-1", "goto", args={"table": "T1"})
            refused = await outcome(redis_client, cid)
        async with ScriptedAgv(port, "SN-1", version="2.0.1") as agv:  # a 2.0 patch: fine
            await agv.state()
            await wait_for(lambda: has_state(redis_client, "idle"))
            cid = await submit(redis_client, "agv-1", "goto", args={"table": "T1"})
            order, _ = await agv.order()
            await agv.state(order_id=order.order_id, driving=True, **remaining(order, 1))
            assert (await outcome(redis_client, cid))["type"] == "command.acked"
    assert refused["data"]["detail"] == (
        "unsupported_version: the AGV announces '2.1.0'; its config pins vda.version = '2.0.0'"
    )
    assert order.version == "2.0.1"  # its own version string, in the line it is pinned to
