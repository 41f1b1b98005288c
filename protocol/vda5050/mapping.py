"""VDA 5050 ``state`` -> our serving-robot states; ``connection`` -> presence.

A VDA state knows orders, nodes and actions but not tables or kitchens, so the
mapping also takes what *we* meant the current order for (an ``OrderIntent``:
delivery to a table node, or return to a home node). It is two steps, both pure:

1. ``facts(state, intent)`` reduces the message to a few booleans;
2. ``RULES`` is an ordered table: the first rule whose conditions all hold
   decides. The last rule has no condition, so the mapping is total.

docs/vda5050.md renders the same table; a test keeps the two in step.
The states match ``gateway.fleet.states.ServingState`` by value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Final

from protocol.mqtt_topics import Presence
from protocol.vda5050.enums import ActionStatus, ConnectionState, ErrorLevel, EStop, OperatingMode
from protocol.vda5050.messages import Connection
from protocol.vda5050.state import State
from protocol.vocabulary import ServingState

__all__ = [
    "RULES",
    "Facts",
    "Mapped",
    "OperationalState",
    "OrderIntent",
    "PresenceUpdate",
    "Rule",
    "Trip",
    "facts",
    "operational_state",
    "presence_of",
]


# What a VDA 5050 state maps onto: our serving robot's states, one definition.
OperationalState = ServingState


class Trip(StrEnum):
    DELIVERY = "delivery"  # to a table
    RETURN = "return"  # back to the pass, a dock or a parking node


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What master control sent the AGV's current order for."""

    order_id: str
    trip: Trip
    goal_node_id: str


_DONE: Final = frozenset({ActionStatus.FINISHED, ActionStatus.FAILED})
_UNDER_CONTROL: Final = frozenset({OperatingMode.AUTOMATIC, OperatingMode.SEMIAUTOMATIC})


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at, derived from one ``State`` (and the intent)."""

    estop: bool  # safetyState.eStop is not NONE
    fatal: bool  # some error has errorLevel FATAL
    automatic: bool  # operatingMode AUTOMATIC or SEMIAUTOMATIC (6.10.6, Table 1)
    charging: bool  # batteryState.charging
    trip: Trip | None  # our intent's trip; None: no intent
    accepted: bool  # the AGV reports the intent's orderId
    busy: bool  # driving, nodes left to traverse, or an action not FINISHED/FAILED
    at_goal: bool  # lastNodeId is the intent's goal node


def facts(state: State, intent: OrderIntent | None = None) -> Facts:
    accepted = intent is not None and state.order_id == intent.order_id
    return Facts(
        estop=state.safety_state.e_stop is not EStop.NONE,
        fatal=any(e.error_level is ErrorLevel.FATAL for e in state.errors),
        automatic=state.operating_mode in _UNDER_CONTROL,
        charging=state.battery_state.charging,
        trip=intent.trip if intent is not None else None,
        accepted=accepted,
        busy=state.driving
        or bool(state.node_states)
        or any(a.action_status not in _DONE for a in state.action_states),
        at_goal=accepted and intent is not None and state.last_node_id == intent.goal_node_id,
    )


_FACT_NAMES: Final = frozenset(f.name for f in fields(Facts))


@dataclass(frozen=True, slots=True)
class Rule:
    """``name`` is the reason reported with the state; ``when`` maps Facts fields to values."""

    name: str
    state: OperationalState
    when: Mapping[str, object]

    def __post_init__(self) -> None:
        unknown = set(self.when) - _FACT_NAMES
        if unknown:
            raise ValueError(f"rule {self.name!r} names unknown facts {sorted(unknown)}")

    def holds(self, f: Facts) -> bool:
        return all(getattr(f, key) == value for key, value in self.when.items())


_S = OperationalState
RULES: Final[tuple[Rule, ...]] = (
    Rule("estop", _S.ESTOP, {"estop": True}),
    Rule("fatal_error", _S.ERROR, {"fatal": True}),
    Rule("not_automatic", _S.ERROR, {"automatic": False}),
    Rule("charging", _S.CHARGING, {"charging": True}),
    Rule("delivery_sent", _S.ASSIGNED, {"trip": Trip.DELIVERY, "accepted": False}),
    Rule("delivery_running", _S.EN_ROUTE, {"trip": Trip.DELIVERY, "busy": True}),
    Rule("delivery_arrived", _S.AT_TABLE, {"trip": Trip.DELIVERY, "at_goal": True}),
    Rule("delivery_ended_elsewhere", _S.IDLE, {"trip": Trip.DELIVERY}),
    Rule("return_sent", _S.RETURNING, {"trip": Trip.RETURN, "accepted": False}),
    Rule("return_running", _S.RETURNING, {"trip": Trip.RETURN, "busy": True}),
    Rule("return_ended", _S.IDLE, {"trip": Trip.RETURN}),
    Rule("unplanned_work", _S.EN_ROUTE, {"busy": True}),
    Rule("idle", _S.IDLE, {}),
)


@dataclass(frozen=True, slots=True)
class Mapped:
    state: OperationalState
    reason: str  # the rule's name, for the state-change event
    paused: bool = False  # the AGV reports paused (by button or by our startPause)


def operational_state(state: State, intent: OrderIntent | None = None) -> Mapped:
    """Total: returns for every valid ``State``; the first matching rule decides."""
    f = facts(state, intent)
    rule = next(r for r in RULES if r.holds(f))
    return Mapped(rule.state, rule.name, bool(state.paused))


# ---- connection -> presence (section 6.14) -----------------------------------------


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    presence: Presence
    reason: str | None = None


_PRESENCE: Final[Mapping[ConnectionState, PresenceUpdate]] = {
    ConnectionState.ONLINE: PresenceUpdate(Presence.ONLINE),
    ConnectionState.OFFLINE: PresenceUpdate(Presence.OFFLINE, "disconnected"),
    ConnectionState.CONNECTIONBROKEN: PresenceUpdate(Presence.OFFLINE, "connection_broken"),
}


def presence_of(msg: Connection) -> PresenceUpdate:
    """ONLINE -> online; OFFLINE -> offline (orderly); CONNECTIONBROKEN -> offline (last will)."""
    return _PRESENCE[msg.connection_state]
