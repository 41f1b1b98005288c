"""Redis down and the spool's disk full (a real 512 KiB tmpfs, filled) under a simulated
fleet: the gateway keeps every robot connected, loses only what it counts, keeps the order
of what it keeps, and says so with alarms once Redis is back (docs/reliability.md, The
spool's disk)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from tests.chaos.probes import ProbeWatch, record, settle, stream_probes, tally
from tests.chaos.world import wait_until
from tests.disk import fill, free, small_filesystem
from tests.servers import RedisServer
from tests.support.chaos import OUTAGES, MakeWorld
from tests.support.replies import RawEntries

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROBOTS = 6


@pytest.mark.parametrize("outage_s", OUTAGES)
async def test_spool_disk_full_during_a_redis_outage(
    redis_private: RedisServer, make_world: MakeWorld, tmp_path: Path, outage_s: float
) -> None:
    with small_filesystem(tmp_path / "fs") as fs:
        world = await make_world(
            redis_private, robots=ROBOTS, overrides={"spool": {"path": str(fs / "spool.sqlite3")}}
        )
        world.start_gateway()
        async with world.fleet(probe_hz=10.0) as fleet:
            await world.online(world.robot_ids)
            await asyncio.sleep(1.0)
            redis_private.kill()

            async def spooling() -> bool:
                return (await world.metrics()).get1("robodine_gateway_events_spooled_total") > 0

            assert await wait_until(spooling, timeout=10)
            filler = fill(fs)
            await asyncio.sleep(outage_s)
            during = await world.metrics()
            marks = fleet.probes()
            redis_private.start()
            watch = ProbeWatch(world.redis)
            flowing = await watch.until(lambda: watch.beyond(marks), timeout=30)
            await asyncio.sleep(1.0)
            made = await settle(fleet, world.redis)
            alive = world.gateway is not None and world.gateway.alive()
            disconnects = fleet.stats.disconnects
            after = await world.metrics()
            free(filler)
    seen = [(robot, n) for _, robot, n in await stream_probes(world.redis)]
    t = tally(made, seen)
    types = [f[b"type"] for _, f in cast(RawEntries, await world.redis.xrange("rd:events"))]
    overflow = after.get1("robodine_gateway_spool_overflow_total")
    record(
        f"spool disk full {outage_s:g}s",
        f"Redis SIGKILLed, the spool's 512 KiB tmpfs filled, Redis back after {outage_s:g} s "
        "(the disk still full)",
        f"{ROBOTS} TCP robots, 10 events/s each",
        "robots stay connected; every loss counted; what is kept is once and in order",
        t,
        recovery_s=flowing,
        counted_overflow=overflow,
        spooled=after.get1("robodine_gateway_events_spooled_total"),
        robot_disconnects=disconnects,
        degraded_gauge=during.get1("robodine_gateway_spool_degraded"),
    )
    assert alive and disconnects == 0
    assert t.duplicated == 0 and t.out_of_order == 0, t
    assert 0 < t.lost <= overflow, (t, overflow)  # the disk refused, and each loss is counted
    assert during.get1("robodine_gateway_spool_degraded") == 1
    assert b"gateway.spool_degraded" in types and b"gateway.spool_overflow" in types
    assert world.log_lines("gateway", "spool_full") == 1
    assert flowing is not None
