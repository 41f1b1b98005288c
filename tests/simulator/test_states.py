"""The simulator's transition tables match the brief and the gateway's tables."""

from __future__ import annotations

import itertools

import pytest

from gateway.fleet.states import IllegalTransition as GatewayRefusal
from gateway.fleet.states import apply_reported
from protocol.vocabulary import RobotKind
from simulator.states import STATES, TRANSITIONS, IllegalTransition, RobotState, allowed, check
from tests.support.simulator import legal


@pytest.mark.parametrize("kind", list(RobotKind))
def test_table_is_the_briefs_table(kind: RobotKind) -> None:
    pairs = {(a, b) for a, b in itertools.product(STATES[kind], repeat=2) if a != b}
    assert {p for p in pairs if legal(kind, *p)} == TRANSITIONS[kind]


@pytest.mark.parametrize("kind", list(RobotKind))
def test_table_agrees_with_the_gateway(kind: RobotKind) -> None:
    """Every move the simulator makes is one the gateway accepts, and the reverse."""
    for old, new in itertools.product(STATES[kind], repeat=2):
        if old == new:
            continue
        try:
            apply_reported(kind, old, new)
            gateway_accepts = True
        except GatewayRefusal:
            gateway_accepts = False
        assert allowed(kind, old, new) == gateway_accepts, (kind, old, new)


def test_check_names_the_illegal_move() -> None:
    with pytest.raises(IllegalTransition, match="serving robot: at_table -> idle is not"):
        check(RobotKind.SERVING, RobotState.AT_TABLE, RobotState.IDLE)
    with pytest.raises(IllegalTransition, match=r"cooking robot: idle -> en_route"):
        check(RobotKind.COOKING, RobotState.IDLE, RobotState.EN_ROUTE)
