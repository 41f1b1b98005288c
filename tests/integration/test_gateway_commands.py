"""rd:commands -> gateway -> robot -> ack -> outcome event, against a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from protocol import streams
from protocol.messages import Command
from protocol.vocabulary import CommandAction, RobotKind
from tests.servers import RedisServer
from tests.support.gateway import RunningGateway, gateway_settings, run_gateway
from tests.support.integration import events, online, outcome, submit
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def pending(r: aioredis.Redis) -> int:
    info = await r.xpending(streams.COMMANDS, streams.COMMANDS_GROUP)
    return int(info["pending"])


async def test_command_round_trip_acks_the_entry(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    cid = await submit(redis_client, "serve-1", "goto", args={"x": 4.0, "y": 2.5, "table": "T3"})
    cmd = await bot.recv()
    assert isinstance(cmd, Command)
    assert (cmd.id, cmd.action, cmd.args, cmd.attempt) == (
        cid,
        CommandAction.GOTO,
        {"x": 4.0, "y": 2.5, "table": "T3"},
        1,
    )
    bot.ack(cmd)
    ev = await outcome(redis_client, cid)
    assert ev["type"] == "command.acked" and ev["robot"] == "serve-1"
    assert ev["data"]["action"] == "goto" and ev["data"]["attempts"] == 1
    sent = [e for e in await events(redis_client, "command.sent") if e["data"]["command"] == cid]
    assert sent[0]["data"]["args"]["table"] == "T3" and sent[0]["data"]["source"] == "test"
    assert sent[0]["id"] < ev["id"]
    await wait_for(lambda: _zero(pending(redis_client)))
    await bot.close()


async def _zero(coro: Awaitable[object]) -> bool:
    return await coro == 0


@pytest.mark.parametrize(
    ("robot", "action", "reason"),
    [
        ("serve-2", "goto", "robot_offline"),
        ("nobody", "goto", "unknown_robot"),
        ("serve-1", "cook", "unsupported_for_kind"),
        ("serve-1", "fly", "unknown_action"),
    ],
)
async def test_commands_that_cannot_be_delivered_fail_clearly(
    gateway: RunningGateway, redis_client: aioredis.Redis, robot: str, action: str, reason: str
) -> None:
    bot = await online(gateway)
    cid = await submit(redis_client, robot, action)
    ev = await outcome(redis_client, cid)
    assert ev["type"] == "command.failed" and ev["data"]["reason"] == reason
    assert ev["level"] == "warning"
    await wait_for(lambda: _zero(pending(redis_client)))
    await bot.close()


async def test_expired_command_is_not_sent(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    cid = await submit(redis_client, "serve-1", "dock", expires=time.time() - 1)
    ev = await outcome(redis_client, cid)
    assert ev["data"]["reason"] == "expired"
    await bot.close()


async def test_malformed_command_entry_fails_and_is_acked(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    entry = await redis_client.xadd(streams.COMMANDS, {"robot": "serve-1", "ts": "not-a-number"})
    evs = await wait_for(lambda: events(redis_client, "command.failed"))
    assert (
        evs[0]["data"]["reason"] == "invalid_command"
        and evs[0]["data"]["entry"] == cast(bytes, entry).decode()
    )
    assert "id" in evs[0]["data"]["detail"] or "ts" in evs[0]["data"]["detail"]
    await wait_for(lambda: _zero(pending(redis_client)))


async def test_unacknowledged_command_is_resent_then_times_out(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    cid = await submit(redis_client, "serve-1", "dock")
    attempts = []
    for _ in range(3):  # max_attempts = 3, ack_timeout 0.3 s
        cmd = await bot.recv()
        assert isinstance(cmd, Command) and cmd.id == cid
        attempts.append(cmd.attempt)
        bot.heartbeat()
    assert attempts == [1, 2, 3]
    ev = await outcome(redis_client, cid)
    assert ev["type"] == "command.failed" and ev["data"]["reason"] == "timeout"
    assert "3 attempt" in ev["data"]["detail"]
    await bot.close()


async def test_resent_command_acked_late_counts_once(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    cid = await submit(redis_client, "serve-1", "pause")
    first = await bot.recv()
    second = await bot.recv()
    assert isinstance(first, Command)
    assert isinstance(second, Command) and second.attempt == 2 and second.id == first.id
    bot.ack(second)
    bot.ack(first)  # a late duplicate ack changes nothing
    ev = await outcome(redis_client, cid)
    assert ev["type"] == "command.acked" and ev["data"]["attempts"] == 2
    await gateway.drained()
    acked = [e for e in await events(redis_client, "command.acked") if e["data"]["command"] == cid]
    assert len(acked) == 1
    await bot.close()


async def test_refused_command_fails_with_the_robots_reason(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    cid = await submit(redis_client, "serve-1", "goto", args={"x": 1, "y": 1})
    cmd = await bot.recv()
    assert isinstance(cmd, Command)
    bot.ack(cmd, ok=False, reason="estop engaged")
    ev = await outcome(redis_client, cid)
    assert ev["data"]["reason"] == "refused" and ev["data"]["detail"] == "estop engaged"
    await bot.close()


async def test_duplicate_command_id_is_not_executed_twice(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    cid = await submit(redis_client, "serve-1", "dock")
    cmd = await bot.recv()
    assert isinstance(cmd, Command)
    bot.ack(cmd)
    await outcome(redis_client, cid)
    await submit(redis_client, "serve-1", "dock", cid=cid)  # e.g. an outbox relay retry
    dup = await wait_for(lambda: events(redis_client, "command.duplicate"))
    assert dup[0]["data"]["command"] == cid
    await wait_for(lambda: _zero(pending(redis_client)))
    bot.heartbeat()
    with pytest.raises(TimeoutError):
        await bot.recv(timeout=0.5)  # nothing sent to the robot the second time
    await bot.close()


async def test_command_survives_a_robot_reconnect(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    cid = await submit(redis_client, "serve-1", "goto", args={"x": 2, "y": 2})
    first = await bot.recv()
    assert isinstance(first, Command)
    await bot.close()  # drops before acking
    bot2 = await online(gateway)
    again = await bot2.recv()
    assert isinstance(again, Command) and again.id == first.id and again.attempt > first.attempt
    bot2.ack(again)
    ev = await outcome(redis_client, cid)
    assert ev["type"] == "command.acked"
    await bot2.close()


async def test_commands_pending_at_shutdown_are_taken_up_after_restart(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = gateway_settings(
        redis_server.url, tmp_path, commands={"ack_timeout_s": 5, "max_attempts": 2, "ttl_s": 30}
    )
    async with run_gateway(settings) as gw:
        bot = await online(gw)
        cid = await submit(redis_client, "serve-1", "dock")
        assert isinstance(await bot.recv(), Command)
        await bot.close()
    assert await pending(redis_client) == 1  # read but not decided: stays in the PEL
    async with run_gateway(settings) as gw:
        bot = await online(gw)
        cmd = await bot.wait_command()
        assert isinstance(cmd, Command) and cmd.id == cid
        bot.ack(cmd)
        ev = await outcome(redis_client, cid)
        assert ev["type"] == "command.acked"
        await wait_for(lambda: _zero(pending(redis_client)))
        await bot.close()


async def test_commands_written_before_the_first_start_are_not_skipped(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    cid = await submit(redis_client, "serve-2", "dock")
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)):
        ev = await outcome(redis_client, cid)
        assert ev["data"]["reason"] == "robot_offline"


async def test_cli_send_waits_for_the_outcome(
    gateway: RunningGateway, redis_client: aioredis.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    import asyncio
    import sys

    bot = await online(gateway, "cook-1", RobotKind.COOKING)
    env = {"ROBODINE_REDIS_URL": redis_server.url, "PATH": "/usr/bin:/bin"}

    async def robot_side() -> None:
        cmd = await bot.wait_command()
        assert isinstance(cmd, Command) and cmd.args == {"recipe": "bibimbap", "seconds": 4}
        bot.ack(cmd)

    helper = asyncio.ensure_future(robot_side())
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "robodine",
        "send",
        "cook-1",
        "cook",
        "recipe=bibimbap",
        "seconds=4",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    await helper
    assert proc.returncode == 0, err.decode()
    assert b'"outcome":"acked"' in out and b'"action":"cook"' in out

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "robodine",
        "send",
        "serve-2",
        "dock",
        "--timeout",
        "5",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1 and b"robot_offline" in out
    await bot.close()


async def test_a_command_sent_while_the_gateway_restarts_waits_for_its_robot(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = gateway_settings(
        redis_server.url, tmp_path, gateway={"stale_after_s": 1.0, "offline_after_s": 3.0}
    )
    async with run_gateway(settings) as gw:
        bot = await online(gw)
        bot.heartbeat()
        await gw.drained()
    await bot.close()  # told `shutting_down`; it will reconnect once a gateway listens
    cid = await submit(redis_client, "serve-1", "dock")  # no gateway reads it now
    never = await submit(redis_client, "serve-2", "dock")  # never connected: not expected
    async with run_gateway(settings) as gw:
        assert (await outcome(redis_client, never))["data"]["reason"] == "robot_offline"
        await asyncio.sleep(1.0)  # robots come back a little after their gateway
        assert not [
            e
            for e in await events(redis_client, "command.failed")
            if e["data"].get("command") == cid
        ]  # read, and held for serve-1
        bot = await online(gw)
        cmd = await bot.wait_command()
        assert isinstance(cmd, Command) and cmd.id == cid
        bot.ack(cmd)
        assert (await outcome(redis_client, cid))["type"] == "command.acked"
        await bot.close()
