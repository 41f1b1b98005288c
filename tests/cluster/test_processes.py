"""Two real gateway processes on one Redis, 30 simulated robots, orders flowing; one gateway
SIGKILLed: its robots reconnect to the other, every order is delivered once, every command
has one outcome, no robot is held by two gateways."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config import Settings
from config.loader import load_settings
from protocol import cluster
from simulator.fleet_config import fleet_toml
from tests.cluster.procs import (
    OFFLINE_AFTER,
    TTL,
    all_events,
    gateway,
    holders,
    leader_is,
    place,
    robots,
)
from tests.servers import RedisServer
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

ROBOTS = 30


async def test_a_gateway_killed_mid_service_loses_nothing(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    config = tmp_path / "site.toml"
    base = Settings()
    config.write_text(fleet_toml(ROBOTS, base))
    settings = load_settings(config)
    ids = [r.id for r in settings.robots]
    redis = aioredis.Redis.from_url(redis_private.url)
    samples: list[dict[str, str]] = []
    try:
        with (
            gateway(config, "gw-a", redis_private.url, tmp_path) as a,
            gateway(config, "gw-b", redis_private.url, tmp_path) as b,
        ):
            addr_a, addr_b = ("127.0.0.1", a.port), ("127.0.0.1", b.port)
            half = ROBOTS // 2
            async with (
                robots(settings, [addr_a, addr_b], ids[:half]),
                robots(settings, [addr_b, addr_a], ids[half:]),
            ):

                async def everyone_held() -> bool:
                    return all((await holders(redis, ids)).values())

                await wait_for(everyone_held, timeout=30)
                first = await holders(redis, ids)
                assert set(first.values()) == {"gw-a", "gw-b"}

                async def sample() -> None:
                    while True:
                        samples.append(await holders(redis, ids))
                        await asyncio.sleep(0.1)

                sampler = asyncio.create_task(sample())
                tables = [t.model_dump() for t in settings.floor.tables[:8]]
                orders = [await place(redis, t) for t in tables]

                async def some_delivering() -> bool:
                    evs = await all_events(redis)
                    return any(
                        e.type == "order.status" and e.data.get("status") == "delivering"
                        for e in evs
                    )

                await wait_for(some_delivering, timeout=60)
                leader = cluster.parse_holder(await redis.get(cluster.LEADER))
                assert leader is not None
                victim, survivor = (a, "gw-b") if leader.gateway == "gw-a" else (b, "gw-a")
                killed_at = time.monotonic()
                victim.kill()

                async def all_on_survivor() -> bool:
                    return set((await holders(redis, ids)).values()) == {survivor}

                await wait_for(all_on_survivor, timeout=OFFLINE_AFTER + TTL + 10)
                moved_s = time.monotonic() - killed_at
                new_leader = await wait_for(lambda: leader_is(redis, survivor), timeout=10)
                assert new_leader
                led_s = time.monotonic() - killed_at

                async def delivered() -> bool:
                    evs = await all_events(redis)
                    done = {
                        e.data["order"]
                        for e in evs
                        if e.type == "order.status" and e.data.get("status") == "delivered"
                    }
                    return done >= set(orders)

                try:
                    await wait_for(delivered, timeout=60)
                except AssertionError:
                    for e in await all_events(redis):
                        if e.type.startswith(("order.", "task.", "command.", "robot.state")):
                            print("EV", e.src, e.type, e.robot, e.data)
                    raise
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
            evs = await all_events(redis)
    finally:
        await redis.aclose()
    print(f"robots moved to {survivor} {moved_s:.1f}s after the kill, leader {led_s:.1f}s")
    assert moved_s < OFFLINE_AFTER + TTL + 5
    # each order delivered exactly once
    delivered_n = Counter(
        e.data["order"]
        for e in evs
        if e.type == "order.status" and e.data.get("status") == "delivered"
    )
    assert all(delivered_n[o] == 1 for o in orders), delivered_n
    # every event once (by eid), every decided command decided once
    assert len({e.eid for e in evs}) == len(evs)
    outcomes = Counter(
        e.data["command"]
        for e in evs
        if e.type in ("command.acked", "command.failed") and "command" in e.data
    )
    assert outcomes and max(outcomes.values()) == 1, outcomes.most_common(3)
    # never a lease naming the dead gateway once its TTL ran out
    dead = "gw-a" if survivor == "gw-b" else "gw-b"
    assert samples
    late = samples[-10:]
    assert all(dead not in s.values() for s in late)
