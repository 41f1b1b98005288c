"""The simulator's floor, a robot factory and its legal transitions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from config.settings import FloorSettings, Point
from protocol.vocabulary import RobotKind
from simulator.robot import SimRobot

FLOOR = FloorSettings(
    width=20.0,
    height=12.0,
    kitchen_pass=Point(name="pass", x=1.0, y=6.0),
    docks=[Point(name="dock-1", x=1.0, y=1.0), Point(name="dock-2", x=1.0, y=11.0)],
    tables=[Point(name="t1", x=5.0, y=6.0), Point(name="t2", x=15.0, y=10.0)],
)


RobotFactory = Callable[..., contextlib.AbstractAsyncContextManager[SimRobot]]


# The brief's table, written out again on purpose: the model is checked against
# this independent copy, not against simulator/states.py.
SERVING_MOVES = {
    ("idle", "assigned"),
    ("idle", "en_route"),
    ("idle", "charging"),
    ("assigned", "en_route"),
    ("assigned", "idle"),
    ("en_route", "at_table"),
    ("en_route", "idle"),
    ("en_route", "returning"),
    ("en_route", "charging"),
    ("at_table", "returning"),
    ("returning", "idle"),
    ("returning", "charging"),
    ("charging", "idle"),
    ("charging", "en_route"),
    ("error", "idle"),
    ("estop", "idle"),
}


COOKING_MOVES = {
    ("idle", "cooking"),
    ("cooking", "ready"),
    ("cooking", "idle"),
    ("ready", "idle"),
    ("error", "idle"),
    ("estop", "idle"),
}


def legal(kind: RobotKind, old: str, new: str) -> bool:
    if new in ("error", "estop"):
        return old != new
    return (old, new) in (SERVING_MOVES if kind is RobotKind.SERVING else COOKING_MOVES)
