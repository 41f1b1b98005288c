"""A simulated VDA 5050 AGV takes an order through mosquitto from the gateway, drives it node by
node, and reports state; the events in Redis are asserted field by field. Every message on
``uagv/#``, the gateway's and the AGV's, is checked against the official schemas."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from config import Settings
from protocol import streams
from protocol.vda5050 import Subtopic, VdaTopic, decode_for_topic, order_problems
from simulator.cli import _vda_versions
from simulator.fleet import Fleet as SimFleet
from simulator.fleet import FleetOptions
from simulator.transport import make_transport
from simulator.transport_vda5050 import VdaTransport
from tests.integration.mqtt_support import (
    _Client,
    events,
    mqtt_settings,
    retained,
    states_of,
)
from tests.protocol.vda5050_support import SCHEMA_DIRS, wire_errors
from tests.servers import MosquittoServer, RedisServer
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.integration import outcome, submit
from tests.support.replies import RawEntries, RawFields
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


class Running:
    def __init__(
        self, gw: RunningGateway, fleet: SimFleet, transport: VdaTransport, wire: _Client
    ) -> None:
        self.gw, self.fleet, self.transport, self.wire = gw, fleet, transport, wire


@pytest.fixture
def agv_version() -> str:
    """The version the simulated AGV speaks (tests override it); the gateway learns it."""
    return "2.1.0"


@pytest.fixture
async def world(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
    agv_version: str,
) -> AsyncIterator[Running]:
    settings: Settings = mqtt_settings(
        redis_server.url,
        tmp_path,
        mosquitto_private.url,
        mqtt={"reconnect_max_s": 0.2},
        vda5050={"resend_s": 0.5, "max_resends": 10},
    )
    async with (
        run_gateway(settings) as gw,
        _Client(mosquitto_private.port, "wire", ["uagv/#"]) as wire,
    ):
        assert gw.gateway.mqtt is not None
        await asyncio.wait_for(gw.gateway.mqtt.connected.wait(), 5)
        sim_settings = _vda_versions(settings, [f"agv-1={agv_version}"])
        transport = VdaTransport(
            sim_settings, "127.0.0.1", mosquitto_private.port, speed=5.0, state_interval_s=0.3
        )
        agvs = [r for r in sim_settings.robots if r.id == "agv-1"]
        fleet = SimFleet(settings, agvs, transport, FleetOptions(hz=20, ramp_s=0, seed=1))
        stop = asyncio.Event()
        run = asyncio.create_task(fleet.run(stop.wait))
        try:
            yield Running(gw, fleet, transport, wire)
        finally:
            stop.set()
            await run


async def robot_states(r: aioredis.Redis) -> list[str]:
    return states_of(await events(r, "robot.state"), "agv-1")


async def reached(r: aioredis.Redis, *want: str) -> bool:
    got = await robot_states(r)
    return got[-len(want) :] == list(want)


def check_wire(
    wire: _Client, version: str = "2.1.0"
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Validate everything seen on uagv/# against ``version``'s schemas (1.1 has none: it must
    read back in 1.1); how many of each subtopic, and the orders."""
    seen: dict[str, int] = {}
    orders = []
    while not wire.inbox.empty():
        msg = wire.inbox.get_nowait()
        topic = VdaTopic.parse(msg.topic, accept=frozenset(Subtopic))
        sub = topic.subtopic
        doc: Any = json.loads(msg.payload)
        assert doc["version"] == version, msg.topic
        if version in SCHEMA_DIRS:
            errors = wire_errors(sub, doc, version)
            assert not errors, f"{msg.topic}: {errors}"
        else:
            decode_for_topic(topic, msg.payload, version=version)
        seen[sub] = seen.get(sub, 0) + 1
        if sub is Subtopic.ORDER:
            orders.append(doc)
    return seen, orders


async def test_simulated_agv_delivers_an_order(
    world: Running, redis_client: aioredis.Redis
) -> None:
    r = redis_client
    await wait_for(lambda: reached(r, "idle"))
    cid = await submit(r, "agv-1", "goto", args={"table": "T3", "task": "order-42"})
    ack = await outcome(r, cid)
    await wait_for(lambda: reached(r, "at_table"), timeout=8)
    model = world.transport.models["agv-1"]
    assert (model.last_node_id, model.x, model.y) == ("T3", 10.0, 4.0)
    pid = await submit(r, "agv-1", "pickup_done", args={"task": "order-42"})
    back = await outcome(r, pid)
    await wait_for(lambda: reached(r, "returning", "idle"), timeout=8)
    await world.gw.drained()

    assert ack["type"] == "command.acked" and ack["robot"] == "agv-1"
    order_id = ack["data"]["result"]["order"]
    assert ack["data"]["result"] == {"order": order_id, "goal": "T3", "nodes": 5}
    assert ack["data"]["attempts"] == 1 and ack["data"]["action"] == "goto"
    assert back["type"] == "command.acked"
    assert back["data"]["result"]["goal"] == "pass" and back["data"]["result"]["nodes"] == 4
    assert (model.order_id, model.last_node_id) == (back["data"]["result"]["order"], "pass")

    (conn,) = await events(r, "robot.connection", "agv-1")
    assert conn["level"] == "info" and conn["src"] == "gw-test"
    assert conn["data"] == {
        "state": "online",
        "previous": "offline",
        "transport": "vda5050",
        "reason": "hello",
    }
    got = [
        (
            e["data"]["state"],
            e["data"]["previous"],
            e["data"]["task"],
            e["data"]["reason"],
            e["level"],
        )
        for e in await events(r, "robot.state", "agv-1")
    ]
    assert got == [
        ("idle", None, "", "idle", "info"),
        ("assigned", "idle", "order-42", "delivery_sent", "info"),
        ("en_route", "assigned", "order-42", "delivery_running", "info"),
        ("at_table", "en_route", "order-42", "delivery_arrived", "info"),
        ("returning", "at_table", "order-42", "return_sent", "info"),
        ("idle", "returning", "", "return_ended", "info"),
    ]
    snap = streams.from_fields(
        streams.RobotSnapshot, cast(RawFields, await r.hgetall(streams.robot_key("agv-1")))
    )
    assert (snap.connection, snap.state, snap.transport, snap.kind) == (
        "online",
        "idle",
        "vda5050",
        "serving",
    )
    assert (snap.x, snap.y) == (1.0, 4.0)
    tele = [
        streams.from_fields(streams.TelemetryRecord, f)
        for _, f in cast(RawEntries, await r.xrange(streams.TELEMETRY))
    ]
    assert tele and {t.transport for t in tele} == {"vda5050"}
    assert max(t.x for t in tele) == 10.0 and all(0 < t.battery <= 100 for t in tele)
    assert any(t.speed > 0 for t in tele)

    # What the AGV leaves on the broker (6.14, 6.15): connection QoS 1 and factsheet, retained.
    port = int(world.gw.gateway.settings.mqtt.url.rsplit(":", 1)[1])
    (conn_msg,) = await retained(port, "uagv/v2/Acme/SN-1/connection")
    assert (conn_msg.qos, conn_msg.retain, conn_msg.json["connectionState"]) == (1, True, "ONLINE")
    (sheet,) = await retained(port, "uagv/v2/Acme/SN-1/factsheet")
    assert (sheet.qos, sheet.retain) == (0, True)
    assert await retained(port, "uagv/v2/Acme/SN-1/state") == []

    seen, orders = check_wire(world.wire)
    # The delivery dock-1 pass T1 | T2 T3 (base | horizon) and two updates as it passes
    # nodes; the return T3 T2 T1 | pass and one update. headerId +1 per order message.
    assert [(o["orderId"], o["orderUpdateId"], o["headerId"]) for o in orders] == [
        (order_id, 0, 0),
        (order_id, 1, 1),
        (order_id, 2, 2),
        (back["data"]["result"]["order"], 0, 3),
        (back["data"]["result"]["order"], 1, 4),
    ]
    assert [[n["nodeId"] for n in o["nodes"]] for o in orders] == [
        ["dock-1", "pass", "T1", "T2", "T3"],
        ["T1", "T2", "T3"],
        ["T2", "T3"],
        ["T3", "T2", "T1", "pass"],
        ["T1", "pass"],
    ]
    assert {"state", "visualization", "connection", "factsheet"} <= set(seen)
    assert world.gw.gateway.stats.total("vda_dropped") == 0
    assert model.orders_ignored == 0 and model.errors == []


@pytest.mark.parametrize("agv_version", ["2.0.0", "1.1.0"])
async def test_a_simulated_agv_of_an_older_version_delivers_too(
    world: Running, redis_client: aioredis.Redis, agv_version: str
) -> None:
    """``--vda-version agv-1=2.0.0``: the gateway learns the version from its headers."""
    r = redis_client
    await wait_for(lambda: reached(r, "idle"))
    cid = await submit(r, "agv-1", "goto", args={"table": "T3", "task": "order-44"})
    await wait_for(lambda: reached(r, "at_table"), timeout=8)
    pid = await submit(r, "agv-1", "pickup_done", args={"task": "order-44"})
    await wait_for(lambda: reached(r, "returning", "idle"), timeout=8)
    assert (await outcome(r, cid))["type"] == (await outcome(r, pid))["type"] == "command.acked"
    await world.gw.drained()
    assert await robot_states(r) == [
        "idle",
        "assigned",
        "en_route",
        "at_table",
        "returning",
        "idle",
    ]
    seen, orders = check_wire(world.wire, agv_version)
    assert [o["orderUpdateId"] for o in orders] == [0, 1, 2, 0, 1]
    major = "v1" if agv_version == "1.1.0" else "v2"
    assert ("factsheet" in seen) == (major == "v2")
    assert world.gw.gateway.stats.total("vda_dropped") == 0
    model = world.transport.models["agv-1"]
    assert model.orders_ignored == 0 and model.errors == []


async def test_broker_restart_mid_order(
    world: Running, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    r = redis_client
    mqtt = world.gw.gateway.mqtt
    assert mqtt is not None
    await wait_for(lambda: reached(r, "idle"))
    with capture_logs() as logs:
        cid = await submit(r, "agv-1", "goto", args={"table": "T3", "task": "order-43"})
        assert (await outcome(r, cid))["type"] == "command.acked"
        model = world.transport.models["agv-1"]
        await wait_for(lambda: model.last_node_id == "pass")  # driving, horizon not yet released
        mosquitto_private.kill()
        await wait_for(lambda: not mqtt.up)
        await asyncio.sleep(0.5)
        mosquitto_private.start()
        await wait_for(lambda: mqtt.up)
        await wait_for(lambda: reached(r, "at_table"), timeout=10)
    assert model.last_node_id == "T3" and model.order_update_id >= 1
    names = [e["event"] for e in logs]
    assert (names.count("mqtt_unavailable"), names.count("mqtt_recovered")) == (1, 1)
    assert await robot_states(r) == ["idle", "assigned", "en_route", "at_table"]
    conn = [e["data"]["state"] for e in await events(r, "robot.connection", "agv-1")]
    assert conn[0] == "online" and conn[-1] == "online"
    assert model.order is not None and order_problems(model.order) == ()
    check_wire(world.wire)


async def test_tcp_mqtt_and_vda5050_robots_share_a_floor(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    """`robodine sim --transport config`: each robot over the transport its entry names."""
    settings = mqtt_settings(redis_server.url, tmp_path, mosquitto_private.url)
    async with run_gateway(settings) as gw:
        sim_settings = settings.model_copy(
            update={"tcp": settings.tcp.model_copy(update={"port": gw.tcp_port})}
        )
        robots = [r for r in sim_settings.robots if r.id in ("serve-1", "mq-1", "agv-1")]
        transport = make_transport("config", sim_settings, "127.0.0.1")
        fleet = SimFleet(sim_settings, robots, transport, FleetOptions(hz=10, ramp_s=0, seed=2))
        stop = asyncio.Event()
        run = asyncio.create_task(fleet.run(stop.wait))
        try:
            await wait_for(lambda: online_transports(redis_client))
        finally:
            stop.set()
            await run
    assert await online_transports(redis_client) == {
        "serve-1": "tcp",
        "mq-1": "mqtt",
        "agv-1": "vda5050",
    }


async def online_transports(r: aioredis.Redis) -> dict[str, str] | None:
    got = {
        e["robot"]: e["data"]["transport"]
        for e in await events(r, "robot.connection")
        if e["data"]["state"] == "online"
    }
    return got if len(got) == 3 else None
