"""Robot state machines as transition tables. Pure: no I/O, no clock, no asyncio.

Rule 1 (after h11's _state.py): everything that decides whether a robot may
go from one state to another lives in this file, as data. Callers ask
``apply``; an ``IllegalTransition`` is refused and recorded as an event by
the caller, never applied (DESIGN.md, State machines). docs/states.md is
generated from these tables by scripts/state_diagrams.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from protocol.vocabulary import CookingState, RobotKind, ServingState

__all__ = [
    "CONNECTION",
    "COOKING",
    "SERVING",
    "ConnInput",
    "ConnState",
    "CookingState",
    "IllegalTransition",
    "ServingState",
    "apply_connection",
    "apply_reported",
    "operational_table",
]


class IllegalTransition(Exception):
    def __init__(self, current: str, requested: str) -> None:
        super().__init__(f"{current} -> {requested} is not allowed")
        self.current = current
        self.requested = requested


# ---- connection: driven by what the gateway observes ------------------------


class ConnState(StrEnum):
    OFFLINE = "offline"
    ONLINE = "online"
    STALE = "stale"  # connected, but silent for longer than stale_after_s


class ConnInput(StrEnum):
    CONNECTED = "connected"  # authenticated hello (or MQTT presence online)
    HEARD = "heard"  # any valid message from the robot
    SILENT = "silent"  # nothing heard for stale_after_s
    LOST = "lost"  # nothing heard for offline_after_s
    DISCONNECTED = "disconnected"  # the link closed


CONNECTION: Final[Mapping[ConnState, Mapping[ConnInput, ConnState]]] = {
    ConnState.OFFLINE: {
        ConnInput.CONNECTED: ConnState.ONLINE,
        ConnInput.HEARD: ConnState.ONLINE,  # a UDP-only robot comes online by being heard
        ConnInput.SILENT: ConnState.OFFLINE,
        ConnInput.LOST: ConnState.OFFLINE,
        ConnInput.DISCONNECTED: ConnState.OFFLINE,
    },
    ConnState.ONLINE: {
        ConnInput.CONNECTED: ConnState.ONLINE,
        ConnInput.HEARD: ConnState.ONLINE,
        ConnInput.SILENT: ConnState.STALE,
        ConnInput.LOST: ConnState.OFFLINE,
        ConnInput.DISCONNECTED: ConnState.OFFLINE,
    },
    ConnState.STALE: {
        ConnInput.CONNECTED: ConnState.ONLINE,
        ConnInput.HEARD: ConnState.ONLINE,
        ConnInput.SILENT: ConnState.STALE,
        ConnInput.LOST: ConnState.OFFLINE,
        ConnInput.DISCONNECTED: ConnState.OFFLINE,
    },
}


def apply_connection(state: ConnState, event: ConnInput) -> ConnState:
    """Total: every (state, input) pair has an answer, so this never raises."""
    return CONNECTION[state][event]


# ---- operational: reported by the robot, checked against the table ----------


_S = ServingState
SERVING: Final[Mapping[ServingState, frozenset[ServingState]]] = {
    _S.IDLE: frozenset({_S.ASSIGNED, _S.EN_ROUTE, _S.CHARGING}),
    _S.ASSIGNED: frozenset({_S.EN_ROUTE, _S.IDLE}),
    _S.EN_ROUTE: frozenset({_S.AT_TABLE, _S.IDLE, _S.RETURNING, _S.CHARGING}),
    _S.AT_TABLE: frozenset({_S.RETURNING}),
    _S.RETURNING: frozenset({_S.IDLE, _S.CHARGING}),
    _S.CHARGING: frozenset({_S.IDLE, _S.EN_ROUTE}),
    # Leaving error or estop needs a `release` command; the robot then reports idle.
    _S.ERROR: frozenset({_S.IDLE}),
    _S.ESTOP: frozenset({_S.IDLE}),
}

_C = CookingState
COOKING: Final[Mapping[CookingState, frozenset[CookingState]]] = {
    _C.IDLE: frozenset({_C.COOKING}),
    _C.COOKING: frozenset({_C.READY, _C.IDLE}),
    _C.READY: frozenset({_C.IDLE}),
    _C.ERROR: frozenset({_C.IDLE}),
    _C.ESTOP: frozenset({_C.IDLE}),
}

# A fault or an emergency stop can happen in any state, including during another one.
_FROM_ANYWHERE: Final = frozenset({"error", "estop"})


def operational_table(kind: RobotKind) -> Mapping[str, frozenset[str]]:
    return SERVING if kind is RobotKind.SERVING else COOKING  # type: ignore[return-value]


def apply_reported(kind: RobotKind, current: str | None, reported: str) -> str:
    """The state the robot is in after it reports ``reported``.

    ``current`` None means not known yet (just connected): any state of the
    robot's kind is believed. Reporting the current state again is a no-op.
    """
    table = operational_table(kind)
    if reported not in table:
        raise IllegalTransition(current or "unknown", reported)
    if current is None or reported == current:
        return reported
    if reported in _FROM_ANYWHERE or reported in table.get(current, frozenset()):
        return reported
    raise IllegalTransition(current, reported)
