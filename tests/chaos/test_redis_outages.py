"""Redis frozen (SIGSTOP) or killed (SIGKILL, with AOF and without persistence) under a
simulated fleet: every event is in rd:events once, in order (docs/reliability.md, Redis
outages); without persistence, every event made after the kill, and every snapshot back."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from protocol import streams
from tests.chaos.probes import ProbeWatch, Tally, record, settle, stream_probes, tally
from tests.chaos.world import World
from tests.servers import RedisServer
from tests.support.chaos import OUTAGES, MakeWorld

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROBOTS = 6
PROBE_HZ = 10.0
LOAD = f"{ROBOTS} TCP robots, {PROBE_HZ:g} events/s and 10 telemetry/s each"


async def _outage(
    world: World, server: RedisServer, outage_s: float, *, frozen: bool
) -> tuple[Tally, float | None]:
    """Under the fleet: Redis frozen (SIGSTOP) or killed and restarted with its AOF, for
    ``outage_s``; the tally of every probe, and how long the spool took to drain."""
    world.start_gateway()
    async with world.fleet(probe_hz=PROBE_HZ) as fleet:
        await world.online(world.robot_ids)
        await asyncio.sleep(1.0)
        with server.frozen() if frozen else contextlib.nullcontext():
            if not frozen:
                server.kill()
            await asyncio.sleep(outage_s)
        marks = fleet.probes()  # made before Redis came back: in the spool or in flight
        if not frozen:
            server.start()  # the same port and AOF
        watch = ProbeWatch(world.redis)
        drained = await watch.until(lambda: watch.holds(marks), timeout=30 + outage_s)
        await asyncio.sleep(1.0)
        made = await settle(fleet, world.redis)
    seen = [(robot, n) for _, robot, n in await stream_probes(world.redis)]
    return tally(made, seen), drained


@pytest.mark.parametrize("outage_s", OUTAGES)
@pytest.mark.parametrize("how", ["SIGSTOP", "SIGKILL"])
async def test_redis_frozen_or_killed_with_aof(
    redis_private: RedisServer, make_world: MakeWorld, how: str, outage_s: float
) -> None:
    world = await make_world(redis_private, robots=ROBOTS)
    t, drained = await _outage(world, redis_private, outage_s, frozen=how == "SIGSTOP")
    m = await world.metrics()
    injected = (
        f"Redis SIGSTOP for {outage_s:g} s, then SIGCONT"
        if how == "SIGSTOP"
        else f"Redis SIGKILL, restarted with its AOF after {outage_s:g} s"
    )
    record(
        f"redis {how} {outage_s:g}s",
        injected,
        LOAD,
        "every event once, in order",
        t,
        recovery_s=drained,
        spooled=m.get1("robodine_gateway_events_spooled_total"),
        replayed=m.get1("robodine_gateway_events_replayed_total"),
    )
    assert (t.lost, t.duplicated, t.out_of_order) == (0, 0, 0), t
    assert drained is not None
    assert m.get1("robodine_gateway_events_spooled_total") > 0  # it was an outage
    assert world.log_lines("gateway", "redis_unavailable") == 1
    assert world.log_lines("gateway", "redis_recovered") == 1


@pytest.mark.parametrize("outage_s", OUTAGES)
async def test_redis_killed_without_persistence(
    volatile_redis: RedisServer, make_world: MakeWorld, outage_s: float
) -> None:
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
        drained = await watch.until(
            lambda: watch.holds(marks, after=at_kill), timeout=30 + outage_s
        )
        snapshots_back = await snapshots
        await asyncio.sleep(1.0)
        made = await settle(fleet, world.redis)
    seen = [(robot, n) for _, robot, n in await stream_probes(world.redis)]
    t = tally(made, seen, after=at_kill)
    everything = tally(made, seen)
    fields = await world.redis.hgetall(streams.robot_key(world.robot_ids[0]))
    record(
        f"redis SIGKILL (no persistence) {outage_s:g}s",
        f"Redis without persistence SIGKILLed, restarted empty after {outage_s:g} s",
        LOAD,
        "every event made after the kill once, in order; every snapshot rewritten",
        t,
        recovery_s=drained,
        snapshots_back_s=round(snapshots_back, 2),
        lost_with_redis_data=everything.lost - t.lost,
    )
    assert (t.lost, t.duplicated, t.out_of_order) == (0, 0, 0), t
    assert everything.duplicated == 0 and everything.out_of_order == 0
    assert drained is not None
    assert {b"kind", b"state", b"connection", b"transport"} <= set(fields)
