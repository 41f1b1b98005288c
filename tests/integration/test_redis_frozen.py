"""Redis hangs mid-run (SIGSTOP): the gateway sees the outage within one flush deadline.

A hung Redis accepts connections (the kernel does) and answers nothing, so
only a reply timeout tells it from a slow one. The writer's flushes wait
``redis.request_timeout_s`` (0.5 s) for their reply: the outage is logged and
events go to the spool that soon, not after the 5 s a socket timeout took.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import structlog

from tests.integration.conftest import gateway_settings, run_gateway, wait_for
from tests.integration.test_gateway_robots import events, online
from tests.integration.test_redis_outage import report_states
from tests.servers import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTICED_S = 1.5  # generous for a 0.5 s flush deadline on a shared machine; it was over 5 s


async def test_a_hung_redis_is_an_outage_within_the_flush_deadline(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    client = aioredis.Redis.from_url(redis_private.url)
    settings = gateway_settings(
        redis_private.url, tmp_path, gateway={"stale_after_s": 30, "offline_after_s": 60}
    )
    loop = asyncio.get_running_loop()
    with structlog.testing.capture_logs() as logs:
        async with run_gateway(settings) as gw:
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

    print(f"hung Redis: outage logged {noticed:.2f}s after SIGSTOP, recovered {recovered:.2f}s "
          f"after SIGCONT")
    assert noticed < NOTICED_S, noticed
    got = await events(client, "robot.state", "serve-1")
    assert [e["data"]["state"] for e in got] == sent  # every one, once, in order
    names = [entry["event"] for entry in logs]
    assert names.count("redis_unavailable") == 1 and names.count("redis_recovered") == 1
    down = next(e for e in logs if e["event"] == "redis_unavailable")
    assert "Timeout" in down["error"] or "no reply" in down["error"], down
    up = next(e for e in logs if e["event"] == "redis_recovered")
    assert 0 < up["outage_s"] < 30
    await client.aclose()
