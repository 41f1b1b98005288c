"""Two real gateway processes on one Redis, 30 simulated robots, orders flowing; one gateway
SIGKILLed: its robots reconnect to the other, every order is delivered once, every command
has one outcome, no robot is held by two gateways."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from config import Settings
from config.loader import load_settings
from protocol import cluster, streams
from simulator.client import TcpTransport
from simulator.fleet import Fleet as SimFleet
from simulator.fleet import FleetOptions
from simulator.fleet_config import fleet_toml
from simulator.model import ModelOptions
from tests.servers import GatewayServer, RedisServer, free_port
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

ROBOTS = 30
TTL = 2.0
OFFLINE_AFTER = 6.0


def gateway_env(name: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "ROBODINE_GATEWAY_NAME": name,
        "ROBODINE_GATEWAY_METRICS_PORT": "0",
        "ROBODINE_GATEWAY_OFFLINE_AFTER_S": str(OFFLINE_AFTER),
        "ROBODINE_GATEWAY_STALE_AFTER_S": "2.0",
        "ROBODINE_UDP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "ROBODINE_REDIS_URL": redis_url,
        "ROBODINE_SPOOL_PATH": str(tmp_path / f"{name}.sqlite3"),
        "ROBODINE_CLUSTER_ENABLED": "true",
        "ROBODINE_CLUSTER_LEASE_TTL_S": str(TTL),
        "ROBODINE_DISPATCH_COOK_SECONDS": "0.5",
        "ROBODINE_COMMANDS_TTL_S": "20",
        "ROBODINE_LOGGING_FORMAT": "json",
    }


@contextlib.contextmanager
def gateway(config: Path, name: str, redis_url: str, tmp_path: Path) -> Iterator[GatewayServer]:
    gw = GatewayServer(config, gateway_env(name, redis_url, tmp_path), log=tmp_path / f"{name}.log")
    gw.start()
    try:
        yield gw
    finally:
        gw.close()


@contextlib.asynccontextmanager
async def robots(
    settings: Settings, addresses: list[tuple[str, int]], ids: list[str]
) -> AsyncIterator[SimFleet]:
    (host, port), *more = addresses
    transport = TcpTransport(host, port, handshake_timeout_s=5.0, more=more)
    fleet = SimFleet(
        settings,
        [r for r in settings.robots if r.id in ids],
        transport,
        FleetOptions(
            hz=4,
            ramp_s=1.0,
            seed=5,
            model=ModelOptions(speed=3.0, pickup_s=0.5, load_s=0.1, cook_s=0.5, ready_hold_s=0.2),
        ),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.run(stop.wait))
    try:
        yield fleet
    finally:
        stop.set()
        await task


async def holders(redis: aioredis.Redis, ids: list[str]) -> dict[str, str]:
    values = await redis.mget([cluster.lease_key(r) for r in ids])
    out = {}
    for robot, value in zip(ids, values, strict=True):
        h = cluster.parse_holder(value)
        out[robot] = h.gateway if h else ""
    return out


async def place(redis: aioredis.Redis, table: dict[str, Any]) -> str:
    order = uuid.uuid4().hex[:12]
    rec = streams.CommandRecord(
        id=uuid.uuid4().hex,
        robot="",
        action="place",
        ts=time.time(),
        type="order.place",
        source="test",
        args={
            "order": order,
            "table": table,
            "items": [{"line": "1", "name": "Ramen", "recipe": "ramen", "quantity": 1}],
        },
    )
    await redis.xadd(streams.COMMANDS, streams.to_fields(rec))  # type: ignore[arg-type]
    return order


async def all_events(redis: aioredis.Redis) -> list[streams.EventRecord]:
    return [
        streams.from_fields(streams.EventRecord, f) for _, f in await redis.xrange(streams.EVENTS)
    ]


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
                new_leader = await wait_for(lambda: _leader_is(redis, survivor), timeout=10)
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


async def _leader_is(redis: aioredis.Redis, name: str) -> bool:
    h = cluster.parse_holder(await redis.get(cluster.LEADER))
    return h is not None and h.gateway == name
