"""The real gateway writes the streams, a scripted robot answers: what web clients see."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from protocol.messages import Command, Welcome
from protocol.vocabulary import CommandAction, RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.web import MakeEnv, recv, recv_until
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def test_robot_state_telemetry_and_a_command_round_trip(
    make_env: MakeEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = await make_env()
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)) as gw:
        robots = await env.ws("/ws/robots", "viewer")
        await recv_until(robots, "snapshot")
        events = await env.ws("/ws/events", "staff", type="command.*", robot="serve-1")
        await recv_until(events, "snapshot")
        telemetry = await env.ws("/ws/telemetry", "viewer", robot="serve-1")
        await recv_until(telemetry, "snapshot")

        bot = TestRobot("serve-1", RobotKind.SERVING, gw.tcp_port, gw.udp_port)
        assert isinstance(await bot.connect(), Welcome)
        bot.state("idle")
        f: dict[str, Any] = {}
        for _ in range(10):
            f = await recv_until(robots, "robot")
            if f["robot"]["connection"] == "online" and f["robot"]["state"] == "idle":
                break
        assert f["robot"]["id"] == "serve-1" and f["robot"]["kind"] == "serving"
        assert f["robot"]["name"] == "Server One"  # from the web's registry

        bot.udp(bot.telemetry(x=3.5, y=4.25, battery=77.5))
        sample = await recv_until(telemetry, "telemetry")
        assert sample["sample"]["robot"] == "serve-1" and sample["sample"]["x"] == 3.5
        assert sample["sample"]["transport"] == "udp"

        r = await env.client.post(
            "/api/robots/serve-1/commands",
            headers=env.auth("staff"),
            json={"action": "goto", "args": {"table": "t1"}},
        )
        assert r.status == 202
        command = (await r.json())["command"]
        cmd = await bot.recv()
        assert isinstance(cmd, Command) and cmd.id == command
        assert cmd.action is CommandAction.GOTO and cmd.args == {"x": 5.0, "y": 4.0, "table": "t1"}
        bot.ack(cmd)
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["event"]["type"] != "command.acked":
            seen.append(await recv_until(events, "event"))
        assert [e["event"]["type"] for e in seen] == ["command.sent", "command.acked"]
        assert all(e["event"]["data"]["command"] == command for e in seen)
        assert seen[0]["event"]["data"]["source"] == "staff"
        await bot.close()
        for ws in (robots, events, telemetry):
            await ws.close()


async def test_a_failed_command_reaches_the_floor_chat(
    make_env: MakeEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = await make_env()
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)) as gw:
        floor = await env.ws("/ws/chat/floor", "staff")
        await recv(floor)
        bot = TestRobot("serve-1", RobotKind.SERVING, gw.tcp_port, gw.udp_port)
        assert isinstance(await bot.connect(), Welcome)
        r = await env.client.post(
            "/api/robots/serve-1/commands", headers=env.auth("staff"), json={"action": "dock"}
        )
        assert r.status == 202
        cmd = await bot.recv()
        assert isinstance(cmd, Command)
        bot.ack(cmd, ok=False, reason="blocked by a chair")
        msg = await recv_until(floor, "message", timeout=5)
        assert msg["username"] == "robodine" and msg["system"] is True
        assert "serve-1" in msg["content"] and "blocked by a chair" in msg["content"]
        await bot.close()
        await floor.close()


async def test_an_acknowledged_pause_reaches_the_robots_feed_as_paused(
    make_env: MakeEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = await make_env()
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)) as gw:
        bot = TestRobot("serve-1", RobotKind.SERVING, gw.tcp_port, gw.udp_port)
        assert isinstance(await bot.connect(), Welcome)
        bot.state("en_route")
        robots = await env.ws("/ws/robots", "viewer", robot="serve-1")
        await recv_until(robots, "snapshot")
        for action, paused in (("pause", True), ("resume", False)):
            r = await env.client.post(
                "/api/robots/serve-1/commands", headers=env.auth("staff"), json={"action": action}
            )
            assert r.status == 202
            cmd = await bot.recv()
            assert isinstance(cmd, Command) and cmd.action == action
            bot.ack(cmd)
            while True:  # the state stays en_route; `paused` says what the ack changed
                f = await recv_until(robots, "robot")
                if f["robot"]["paused"] is paused:
                    break
            assert f["robot"]["state"] == "en_route"

            async def listed_as(paused: bool = paused) -> bool:  # the list is micro-cached
                listed = await (await env.client.get("/api/robots", headers=env.auth())).json()
                return any(x["id"] == "serve-1" and x["paused"] is paused for x in listed["items"])

            await wait_for(listed_as)
        await bot.close()
        await robots.close()


async def test_a_robots_address_is_in_its_record(
    make_env: MakeEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = await make_env()
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)) as gw:
        bot = TestRobot("serve-2", RobotKind.SERVING, gw.tcp_port, gw.udp_port)
        assert isinstance(await bot.connect(), Welcome)
        bot.state("idle")
        robot: dict[str, Any] = {}
        for _ in range(100):
            r = await env.client.get("/api/robots/serve-2", headers=env.auth("viewer"))
            robot = await r.json()
            if robot["address"]:
                break
            await asyncio.sleep(0.05)
        assert robot["address"] == "127.0.0.1", robot
        assert robot["mac"] == "", "loopback has no neighbour entry: unknown, not guessed"
        await bot.close()
