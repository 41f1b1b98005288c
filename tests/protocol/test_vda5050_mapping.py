"""VDA 5050 state -> our serving-robot states, and connection -> presence."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.fleet.states import ServingState
from protocol.mqtt_topics import Presence
from protocol.vda5050 import (
    RULES,
    ActionState,
    ActionStatus,
    AgvId,
    BatteryState,
    ConnectionState,
    Error,
    ErrorLevel,
    EStop,
    Facts,
    HeaderCounter,
    NodeState,
    OperatingMode,
    OperationalState,
    OrderIntent,
    PresenceUpdate,
    Rule,
    SafetyState,
    State,
    Subtopic,
    Trip,
    connection_message,
    facts,
    operational_state,
    presence_of,
)
from tests.protocol.vda5050_support import ids, states

AGV = AgvId("Acme", "SR-001")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "vda5050.md"
replace = msgspec.structs.replace

DELIVERY = OrderIntent("o-1", Trip.DELIVERY, goal_node_id="t7")
RETURN = OrderIntent("o-2", Trip.RETURN, goal_node_id="pass")


def _idle(**changes: Any) -> State:
    """An AGV standing at the pass with nothing to do."""
    state = State(
        **HeaderCounter().header(AGV, Subtopic.STATE, 1_700_000_000.0).fields(),
        order_id="",
        order_update_id=0,
        last_node_id="pass",
        last_node_sequence_id=0,
        node_states=(),
        edge_states=(),
        driving=False,
        action_states=(),
        battery_state=BatteryState(battery_charge=80.0, charging=False),
        operating_mode=OperatingMode.AUTOMATIC,
        errors=(),
        safety_state=SafetyState(e_stop=EStop.NONE, field_violation=False),
    )
    return replace(state, **changes)


_LEFT = (NodeState(node_id="t7", sequence_id=4, released=True),)
_FATAL = (Error(error_type="laserDirty", error_level=ErrorLevel.FATAL),)
_WARN = (Error(error_type="lowBattery", error_level=ErrorLevel.WARNING),)
_RUNNING = (ActionState(action_id="drop", action_status=ActionStatus.RUNNING),)
_DONE = (ActionState(action_id="drop", action_status=ActionStatus.FINISHED),)

EXAMPLES: list[tuple[str, State, OrderIntent | None, OperationalState, str]] = [
    ("nothing", _idle(), None, OperationalState.IDLE, "idle"),
    ("warnings do not matter", _idle(errors=_WARN), None, OperationalState.IDLE, "idle"),
    (
        "e-stop beats everything",
        _idle(
            safety_state=SafetyState(e_stop=EStop.REMOTE, field_violation=True),
            errors=_FATAL,
            driving=True,
        ),
        DELIVERY,
        OperationalState.ESTOP,
        "estop",
    ),
    (
        "bumper e-stop",
        _idle(safety_state=SafetyState(e_stop=EStop.AUTOACK, field_violation=False)),
        None,
        OperationalState.ESTOP,
        "estop",
    ),
    (
        "fatal error",
        _idle(
            errors=(*_WARN, *_FATAL), battery_state=BatteryState(battery_charge=5, charging=True)
        ),
        None,
        OperationalState.ERROR,
        "fatal_error",
    ),
    (
        "manual mode",
        _idle(operating_mode=OperatingMode.MANUAL),
        DELIVERY,
        OperationalState.ERROR,
        "not_automatic",
    ),
    (
        "semiautomatic is under control",
        _idle(operating_mode=OperatingMode.SEMIAUTOMATIC),
        None,
        OperationalState.IDLE,
        "idle",
    ),
    (
        "charging",
        _idle(battery_state=BatteryState(battery_charge=30, charging=True)),
        None,
        OperationalState.CHARGING,
        "charging",
    ),
    (
        "delivery not yet accepted",
        _idle(order_id="old"),
        DELIVERY,
        OperationalState.ASSIGNED,
        "delivery_sent",
    ),
    (
        "delivery driving",
        _idle(order_id="o-1", driving=True, node_states=_LEFT),
        DELIVERY,
        OperationalState.EN_ROUTE,
        "delivery_running",
    ),
    (
        "delivery paused mid-way",
        _idle(order_id="o-1", node_states=_LEFT, paused=True),
        DELIVERY,
        OperationalState.EN_ROUTE,
        "delivery_running",
    ),
    (
        "dropping at the table",
        _idle(order_id="o-1", last_node_id="t7", action_states=_RUNNING),
        DELIVERY,
        OperationalState.EN_ROUTE,
        "delivery_running",
    ),
    (
        "at the table",
        _idle(order_id="o-1", last_node_id="t7", action_states=_DONE),
        DELIVERY,
        OperationalState.AT_TABLE,
        "delivery_arrived",
    ),
    (
        "delivery cancelled on the way",
        _idle(order_id="o-1", last_node_id="n3"),
        DELIVERY,
        OperationalState.IDLE,
        "delivery_ended_elsewhere",
    ),
    (
        "return sent",
        _idle(order_id="o-1", last_node_id="t7"),
        RETURN,
        OperationalState.RETURNING,
        "return_sent",
    ),
    (
        "returning",
        _idle(order_id="o-2", driving=True),
        RETURN,
        OperationalState.RETURNING,
        "return_running",
    ),
    (
        "back at the pass",
        _idle(order_id="o-2", last_node_id="pass"),
        RETURN,
        OperationalState.IDLE,
        "return_ended",
    ),
    (
        "an order we did not send",
        _idle(order_id="manual-7", driving=True),
        None,
        OperationalState.EN_ROUTE,
        "unplanned_work",
    ),
    (
        "waiting for a trigger",
        _idle(action_states=(ActionState(action_id="w", action_status=ActionStatus.WAITING),)),
        None,
        OperationalState.EN_ROUTE,
        "unplanned_work",
    ),
]


@pytest.mark.parametrize(
    ("state", "intent", "want", "reason"), [e[1:] for e in EXAMPLES], ids=[e[0] for e in EXAMPLES]
)
def test_examples(
    state: State, intent: OrderIntent | None, want: OperationalState, reason: str
) -> None:
    mapped = operational_state(state, intent)
    assert (mapped.state, mapped.reason) == (want, reason)


def test_paused_is_reported_beside_the_state() -> None:
    assert operational_state(_idle(paused=True)).paused
    assert not operational_state(_idle()).paused


def test_every_rule_has_an_example() -> None:
    assert {e[4] for e in EXAMPLES} == {r.name for r in RULES}


intents = st.none() | st.builds(
    OrderIntent, order_id=st.just("") | ids, trip=st.sampled_from(Trip), goal_node_id=ids
)


@given(states(), intents)
def test_the_mapping_is_total(state: State, intent: OrderIntent | None) -> None:
    mapped = operational_state(state, intent)
    assert mapped.state in OperationalState
    assert mapped.reason in {r.name for r in RULES}


@given(states(), intents)
def test_safety_first(state: State, intent: OrderIntent | None) -> None:
    got = operational_state(state, intent).state
    fatal = any(e.error_level is ErrorLevel.FATAL for e in state.errors)
    if state.safety_state.e_stop is not EStop.NONE:
        assert got is OperationalState.ESTOP
    elif fatal or state.operating_mode not in (
        OperatingMode.AUTOMATIC,
        OperatingMode.SEMIAUTOMATIC,
    ):
        assert got is OperationalState.ERROR
    elif state.battery_state.charging:
        assert got is OperationalState.CHARGING
    else:
        assert got not in (
            OperationalState.ESTOP,
            OperationalState.ERROR,
            OperationalState.CHARGING,
        )


@given(states(order_id=st.just("o-1"), driving=st.just(True)))
def test_a_driving_agv_on_our_delivery_is_never_at_the_table(state: State) -> None:
    assert operational_state(state, DELIVERY).state is not OperationalState.AT_TABLE


# ---- the table itself ---------------------------------------------------------------


def _all_facts() -> list[Facts]:
    bools = (False, True)
    combos = itertools.product(bools, bools, bools, bools, (None, *Trip), bools, bools, bools)
    return [Facts(*c) for c in combos]


def test_no_rule_is_dead() -> None:
    """Each rule decides for some possible facts; the last one catches everything else."""
    deciding = {next(r for r in RULES if r.holds(f)).name for f in _all_facts()}
    assert deciding == {r.name for r in RULES}
    assert RULES[-1].when == {}


def test_facts_come_from_the_state() -> None:
    f = facts(_idle(order_id="o-1", last_node_id="t7", node_states=_LEFT), DELIVERY)
    assert f == Facts(
        estop=False, fatal=False, automatic=True, charging=False,
        trip=Trip.DELIVERY, accepted=True, busy=True, at_goal=True,
    )  # fmt: skip
    assert not facts(_idle(last_node_id="t7"), DELIVERY).at_goal  # not our order: not "arrived"


def test_a_rule_naming_an_unknown_fact_fails_at_import() -> None:
    with pytest.raises(ValueError, match="unknown facts"):
        Rule("typo", OperationalState.IDLE, {"drivng": True})


def test_states_are_the_gateways_serving_states() -> None:
    assert {s.value for s in OperationalState} == {s.value for s in ServingState}


def _when(rule: Rule) -> str:
    parts = [
        k if v is True else f"not {k}" if v is False else f"{k} = {v}" for k, v in rule.when.items()
    ]
    return ", ".join(parts) or "(anything else)"


def test_docs_table_matches_the_rules() -> None:
    text = DOCS.read_text()
    table = text.split("<!-- state-rules:start -->")[1].split("<!-- state-rules:end -->")[0]
    rows = [
        [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        for line in table.strip().splitlines()[2:]
    ]
    want = [[str(i), r.name, _when(r), r.state.value] for i, r in enumerate(RULES, 1)]
    assert rows == want, "docs/vda5050.md state table is out of step with mapping.RULES"
    assert re.search(r"\| *`?estop`? *\|", table)


# ---- connection -> presence ------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "want"),
    [
        (ConnectionState.ONLINE, PresenceUpdate(Presence.ONLINE)),
        (ConnectionState.OFFLINE, PresenceUpdate(Presence.OFFLINE, "disconnected")),
        (ConnectionState.CONNECTIONBROKEN, PresenceUpdate(Presence.OFFLINE, "connection_broken")),
    ],
)
def test_connection_to_presence(state: ConnectionState, want: PresenceUpdate) -> None:
    header = HeaderCounter().header(AGV, Subtopic.CONNECTION, 0.0)
    assert presence_of(connection_message(header, state)) == want
