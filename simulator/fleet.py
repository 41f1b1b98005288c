"""Many simulated robots in one process: build them from the settings, run them, stop them.

One asyncio task per robot, all in one TaskGroup, so a bug in any robot (say
an illegal transition) stops the run loudly instead of leaving a dead task.
Robot starts are spread over ``ramp_s`` so a thousand robots do not hit the
gateway's listen backlog in the same millisecond.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from config import Settings
from config.settings import RobotConfig
from simulator.camera import CameraOptions
from simulator.floorplan import FloorPlan
from simulator.model import ModelOptions, RobotModel
from simulator.robot import SimRobot
from simulator.stats import Stats
from simulator.transport import RobotIdentity, Transport

__all__ = ["Fleet", "FleetOptions"]


@dataclass(frozen=True, slots=True)
class FleetOptions:
    hz: float = 10.0
    ramp_s: float | None = None  # None: 5 ms per robot, at most 5 s
    progress_s: float = 1.0
    seed: int | None = None
    probe_hz: float = 0.0  # numbered `probe` events per robot per second (0: none)
    model: ModelOptions = field(default_factory=ModelOptions)
    camera: CameraOptions | None = None  # each robot sends camera frames (tcp transport)


class Fleet:
    def __init__(
        self,
        settings: Settings,
        robots: list[RobotConfig],
        transport: Transport,
        options: FleetOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or FleetOptions()
        self.transport = transport
        self.stats = Stats(robots=len(robots))
        self.elapsed = 0.0  # seconds the last run() lasted
        self._clock = clock
        rng = random.Random(self.options.seed)
        floor = FloorPlan(settings.floor)
        ramp = self.options.ramp_s
        if ramp is None:
            ramp = min(5.0, 0.005 * len(robots))
        now = clock()
        self.robots: dict[str, SimRobot] = {}
        for cfg in robots:
            r = random.Random(rng.getrandbits(64))
            model = RobotModel(cfg.id, cfg.kind, floor, now, options=self.options.model, rng=r)
            self.robots[cfg.id] = SimRobot(
                RobotIdentity(cfg.id, cfg.kind, cfg.key_bytes),
                model,
                transport,
                hz=self.options.hz,
                stats=self.stats,
                clock=clock,
                start_delay=r.uniform(0.0, ramp),
                rng=r,
                probe_hz=self.options.probe_hz,
                camera=self.options.camera,
                floor=settings.floor,
            )

    def probes(self) -> dict[str, int]:
        """Per robot, the number of the last `probe` event it made (0: none yet)."""
        return {name: r.probes for name, r in self.robots.items()}

    def states(self) -> Counter[str]:
        return Counter(str(r.model.state) for r in self.robots.values())

    async def run(
        self, stop: Callable[[], Awaitable[object]], report: Callable[[str], None] | None = None
    ) -> Stats:
        """Run every robot until ``stop()`` completes (hypercorn's shutdown_trigger);
        ``report`` gets a progress line at most every ``progress_s`` seconds."""
        await self.transport.start()
        started = self._clock()
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(r.run(), name=f"sim-{r.robot}") for r in self.robots.values()
                ]
                if report is not None:
                    tasks.append(tg.create_task(self._progress(report, started), name="progress"))
                try:
                    await stop()
                finally:
                    for t in tasks:
                        t.cancel()
        finally:
            await self.transport.aclose()
        self.elapsed = self._clock() - started
        return self.stats

    async def _progress(self, report: Callable[[str], None], started: float) -> None:
        while True:
            await asyncio.sleep(self.options.progress_s)
            report(self.stats.progress(self._clock() - started))

    def summary(self) -> str:
        return self.stats.summary(self.elapsed, self.states())
