"""Redis frozen (SIGSTOP) or killed (SIGKILL, with AOF and without persistence) under a
simulated fleet: every event is in rd:events once, in order (docs/reliability.md, Redis
outages); without persistence, every event made after the kill, and every snapshot back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from protocol import streams
from tests.chaos.conftest import OUTAGES, MakeWorld
from tests.chaos.probes import ProbeWatch, record, settle, stream_probes, tally
from tests.servers import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROBOTS = 6
PROBE_HZ = 10.0
LOAD = f"{ROBOTS} TCP robots, {PROBE_HZ:g} events/s and 10 telemetry/s each"


@pytest.fixture
def volatile_redis() -> Iterator[RedisServer]:
    server = RedisServer(aof=False)
    server.start()
    yield server
    server.close()


@pytest.mark.parametrize("outage_s", OUTAGES)
async def test_redis_frozen(redis_private: RedisServer, make_world: MakeWorld,
                            outage_s: float) -> None:
    world = await make_world(redis_private, robots=ROBOTS)
    world.start_gateway()
    async with world.fleet(probe_hz=PROBE_HZ) as fleet:
        await world.online(world.robot_ids)
        await asyncio.sleep(1.0)
        with redis_private.frozen():
            await asyncio.sleep(outage_s)
        marks = fleet.probes()  # made before SIGCONT: in the spool or in flight
        watch = ProbeWatch(world.redis)
        drained = await watch.until(lambda: watch.holds(marks), timeout=30 + outage_s)
        await asyncio.sleep(1.0)
        made = await settle(fleet, world.redis)
    seen = [(robot, n) for _, robot, n in await stream_probes(world.redis)]
    t = tally(made, seen)
    m = await world.metrics()
    record(f"redis SIGSTOP {outage_s:g}s", f"Redis SIGSTOP for {outage_s:g} s, then SIGCONT",
           LOAD, "every event once, in order", t, recovery_s=drained,
           spooled=m.get1("robodine_gateway_events_spooled_total"),
           replayed=m.get1("robodine_gateway_events_replayed_total"))
    assert (t.lost, t.duplicated, t.out_of_order) == (0, 0, 0), t
    assert drained is not None
    assert m.get1("robodine_gateway_events_spooled_total") > 0  # it was an outage
    assert world.log_lines("gateway", "redis_unavailable") == 1
    assert world.log_lines("gateway", "redis_recovered") == 1


@pytest.mark.parametrize("outage_s", OUTAGES)
async def test_redis_killed_with_aof(redis_private: RedisServer, make_world: MakeWorld,
                                     outage_s: float) -> None:
    world = await make_world(redis_private, robots=ROBOTS)
    world.start_gateway()
    async with world.fleet(probe_hz=PROBE_HZ) as fleet:
        await world.online(world.robot_ids)
        await asyncio.sleep(1.0)
        redis_private.kill()
        await asyncio.sleep(outage_s)
        marks = fleet.probes()
        redis_private.start()  # the same port and AOF
        watch = ProbeWatch(world.redis)
        drained = await watch.until(lambda: watch.holds(marks), timeout=30 + outage_s)
        await asyncio.sleep(1.0)
        made = await settle(fleet, world.redis)
    seen = [(robot, n) for _, robot, n in await stream_probes(world.redis)]
    t = tally(made, seen)
    m = await world.metrics()
    record(f"redis SIGKILL (AOF) {outage_s:g}s",
           f"Redis SIGKILL, restarted with its AOF after {outage_s:g} s", LOAD,
           "every event once, in order", t, recovery_s=drained,
           spooled=m.get1("robodine_gateway_events_spooled_total"),
           replayed=m.get1("robodine_gateway_events_replayed_total"))
    assert (t.lost, t.duplicated, t.out_of_order) == (0, 0, 0), t
    assert drained is not None
    assert world.log_lines("gateway", "redis_unavailable") == 1
    assert world.log_lines("gateway", "redis_recovered") == 1


@pytest.mark.parametrize("outage_s", OUTAGES)
async def test_redis_killed_without_persistence(volatile_redis: RedisServer,
                                                make_world: MakeWorld, outage_s: float) -> None:
    world = await make_world(volatile_redis, robots=ROBOTS)
    world.start_gateway()
    async with world.fleet(probe_hz=PROBE_HZ) as fleet:
        await world.online(world.robot_ids)
        await asyncio.sleep(1.0)
        volatile_redis.kill()
        at_kill = fleet.probes()  # everything up to here was in Redis, or on its way
        await asyncio.sleep(outage_s)
        marks = fleet.probes()
        volatile_redis.start()  # empty
        snapshots = asyncio.create_task(world.online(world.robot_ids))
        watch = ProbeWatch(world.redis)
        drained = await watch.until(lambda: watch.holds(marks, after=at_kill),
                                    timeout=30 + outage_s)
        snapshots_back = await snapshots
        await asyncio.sleep(1.0)
        made = await settle(fleet, world.redis)
    seen = [(robot, n) for _, robot, n in await stream_probes(world.redis)]
    t = tally(made, seen, after=at_kill)
    everything = tally(made, seen)
    fields = await world.redis.hgetall(streams.robot_key(world.robot_ids[0]))
    record(f"redis SIGKILL (no persistence) {outage_s:g}s",
           f"Redis without persistence SIGKILLed, restarted empty after {outage_s:g} s", LOAD,
           "every event made after the kill once, in order; every snapshot rewritten", t,
           recovery_s=drained, snapshots_back_s=round(snapshots_back, 2),
           lost_with_redis_data=everything.lost - t.lost)
    assert (t.lost, t.duplicated, t.out_of_order) == (0, 0, 0), t
    assert everything.duplicated == 0 and everything.out_of_order == 0
    assert drained is not None
    assert {b"kind", b"state", b"connection", b"transport"} <= set(fields)
