"""The restaurant floor as the simulated robots see it: a rectangle with named spots.

Built once per process from ``settings.floor`` and shared by every robot model.
Every named spot is clamped into the rectangle here, so a model that only ever
moves in straight lines between spots (or clamped poses) never leaves the floor.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from config.settings import FloorSettings, Point
from protocol.vocabulary import RobotKind

__all__ = ["FloorPlan", "Spot"]


@dataclass(frozen=True, slots=True)
class Spot:
    name: str
    x: float
    y: float


class FloorPlan:
    def __init__(self, floor: FloorSettings) -> None:
        self.width = floor.width
        self.height = floor.height
        self.kitchen_pass = self._spot(floor.kitchen_pass)
        self.docks = tuple(self._spot(p) for p in floor.docks)
        self.tables = {p.name: self._spot(p) for p in floor.tables}

    def _spot(self, p: Point) -> Spot:
        x, y = self.clamp(p.x, p.y)
        return Spot(p.name, x, y)

    def clamp(self, x: float, y: float) -> tuple[float, float]:
        return min(max(x, 0.0), self.width), min(max(y, 0.0), self.height)

    def contains(self, x: float, y: float) -> bool:
        return 0.0 <= x <= self.width and 0.0 <= y <= self.height

    def nearest_dock(self, x: float, y: float) -> Spot | None:
        if not self.docks:
            return None
        return min(self.docks, key=lambda d: math.hypot(d.x - x, d.y - y))

    def table(self, name: str) -> Spot | None:
        return self.tables.get(name)

    def random_spot(self, rng: random.Random) -> tuple[float, float]:
        """A table if there are any (robots wander between tables), else any point."""
        if self.tables:
            t = rng.choice(list(self.tables.values()))
            return t.x, t.y
        return rng.uniform(0.0, self.width), rng.uniform(0.0, self.height)

    def start_spot(self, kind: RobotKind, rng: random.Random) -> tuple[float, float]:
        """Where a robot is parked when the simulator starts.

        Serving robots wait around the docks and the kitchen pass; cooking robots
        stand in the kitchen next to the pass. A little jitter keeps them from
        drawing on top of each other on the live map.
        """
        if kind is RobotKind.COOKING:
            anchor = self.kitchen_pass
            spread = 0.8
        else:
            anchor = rng.choice((self.kitchen_pass, *self.docks))
            spread = 1.5
        return self.clamp(
            anchor.x + rng.uniform(-spread, spread), anchor.y + rng.uniform(-spread, spread)
        )
