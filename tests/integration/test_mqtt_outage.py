"""The broker dies and comes back: logged once each way, TCP robots never notice, nothing lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from protocol.messages import Ack, State, Telemetry
from protocol.mqtt_topics import Presence, decode_command
from protocol.vocabulary import RobotKind
from tests.integration.mqtt_support import ScriptedRobot, events, mqtt_settings, states_of
from tests.robot import TestRobot
from tests.servers import MosquittoServer, RedisServer
from tests.support.gateway import run_gateway
from tests.support.integration import outcome, submit
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def test_broker_outage_is_logged_once_and_tcp_robots_carry_on(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    broker = mosquitto_private
    settings = mqtt_settings(redis_server.url, tmp_path, broker.url, mqtt={"reconnect_max_s": 0.2})
    with capture_logs() as logs:
        async with run_gateway(settings) as gw:
            mqtt = gw.gateway.mqtt
            assert mqtt is not None
            await asyncio.wait_for(mqtt.connected.wait(), 5)
            async with ScriptedRobot(broker.port, "mq-1") as bot:
                await bot.presence(Presence.ONLINE)
                await bot.send(State(robot="mq-1", state="idle"))
                await wait_for(lambda: robot_has_state(redis_client, "mq-1"))
                tcp = TestRobot("serve-1", RobotKind.SERVING, gw.tcp_port, gw.udp_port)
                await tcp.connect()

                broker.kill()
                await wait_for(lambda: not mqtt.up)
                await asyncio.sleep(1.0)  # several reconnect attempts (backoff cap 0.2 s)
                # TCP is not affected; a command for the MQTT robot waits in the outbox.
                tcp.state("idle")
                await wait_for(lambda: robot_has_state(redis_client, "serve-1"))
                cid = await submit(redis_client, "mq-1", "goto", args={"table": "T1"})
                await wait_for(lambda: len(mqtt.outbox) == 1)
                broker.start()
                await wait_for(lambda: mqtt.up)
            # The robot's own client died with the broker: it comes back, and the
            # command reaches it (from the outbox, or resent by the router).
            async with ScriptedRobot(broker.port, "mq-1") as bot:
                await bot.presence(Presence.ONLINE)
                got = await bot.next(timeout=4)
                cmd = decode_command(got.topic, got.payload)
                await bot.send(Ack(robot="mq-1", id=cmd.id))
                await bot.send(Telemetry(robot="mq-1", x=1.0, y=2.0, battery=50.0))
                ack = await outcome(redis_client, cid)
                # QoS 0: wait for it before the robot's client goes (it raced the exit once)
                await wait_for(lambda: gw.gateway.stats.get("telemetry_received", "mqtt") == 1)
            await tcp.close()
            await gw.drained()
    assert cmd.id == cid and ack["type"] == "command.acked"
    names = [e["event"] for e in logs]
    assert names.count("mqtt_unavailable") == 1
    assert names.count("mqtt_recovered") == 1
    down = next(e for e in logs if e["event"] == "mqtt_unavailable")
    assert down["log_level"] == "warning" and "TCP/UDP robots unaffected" in down["policy"]
    assert gw.gateway.stats.get("mqtt_outages") == 1
    assert gw.gateway.stats.get("telemetry_received", "mqtt") == 1


async def robot_has_state(r: aioredis.Redis, robot: str) -> bool:
    return bool(states_of(await events(r, "robot.state"), robot))
