"""Every (state, input) pair of every machine, as h2 tests its tables."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.fleet.states import (
    CONNECTION,
    COOKING,
    SERVING,
    ConnInput,
    ConnState,
    CookingState,
    IllegalTransition,
    ServingState,
    apply_connection,
    apply_reported,
)
from protocol.vocabulary import RobotKind

# each kind's states and its table (keyed by the states, which are str: looked up with str)
KINDS: dict[RobotKind, tuple[type[StrEnum], Mapping[Any, frozenset[str]]]] = {
    RobotKind.SERVING: (ServingState, SERVING),
    RobotKind.COOKING: (CookingState, COOKING),
}


@given(st.sampled_from(ConnState), st.sampled_from(ConnInput))
def test_connection_machine_is_total(state: ConnState, event: ConnInput) -> None:
    assert apply_connection(state, event) in ConnState


def test_connection_rules() -> None:
    assert all(apply_connection(s, ConnInput.CONNECTED) is ConnState.ONLINE for s in ConnState)
    assert all(apply_connection(s, ConnInput.DISCONNECTED) is ConnState.OFFLINE for s in ConnState)
    assert apply_connection(ConnState.ONLINE, ConnInput.SILENT) is ConnState.STALE
    assert apply_connection(ConnState.STALE, ConnInput.HEARD) is ConnState.ONLINE
    assert apply_connection(ConnState.OFFLINE, ConnInput.SILENT) is ConnState.OFFLINE
    assert set(CONNECTION) == set(ConnState)


@given(st.sampled_from(list(RobotKind)), st.data())
def test_reported_transitions_follow_the_table_exactly(
    kind: RobotKind, data: st.DataObject
) -> None:
    states, table = KINDS[kind]
    current = data.draw(st.sampled_from(states))
    reported = data.draw(st.sampled_from(states))
    allowed = reported == current or reported in table[current] or reported in ("error", "estop")
    if allowed:
        assert apply_reported(kind, current, reported) == reported
    else:
        with pytest.raises(IllegalTransition) as err:
            apply_reported(kind, current, reported)
        assert (err.value.current, err.value.requested) == (current, reported)


@given(st.sampled_from(list(RobotKind)), st.text(max_size=12))
def test_unknown_states_are_refused_even_when_nothing_is_known(kind: RobotKind, name: str) -> None:
    states, _ = KINDS[kind]
    if name in {s.value for s in states}:
        assert apply_reported(kind, None, name) == name
    else:
        with pytest.raises(IllegalTransition):
            apply_reported(kind, None, name)


def test_every_state_is_in_its_table_and_reachable_from_idle() -> None:
    for states, table in KINDS.values():
        assert set(table) == set(states)
        seen, todo = {"idle"}, ["idle"]
        while todo:
            for nxt in table[todo.pop()] | {"error", "estop"}:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert seen == {s.value for s in states}
        assert all("idle" in table[s] for s in ("error", "estop"))


def test_kind_specific_states_do_not_cross() -> None:
    with pytest.raises(IllegalTransition):
        apply_reported(RobotKind.COOKING, "idle", "en_route")
    with pytest.raises(IllegalTransition):
        apply_reported(RobotKind.SERVING, "idle", "cooking")
    assert apply_reported(RobotKind.SERVING, "at_table", "estop") == "estop"
    with pytest.raises(IllegalTransition):
        apply_reported(RobotKind.SERVING, "estop", "en_route")  # only via release -> idle
