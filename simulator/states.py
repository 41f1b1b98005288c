"""The operational states a simulated robot reports, and the only moves between them.

These tables mirror what the gateway accepts (gateway/fleet/states.py owns the
authoritative copy; docs/protocol.md documents it). The simulator checks every
state change it makes against them, so a sim bug shows up as an exception in
the model's tests rather than as a refused transition on the gateway.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from protocol.vocabulary import RobotKind

__all__ = ["TRANSITIONS", "IllegalTransition", "RobotState", "allowed", "check"]


class RobotState(StrEnum):
    IDLE = "idle"
    # serving robots
    ASSIGNED = "assigned"  # has a delivery task, fetching the dish at the kitchen pass
    EN_ROUTE = "en_route"
    AT_TABLE = "at_table"  # waiting for the guest to take the dish
    RETURNING = "returning"
    CHARGING = "charging"
    # cooking robots
    COOKING = "cooking"
    READY = "ready"  # dish done, waiting to be taken
    # both
    ERROR = "error"
    ESTOP = "estop"


S = RobotState

_SERVING: Final[frozenset[tuple[RobotState, RobotState]]] = frozenset(
    {
        (S.IDLE, S.ASSIGNED),
        (S.IDLE, S.EN_ROUTE),
        (S.IDLE, S.CHARGING),
        (S.ASSIGNED, S.EN_ROUTE),
        (S.ASSIGNED, S.IDLE),
        (S.EN_ROUTE, S.AT_TABLE),
        (S.EN_ROUTE, S.IDLE),
        (S.EN_ROUTE, S.RETURNING),
        (S.EN_ROUTE, S.CHARGING),
        (S.AT_TABLE, S.RETURNING),
        (S.RETURNING, S.IDLE),
        (S.RETURNING, S.CHARGING),
        (S.CHARGING, S.IDLE),
        (S.CHARGING, S.EN_ROUTE),
        (S.ERROR, S.IDLE),
        (S.ESTOP, S.IDLE),  # only after a `release` command
    }
)

_COOKING: Final[frozenset[tuple[RobotState, RobotState]]] = frozenset(
    {
        (S.IDLE, S.COOKING),
        (S.COOKING, S.READY),
        (S.COOKING, S.IDLE),
        (S.READY, S.IDLE),
        (S.ERROR, S.IDLE),
        (S.ESTOP, S.IDLE),
    }
)

STATES: Final[dict[RobotKind, frozenset[RobotState]]] = {
    RobotKind.SERVING: frozenset(
        {S.IDLE, S.ASSIGNED, S.EN_ROUTE, S.AT_TABLE, S.RETURNING, S.CHARGING, S.ERROR, S.ESTOP}
    ),
    RobotKind.COOKING: frozenset({S.IDLE, S.COOKING, S.READY, S.ERROR, S.ESTOP}),
}


def _with_faults(
    kind: RobotKind, table: frozenset[tuple[RobotState, RobotState]]
) -> frozenset[tuple[RobotState, RobotState]]:
    """Error and e-stop are reachable from every other state of the kind."""
    extra = {(s, t) for s in STATES[kind] for t in (S.ERROR, S.ESTOP) if s is not t}
    return table | extra


TRANSITIONS: Final[dict[RobotKind, frozenset[tuple[RobotState, RobotState]]]] = {
    RobotKind.SERVING: _with_faults(RobotKind.SERVING, _SERVING),
    RobotKind.COOKING: _with_faults(RobotKind.COOKING, _COOKING),
}


class IllegalTransition(Exception):
    """The simulator tried a move the gateway would refuse: a bug in the simulator."""


def allowed(kind: RobotKind, old: RobotState, new: RobotState) -> bool:
    return (old, new) in TRANSITIONS[kind]


def check(kind: RobotKind, old: RobotState, new: RobotState) -> None:
    if not allowed(kind, old, new):
        raise IllegalTransition(f"{kind} robot: {old} -> {new} is not an allowed transition")
