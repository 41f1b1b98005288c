"""The real simulator fleet, run in the test's loop against a running gateway."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from config import Settings
from protocol import streams
from simulator.camera import CameraOptions
from simulator.fleet import Fleet as SimFleet
from simulator.fleet import FleetOptions
from simulator.model import ModelOptions
from simulator.transport import make_transport
from tests.support.gateway import RunningGateway

FLOOR = {
    "width": 12.0,
    "height": 8.0,
    "kitchen_pass": {"name": "pass", "x": 1.0, "y": 4.0},
    "docks": [{"name": "dock-1", "x": 0.5, "y": 0.5}],
    "tables": [{"name": "T1", "x": 4.0, "y": 4.0}, {"name": "T2", "x": 8.0, "y": 6.0}],
}


@contextlib.asynccontextmanager
async def simulated(
    settings: Settings,
    gw: RunningGateway,
    *,
    speed: float = 6.0,
    pickup_s: float = 0.3,
    cook_s: float = 0.4,
    robots: tuple[str, ...] | None = None,
    camera: CameraOptions | None = None,
) -> AsyncIterator[SimFleet]:
    """Every robot of ``settings`` (or those of ``robots``) as a simulated TCP robot, fast
    enough for tests."""
    sim_settings = settings.model_copy(
        update={"tcp": settings.tcp.model_copy(update={"port": gw.tcp_port})}
    )
    fleet = SimFleet(
        sim_settings,
        [r for r in settings.robots if robots is None or r.id in robots],
        make_transport("tcp", sim_settings, "127.0.0.1"),
        FleetOptions(
            hz=20,
            ramp_s=0.1,
            seed=11,
            camera=camera,
            model=ModelOptions(
                speed=speed, pickup_s=pickup_s, load_s=0.1, cook_s=cook_s, ready_hold_s=0.2
            ),
        ),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.run(stop.wait))
    try:
        yield fleet
    finally:
        stop.set()
        await task


async def all_idle(
    r: aioredis.Redis, robots: tuple[str, ...] = ("serve-1", "serve-2", "cook-1")
) -> bool:
    return all([await r.hget(streams.robot_key(x), "state") == b"idle" for x in robots])
