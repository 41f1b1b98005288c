"""Order and task statuses as transition tables. Pure: no I/O, no clock, no asyncio.

Like the robot machines in ``states.py``, everything that decides whether an
order or one of its tasks may move from one status to another is data here;
the dispatcher asks ``move_order`` / ``move_task`` and an ``IllegalTransition``
is refused (counted and logged), never applied. docs/states.md draws these
tables too (scripts/state_diagrams.py).

An order's status is derived from its tasks and only moves forward; it may
skip a step (an order with nothing robot-cooked goes from ``placed`` to
``ready``, a delivery assigned in the same pass as the last dish finished goes
from ``cooking`` to ``delivering``). ``delivered`` and ``cancelled`` are final.
A task is ``pending`` until a robot takes it; a robot that fails, goes offline
or drops it gives it back (``assigned`` -> ``pending``); ``done`` and
``cancelled`` are final.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from gateway.fleet.states import IllegalTransition
from protocol.streams import OrderStatus

__all__ = [
    "ORDER",
    "TASK",
    "IllegalTransition",
    "OrderStatus",
    "TaskStatus",
    "move_order",
    "move_task",
]


class TaskStatus(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    DONE = "done"
    CANCELLED = "cancelled"


_O = OrderStatus
ORDER: Final[Mapping[OrderStatus, frozenset[OrderStatus]]] = {
    _O.PLACED: frozenset({_O.COOKING, _O.READY, _O.DELIVERING, _O.CANCELLED}),
    _O.COOKING: frozenset({_O.READY, _O.DELIVERING, _O.CANCELLED}),
    _O.READY: frozenset({_O.DELIVERING, _O.CANCELLED}),
    # A delivery handed to another robot stays `delivering`.
    _O.DELIVERING: frozenset({_O.DELIVERED, _O.CANCELLED}),
    _O.DELIVERED: frozenset(),
    _O.CANCELLED: frozenset(),
}

_T = TaskStatus
TASK: Final[Mapping[TaskStatus, frozenset[TaskStatus]]] = {
    _T.PENDING: frozenset({_T.ASSIGNED, _T.CANCELLED}),
    _T.ASSIGNED: frozenset({_T.DONE, _T.PENDING, _T.CANCELLED}),
    _T.DONE: frozenset(),
    _T.CANCELLED: frozenset(),
}


def move_order(current: OrderStatus, wanted: OrderStatus) -> OrderStatus:
    if wanted not in ORDER[current]:
        raise IllegalTransition(current, wanted)
    return wanted


def move_task(current: TaskStatus, wanted: TaskStatus) -> TaskStatus:
    if wanted not in TASK[current]:
        raise IllegalTransition(current, wanted)
    return wanted
