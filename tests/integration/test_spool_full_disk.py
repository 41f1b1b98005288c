"""The spool's filesystem full (a real tmpfs, filled): events are lost and counted, robots
are served, and the loss is logged once and told as alarms when Redis is back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import structlog

from protocol.messages import Welcome
from protocol.vocabulary import RobotKind
from tests.disk import fill, free, small_filesystem
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.integration import events, online, report_states
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_full_spool_disk_during_an_outage_costs_events_not_robots(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    client = aioredis.Redis.from_url(redis_private.url)
    with small_filesystem(tmp_path / "fs") as fs, structlog.testing.capture_logs() as logs:
        settings = gateway_settings(
            redis_private.url, tmp_path, spool={"path": str(fs / "spool.sqlite3")},
            gateway={"stale_after_s": 30, "offline_after_s": 60},
        )  # fmt: skip
        async with run_gateway(settings) as gw:
            bot = await online(gw)
            bot.state("idle")
            await wait_for(lambda: events(client, "robot.state"))
            redis_private.kill()
            writer = gw.gateway.writer
            assert writer is not None
            sent = 1 + len(await report_states(bot, 1))  # the writer finds Redis gone
            await wait_for(lambda: not writer.up, timeout=10)
            await wait_for(lambda: gw.gateway.stats.get("events_spooled"))  # and spools it
            filler = fill(fs)
            sent += len(await report_states(bot, 40, start=1, pause=0.02))
            await asyncio.sleep(0.5)
            stats = gw.gateway.stats
            lost = stats.get("spool_overflow")
            assert lost > 0 and not gw.task.done()
            assert gw.gateway.fleet is not None
            assert gw.gateway.fleet.sessions["serve-1"].conn == "online"  # still served
            other = TestRobot("serve-2", RobotKind.SERVING, gw.tcp_port, gw.udp_port)
            assert isinstance(await other.connect(), Welcome)  # and new robots too
            assert stats.gauges[("spool_degraded", "")] == 1

            redis_private.start()  # the disk still full: the alarms go to Redis

            async def alarms() -> list[dict[str, Any]]:
                types = {"gateway.spool_overflow", "gateway.spool_degraded"}
                return [e for e in await events(client) if e["type"] in types]

            told = await wait_for(lambda: _two(alarms()), timeout=20)
            by_type = {e["type"]: e for e in told}
            assert by_type["gateway.spool_degraded"]["level"] == "alarm"
            assert "full" in by_type["gateway.spool_degraded"]["data"]["error"]
            overflow = by_type["gateway.spool_overflow"]["data"]["lost"]
            stored = len(await events(client, "robot.state"))
            # each state change is either in Redis or counted lost (connection events and
            # the alarms were lost or stored the same way, hence >=)
            assert stored + overflow >= sent and overflow <= stats.get("spool_overflow")
            free(filler)
            await bot.close()
            await other.close()
    names = [entry["event"] for entry in logs]
    assert names.count("spool_full") == 1  # once for the episode, not per batch
    await client.aclose()


async def _two(alarms: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    got = await alarms
    return got if len({e["type"] for e in got}) == 2 else None


async def test_a_gateway_starts_onto_a_full_spool_disk_and_says_so(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    with small_filesystem(tmp_path / "fs") as fs:
        filler = fill(fs)
        settings = gateway_settings(
            redis_server.url, tmp_path, spool={"path": str(fs / "spool.sqlite3")}
        )
        async with run_gateway(settings) as gw:
            bot = await online(gw)
            [alarm] = await wait_for(lambda: events(redis_client, "gateway.spool_degraded"))
            assert alarm["level"] == "alarm" and alarm["data"]["path"].endswith("spool.sqlite3")
            assert gw.gateway.stats.gauges[("spool_degraded", "")] == 1
            bot.state("idle")
            await wait_for(lambda: events(redis_client, "robot.state"))  # Redis up: no loss
            await bot.close()
        free(filler)
