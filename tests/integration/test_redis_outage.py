"""Redis dies or hangs mid-run: the gateway keeps serving, spools events, replays them once,
in order."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import structlog

from config import Settings
from protocol import streams
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.integration import events, online, report_states
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def patient(url: str, tmp_path: Path, **gateway: Any) -> Settings:
    """The robot stays online through the outage: only Redis changes."""
    return gateway_settings(
        url, tmp_path, gateway={"stale_after_s": 30, "offline_after_s": 60, **gateway}
    )


async def once_in_order(
    client: aioredis.Redis, sent: list[str], logs: Sequence[Mapping[str, Any]]
) -> None:
    """Every state reported is in rd:events once, in order; the outage logged once each way."""
    got = await events(client, "robot.state", "serve-1")
    assert [e["data"]["state"] for e in got] == sent
    assert len({e["eid"] for e in got}) == len(got)
    ids = [e["id"] for e in got]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    names = [entry["event"] for entry in logs]
    assert names.count("redis_unavailable") == 1 and names.count("redis_recovered") == 1


async def test_events_survive_a_redis_crash_once_and_in_order(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    client = aioredis.Redis.from_url(redis_private.url)
    settings = patient(redis_private.url, tmp_path)
    with structlog.testing.capture_logs() as logs:
        async with run_gateway(settings) as gw:
            bot = await online(gw)
            bot.state("idle")
            sent = ["idle"] + await report_states(bot, 40)
            await gw.drained()

            redis_private.kill()  # SIGKILL: the crash case
            sent += await report_states(bot, 60, start=40)  # 60 events while Redis is gone
            await asyncio.sleep(1.0)
            bot.heartbeat()
            redis_private.start()  # same port, same AOF directory
            sent += await report_states(bot, 20, start=100)

            async def all_there() -> bool:
                return len(await events(client, "robot.state")) >= len(sent)

            await wait_for(all_there, timeout=20)
            await gw.drained()
            stats = gw.gateway.stats
            assert stats.get("events_spooled") >= 60
            assert stats.get("telemetry_dropped", "redis_down") >= 1  # telemetry is not spooled
            await bot.close()

    await once_in_order(client, sent, logs)
    # the robot never saw a thing: still online, no disconnect event
    assert [e["data"]["state"] for e in await events(client, "robot.connection")] == [
        "online",
        "offline",
    ]
    await client.aclose()


async def test_a_hung_redis_is_an_outage_within_the_flush_deadline(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    """SIGSTOP: the kernel still accepts connections, nothing answers. Flushes wait
    ``redis.request_timeout_s`` (0.5 s) for their reply, so the outage is logged and
    events go to the spool that soon, not after the 5 s a socket timeout took."""
    client = aioredis.Redis.from_url(redis_private.url)
    loop = asyncio.get_running_loop()
    with structlog.testing.capture_logs() as logs:
        async with run_gateway(patient(redis_private.url, tmp_path)) as gw:
            bot = await online(gw)
            bot.state("idle")
            sent = ["idle", *await report_states(bot, 10)]
            await gw.drained()

            def logged(name: str) -> bool:
                return any(e["event"] == name for e in logs)

            with redis_private.frozen():
                frozen_at = loop.time()
                sent += await report_states(bot, 10, start=10)
                await wait_for(lambda: logged("redis_unavailable"), timeout=10)
                noticed = loop.time() - frozen_at
                assert gw.gateway.writer is not None and not gw.gateway.writer.up
                sent += await report_states(bot, 20, start=20)  # spooled
                await asyncio.sleep(0.5)
            thawed_at = loop.time()
            await wait_for(lambda: logged("redis_recovered"), timeout=10)
            recovered = loop.time() - thawed_at
            sent += await report_states(bot, 5, start=40)

            async def all_there() -> bool:
                return len(await events(client, "robot.state")) >= len(sent)

            await wait_for(all_there, timeout=20)
            await gw.drained()
            assert gw.gateway.stats.get("events_spooled") >= 20
            await bot.close()

    print(
        f"hung Redis: outage logged {noticed:.2f}s after SIGSTOP, recovered {recovered:.2f}s "
        "after SIGCONT"
    )
    assert noticed < 1.5, noticed  # generous for 0.5 s on a shared machine; it was over 5 s
    await once_in_order(client, sent, logs)
    down = next(e for e in logs if e["event"] == "redis_unavailable")
    assert "Timeout" in down["error"] or "no reply" in down["error"], down
    up = next(e for e in logs if e["event"] == "redis_recovered")
    assert 0 < up["outage_s"] < 30
    await client.aclose()


async def test_spool_left_at_shutdown_is_replayed_by_the_next_gateway(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    client = aioredis.Redis.from_url(redis_private.url)
    settings = patient(redis_private.url, tmp_path, shutdown_timeout_s=1)
    async with run_gateway(settings) as gw:
        bot = await online(gw)
        bot.state("idle")
        await wait_for(lambda: events(client, "robot.state"))
        redis_private.kill()
        sent = await report_states(bot, 10)
        await asyncio.sleep(0.3)
        await bot.close()
    # stopped while Redis was down: the events are on disk, nowhere else
    redis_private.start()
    await client.aclose()
    client = aioredis.Redis.from_url(redis_private.url)
    assert len(await events(client, "robot.state")) == 1
    async with run_gateway(settings) as gw:

        async def replayed() -> bool:
            return len(await events(client, "robot.state")) == 11

        await wait_for(replayed, timeout=10)
    got = [e["data"]["state"] for e in await events(client, "robot.state")]
    assert got == ["idle", *sent]
    types = [e["type"] for e in await events(client)]
    assert types.index("gateway.stopped") > types.index("robot.state")  # stop recorded, spooled
    await client.aclose()


async def test_full_spool_counts_what_it_lost(redis_private: RedisServer, tmp_path: Path) -> None:
    client = aioredis.Redis.from_url(redis_private.url)
    settings = gateway_settings(
        redis_private.url,
        tmp_path,
        spool={"max_records": 5},
        gateway={"stale_after_s": 30, "offline_after_s": 60},
    )
    async with run_gateway(settings) as gw:
        bot = await online(gw)
        bot.state("idle")
        await wait_for(lambda: events(client, "robot.state"))
        redis_private.kill()
        await report_states(bot, 12)
        await wait_for(lambda: gw.gateway.stats.get("spool_overflow") > 0)
        redis_private.start()
        await client.aclose()
        client = aioredis.Redis.from_url(redis_private.url)
        overflow = await wait_for(
            lambda: events(client, streams.EventType.GATEWAY_SPOOL_OVERFLOW), timeout=10
        )
        assert overflow[0]["level"] == "alarm" and overflow[0]["data"]["lost"] == 7
        await bot.close()
    await client.aclose()
