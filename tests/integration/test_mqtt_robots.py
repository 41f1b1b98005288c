"""robodine/v1 robots over MQTT: a scripted robot and the simulator through a real mosquitto."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Sized
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from protocol import streams
from protocol.messages import Ack, Event, State, Telemetry
from protocol.mqtt_topics import Presence, decode_command, last_will
from simulator.fleet import Fleet as SimFleet
from simulator.fleet import FleetOptions
from simulator.model import ModelOptions
from simulator.transport import TRANSPORTS, make_transport
from tests.integration.mqtt_support import (
    ScriptedRobot,
    events,
    mqtt_settings,
    retained,
    robot_events,
    states_of,
)
from tests.protocol.vda5050_support import spawn_client_with_will
from tests.servers import MosquittoServer, RedisServer
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.integration import outcome, submit
from tests.support.replies import RawEntries, RawFields
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def conn(r: aioredis.Redis, robot: str) -> list[tuple[str, str]]:
    return [
        (e["data"]["state"], e["data"]["reason"])
        for e in await events(r, "robot.connection", robot)
    ]


async def test_robot_round_trip_over_mqtt(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    async with ScriptedRobot(mosquitto_private.port, "mq-1") as bot:
        await bot.presence(Presence.ONLINE)
        await bot.send(State(robot="mq-1", state="idle"))
        await bot.send(Telemetry(robot="mq-1", x=2.5, y=3.25, theta=0.5, battery=66.0, speed=0.2))
        await bot.send(Event(robot="mq-1", name="door_open", level="warning", data={"door": 2}))
        await wait_for(lambda: redis_client.xlen(streams.TELEMETRY))

        cid = await submit(redis_client, "mq-1", "goto", args={"table": "T1", "task": "o-1"})
        got = await bot.next()
        assert (got.topic, got.qos, got.retain) == ("robodine/v1/robots/mq-1/command", 1, False)
        cmd = decode_command(got.topic, got.payload)
        assert (cmd.id, cmd.action, cmd.args, cmd.robot) == (
            cid,
            "goto",
            {"table": "T1", "task": "o-1"},
            "mq-1",
        )
        await bot.send(Ack(robot="mq-1", id=cmd.id, data={"x": 4.0}))
        ack = await outcome(redis_client, cid)
        await bot.presence(Presence.OFFLINE)  # the orderly goodbye
        await wait_for(lambda: conn(redis_client, "mq-1"))
        await wait_for(lambda: len_is(conn(redis_client, "mq-1"), 2))
    await gw.drained()
    assert ack["type"] == "command.acked" and ack["data"]["result"] == {"x": 4.0}
    assert await conn(redis_client, "mq-1") == [("online", "hello"), ("offline", "offline")]
    online = (await events(redis_client, "robot.connection", "mq-1"))[0]
    assert online["data"]["transport"] == "mqtt"
    assert states_of(await events(redis_client), "mq-1") == ["idle"]
    (ev,) = robot_events(await events(redis_client), "mq-1", "door_open")
    assert (ev["level"], ev["data"]["data"]) == ("warning", {"door": 2})
    ((_, fields),) = cast(RawEntries, await redis_client.xrange(streams.TELEMETRY))
    rec = streams.from_fields(streams.TelemetryRecord, fields)
    assert (rec.robot, rec.x, rec.y, rec.battery, rec.transport) == (
        "mq-1",
        2.5,
        3.25,
        66.0,
        "mqtt",
    )
    snap = streams.from_fields(
        streams.RobotSnapshot,
        cast(RawFields, await redis_client.hgetall(streams.robot_key("mq-1"))),
    )
    assert (snap.connection, snap.state, snap.transport) == ("offline", "idle", "mqtt")
    assert await retained(mosquitto_private.port, "robodine/v1/robots/+/command") == []


async def len_is(got: Awaitable[Sized], n: int) -> bool:
    return len(await got) == n


async def test_last_will_takes_the_robot_offline(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    port = mosquitto_private.port
    proc = spawn_client_with_will(
        port, "mq-1-dying", "robodine/v1/robots/mq-1/command", last_will("mq-1")
    )
    try:
        assert proc.stdout is not None
        assert (await asyncio.to_thread(proc.stdout.readline)).strip() == b"ready"
        async with ScriptedRobot(port, "mq-1", will=False) as bot:  # says online for it
            await bot.presence(Presence.ONLINE)
        await wait_for(lambda: len_is(conn(redis_client, "mq-1"), 1))
        proc.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker publishes the will
        await wait_for(lambda: len_is(conn(redis_client, "mq-1"), 2))
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert await conn(redis_client, "mq-1") == [("online", "hello"), ("offline", "offline")]


async def test_bad_messages_are_counted_and_named(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    port = mosquitto_private.port
    async with ScriptedRobot(port, "mq-cook", will=False) as early:  # retained garbage
        await early.raw("robodine/v1/robots/mq-cook/presence", b"maybe", qos=1, retain=True)
    settings = mqtt_settings(
        redis_server.url, tmp_path, mosquitto_private.url, mqtt={"max_payload_bytes": 1024}
    )
    async with run_gateway(settings) as gw, ScriptedRobot(port, "mq-1") as bot:
        stats = gw.gateway.stats
        await wait_for(lambda: stats.get("mqtt_dropped", "bad_message") == 1)
        root = "robodine/v1/robots"
        await bot.raw(f"{root}/mq-1/state", b'{"type": "state", "robot": "mq-1", "st')
        await bot.raw(f"{root}/mq-1/state", b'{"type":"state","robot":"mq-cook","state":"idle"}')
        await bot.raw(
            f"{root}/mq-1/state", b'{"type":"telemetry","robot":"mq-1","x":1,"y":1,"battery":50}'
        )  # the wrong channel
        await bot.raw(
            f"{root}/mq-1/state",
            b'{"type":"state","robot":"mq-1","state":"idle","pad":"' + b"x" * 2000 + b'"}',
        )
        await bot.raw(f"{root}/mq-1/state", b'{"type":"state","robot":"mq-1"}')  # no state
        await bot.raw(f"{root}/ghost/state", b'{"type":"state","robot":"ghost","state":"idle"}')
        await bot.raw(
            f"{root}/serve-1/state", b'{"type":"state","robot":"serve-1","state":"idle"}'
        )  # a TCP robot
        await wait_for(lambda: stats.total("mqtt_dropped") == 8)
        assert {
            r: stats.get("mqtt_dropped", r)
            for r in ("bad_message", "frame_too_large", "unknown_robot", "wrong_transport")
        } == {"bad_message": 5, "frame_too_large": 1, "unknown_robot": 1, "wrong_transport": 1}
        await bot.send(State(robot="mq-1", state="idle"))  # a good one still counts
        await wait_for(lambda: has_state(redis_client, "mq-1"))
        await gw.drained()
    rejected = robot_events(await events(redis_client), "mq-1", "message_rejected")
    assert sorted(e["data"]["data"]["reason"] for e in rejected) == [
        "bad_message",
        "frame_too_large",
    ]  # once per reason per robot, then only counted
    first = next(e for e in rejected if e["data"]["data"]["reason"] == "bad_message")
    assert first["level"] == "warning" and "JSON" in first["data"]["data"]["detail"]
    assert await events(redis_client, robot="ghost") == []
    assert await events(redis_client, robot="serve-1") == []


async def has_state(r: aioredis.Redis, robot: str) -> bool:
    return bool(states_of(await events(r, "robot.state"), robot))


async def test_simulated_mqtt_robot_delivers(
    gw: RunningGateway, redis_client: aioredis.Redis
) -> None:
    assert {"mqtt", "vda5050"} <= set(TRANSPORTS)
    settings = gw.gateway.settings
    fleet = SimFleet(
        settings,
        [r for r in settings.robots if r.id == "mq-1"],
        make_transport("mqtt", settings, "127.0.0.1"),
        FleetOptions(
            hz=20, ramp_s=0, seed=3, model=ModelOptions(speed=8.0, pickup_s=0.2, load_s=0.05)
        ),
    )
    stop = asyncio.Event()
    run = asyncio.create_task(fleet.run(stop.wait))
    try:
        await wait_for(lambda: has_state(redis_client, "mq-1"))
        cid = await submit(redis_client, "mq-1", "goto", args={"table": "T2", "task": "o-9"})
        assert (await outcome(redis_client, cid))["type"] == "command.acked"
        await wait_for(lambda: ends_idle(redis_client), timeout=8)
    finally:
        stop.set()
        await run
    await gw.drained()
    assert states_of(await events(redis_client), "mq-1") == [
        "idle",
        "assigned",
        "en_route",
        "at_table",
        "returning",
        "idle",
    ]
    assert await conn(redis_client, "mq-1") == [("online", "hello"), ("offline", "offline")]
    assert fleet.stats.commands == 1 and fleet.stats.acked_ok == 1


async def ends_idle(r: aioredis.Redis) -> bool:
    return states_of(await events(r), "mq-1")[-2:] == ["returning", "idle"]
