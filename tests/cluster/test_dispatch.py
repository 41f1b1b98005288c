"""Orders with two gateways: the leader dispatches robots held by either, and a standby
takes over an open order when the leader goes."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from config import Settings
from protocol import cluster, streams
from tests.integration.sim import FLOOR, all_idle, simulated
from tests.servers import RedisServer
from tests.support.cluster import cluster_settings
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.integration import place, statuses
from tests.support.replies import RawEntries
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORDER = [
    {"line": "1", "name": "Bibimbap", "recipe": "bibimbap", "quantity": 1},
    {"line": "2", "name": "Barley tea", "quantity": 1},
]


def settings(url: str, tmp_path: Path, name: str) -> Settings:
    return cluster_settings(
        url,
        tmp_path,
        name,
        floor=FLOOR,
        gateway={"name": name, "heartbeat_s": 0.2, "stale_after_s": 0.8, "offline_after_s": 3.0},
        commands={"ack_timeout_s": 1, "max_attempts": 3, "ttl_s": 10},
        dispatch={"cook_seconds": 0.3, "min_battery": 30, "dock_below": 20},
    )


async def leader_of(redis: aioredis.Redis) -> str:
    holder = cluster.parse_holder(await redis.get(cluster.LEADER))
    return holder.gateway if holder else ""


async def delivered_once(redis: aioredis.Redis, order: str) -> None:
    """Wait for the order's delivery; it went through every status, each once."""

    async def delivered() -> bool:
        return (await statuses(redis, order))[-1:] == ["delivered"]

    await wait_for(delivered, timeout=30)
    assert await statuses(redis, order) == [
        "placed",
        "cooking",
        "ready",
        "delivering",
        "delivered",
    ]


async def order_events(redis: aioredis.Redis, order: str) -> list[dict[bytes, bytes]]:
    out = []
    for _, f in cast(RawEntries, await redis.xrange(streams.EVENTS)):
        if f[b"type"] in (b"order.status", b"task.assigned") and order.encode() in f[b"data"]:
            out.append(f)
    return out


async def test_the_leader_dispatches_robots_held_by_both_gateways(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    sa, sb = (
        settings(redis_server.url, tmp_path, "gw-a"),
        settings(redis_server.url, tmp_path, "gw-b"),
    )
    async with run_gateway(sa) as a, run_gateway(sb) as b:
        leader = await wait_for(lambda: leader_of(redis_client))
        async with (
            simulated(sa, a, robots=("cook-1",)),
            simulated(sb, b, robots=("serve-1", "serve-2")),
        ):
            await wait_for(lambda: all_idle(redis_client), timeout=15)
            order = await place(redis_client, ORDER)

            await delivered_once(redis_client, order)
            evs = await order_events(redis_client, order)
            assert {f[b"src"] for f in evs} == {leader.encode()}
            epoch = cluster.parse_holder(await redis_client.get(cluster.LEADER))
            assert epoch is not None
            assert {f[b"epoch"] for f in evs} == {str(epoch.token).encode()}
            assigned = [(f[b"robot"], f[b"data"]) for f in evs if f[b"type"] == b"task.assigned"]
            assert assigned[0][0] == b"cook-1"  # held by gw-a
            assert assigned[-1][0] in (b"serve-1", b"serve-2")  # held by gw-b
            # each robot's commands were run by the gateway holding it
            sent = [
                streams.from_fields(streams.EventRecord, f)
                for _, f in cast(RawEntries, await redis_client.xrange(streams.EVENTS))
                if f[b"type"] == b"command.sent"
            ]
            assert {(e.robot, e.src) for e in sent} <= {
                ("cook-1", "gw-a"),
                ("serve-1", "gw-b"),
                ("serve-2", "gw-b"),
            }
            await wait_for(lambda: _hlen0(redis_client), timeout=5)


async def _hlen0(redis: aioredis.Redis) -> bool:
    return await redis.hlen(streams.DISPATCH) == 0


async def test_a_standby_takes_over_an_open_order_when_the_leader_goes(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    sa, sb = (
        settings(redis_server.url, tmp_path, "gw-a"),
        settings(redis_server.url, tmp_path, "gw-b"),
    )
    first = run_gateway(sa)
    a: RunningGateway | None = await first.__aenter__()
    try:
        async with run_gateway(sb) as b:
            assert await wait_for(lambda: leader_of(redis_client)) == "gw-a"
            async with simulated(sb, b, speed=0.8, pickup_s=0.5):  # every robot on gw-b
                await wait_for(lambda: all_idle(redis_client), timeout=15)
                order = await place(redis_client, ORDER)

                async def delivering() -> bool:
                    return "delivering" in await statuses(redis_client, order)

                await wait_for(delivering, timeout=20)
                t0 = time.monotonic()
                await first.__aexit__(None, None, None)  # the leader goes, mid-delivery
                a = None
                assert await wait_for(lambda: leader_of(redis_client), timeout=10) == "gw-b"
                took_over = time.monotonic() - t0
                print(f"the standby leads {took_over:.2f}s after the leader began to stop")
                assert took_over < 5

                await delivered_once(redis_client, order)
                evs = await order_events(redis_client, order)
                by = [(f[b"type"], f[b"src"]) for f in evs]
                assert (b"order.status", b"gw-b") in by  # delivered by the new leader
                deliveries = [
                    f for f in evs if f[b"type"] == b"task.assigned" and b'"deliver"' in f[b"data"]
                ]
                assert len(deliveries) == 1  # carried on, not handed to a second robot
    finally:
        if a is not None:
            with contextlib.suppress(Exception):
                await first.__aexit__(None, None, None)
