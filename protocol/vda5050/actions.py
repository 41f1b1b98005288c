"""Instant actions master control sends (VDA 5050 2.1, 6.8.1 and 6.9).

cancelOrder, startPause and stopPause are predefined actions. VDA 5050 has no
remote e-stop action: a real e-stop is a hardware safety circuit, and the AGV
only *reports* one in ``safetyState.eStop``. Our ``estop`` therefore sends:

1. ``startPause`` (HARD) alone, first: every AGV understands it; it stops
   driving at once and keeps the order resumable, so after a false alarm the
   dish still reaches its table (cancelOrder would throw the order away);
2. then, only to AGVs whose factsheet lists it as an INSTANT action, the
   vendor action ``robodineEStop`` (HARD), which latches a software e-stop
   reported as ``safetyState.eStop = REMOTE`` until ``robodineEStopRelease``.

Each goes in its own instantActions message, so an AGV that rejects an
unknown action can never drop the startPause with it. Both travel at QoS 0
(6.2): the gateway repeats them until ``state`` shows paused (or the e-stop).
Action ids come in as arguments: builders stay pure and repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from protocol.errors import LocalProtocolError
from protocol.vda5050.enums import BlockingType
from protocol.vda5050.factsheet import Factsheet
from protocol.vda5050.headers import Header
from protocol.vda5050.messages import Action, ActionParameter, InstantActions

__all__ = [
    "CANCEL_ORDER",
    "START_PAUSE",
    "STATE_REQUEST",
    "STOP_PAUSE",
    "VENDOR_ESTOP",
    "VENDOR_ESTOP_RELEASE",
    "cancel_order",
    "estop_plan",
    "instant_actions",
    "release_plan",
    "start_pause",
    "state_request",
    "stop_pause",
    "vendor_estop",
    "vendor_estop_release",
]

CANCEL_ORDER: Final = "cancelOrder"
START_PAUSE: Final = "startPause"
STOP_PAUSE: Final = "stopPause"
STATE_REQUEST: Final = "stateRequest"
VENDOR_ESTOP: Final = "robodineEStop"
VENDOR_ESTOP_RELEASE: Final = "robodineEStopRelease"


def _nonempty_str(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _action(
    action_type: str,
    action_id: str,
    blocking: BlockingType,
    parameters: Sequence[ActionParameter] = (),
) -> Action:
    if not _nonempty_str(action_id):
        raise LocalProtocolError(f"actionId must be a non-empty string, got {action_id!r}")
    return Action(
        action_type=action_type,
        action_id=action_id,
        blocking_type=blocking,
        action_parameters=tuple(parameters) or None,
    )


def cancel_order(action_id: str) -> Action:
    """Stop as soon as possible (now or at the next node) and delete the order (6.6.3)."""
    return _action(CANCEL_ORDER, action_id, BlockingType.HARD)


def start_pause(action_id: str) -> Action:
    """No more driving; the order stays resumable (HARD: nothing runs beside it)."""
    return _action(START_PAUSE, action_id, BlockingType.HARD)


def stop_pause(action_id: str) -> Action:
    """Resume driving and paused actions; runs beside anything (NONE)."""
    return _action(STOP_PAUSE, action_id, BlockingType.NONE)


def state_request(action_id: str) -> Action:
    """Ask for a fresh ``state`` (e.g. after we (re)subscribe)."""
    return _action(STATE_REQUEST, action_id, BlockingType.NONE)


def vendor_estop(action_id: str, reason: str = "") -> Action:
    params = (ActionParameter(key="reason", value=reason),) if reason else ()
    return _action(VENDOR_ESTOP, action_id, BlockingType.HARD, params)


def vendor_estop_release(action_id: str) -> Action:
    return _action(VENDOR_ESTOP_RELEASE, action_id, BlockingType.NONE)


def instant_actions(header: Header, actions: Sequence[Action]) -> InstantActions:
    if not actions:
        raise LocalProtocolError("an instantActions message needs at least one action")
    ids = [a.action_id for a in actions]
    if len(set(ids)) != len(ids):
        raise LocalProtocolError(f"actionIds must be unique, got {ids}")
    return InstantActions(**header.fields(), actions=tuple(actions))


def _vendor_ok(factsheet: Factsheet | None, action_type: str) -> bool:
    return factsheet is not None and factsheet.supports(action_type)


def estop_plan(
    action_id: str, factsheet: Factsheet | None, reason: str = ""
) -> tuple[tuple[Action, ...], ...]:
    """The instantActions messages for an e-stop, in send order, one tuple per message.

    Ids are ``{action_id}.pause`` and ``{action_id}.estop``.
    """
    plan: list[tuple[Action, ...]] = [(start_pause(f"{action_id}.pause"),)]
    if _vendor_ok(factsheet, VENDOR_ESTOP):
        plan.append((vendor_estop(f"{action_id}.estop", reason),))
    return tuple(plan)


def release_plan(action_id: str, factsheet: Factsheet | None) -> tuple[tuple[Action, ...], ...]:
    """Undo ``estop_plan``: release the latch first (if any), then resume."""
    plan: list[tuple[Action, ...]] = []
    if _vendor_ok(factsheet, VENDOR_ESTOP_RELEASE):
        plan.append((vendor_estop_release(f"{action_id}.release"),))
    plan.append((stop_pause(f"{action_id}.resume"),))
    return tuple(plan)
