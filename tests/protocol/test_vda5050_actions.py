"""Instant actions: cancelOrder, pause/resume, and our e-stop over VDA 5050."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocol.errors import LocalProtocolError
from protocol.vda5050 import (
    CANCEL_ORDER,
    START_PAUSE,
    STOP_PAUSE,
    VENDOR_ESTOP,
    VENDOR_ESTOP_RELEASE,
    Action,
    ActionParameter,
    ActionScope,
    AgvId,
    BlockingType,
    Factsheet,
    Header,
    HeaderCounter,
    Subtopic,
    cancel_order,
    decode_instant_actions,
    encode,
    estop_plan,
    instant_actions,
    publication,
    release_plan,
    start_pause,
    state_request,
    stop_pause,
    vendor_estop,
    vendor_estop_release,
)
from tests.protocol.vda5050_support import serving_factsheet

AGV = AgvId("Acme", "SR-001")


def _header(counter: HeaderCounter | None = None) -> Header:
    return (counter or HeaderCounter()).header(AGV, Subtopic.INSTANT_ACTIONS, 1_700_000_000.0)


def _sheet(vendor: bool) -> Factsheet:
    return serving_factsheet(
        HeaderCounter().header(AGV, Subtopic.FACTSHEET, 0.0), vendor_estop=vendor
    )


@pytest.mark.parametrize(
    ("build", "action_type", "blocking"),
    [
        (cancel_order, CANCEL_ORDER, BlockingType.HARD),
        (start_pause, START_PAUSE, BlockingType.HARD),
        (stop_pause, STOP_PAUSE, BlockingType.NONE),
        (state_request, "stateRequest", BlockingType.NONE),
        (vendor_estop, VENDOR_ESTOP, BlockingType.HARD),
        (vendor_estop_release, VENDOR_ESTOP_RELEASE, BlockingType.NONE),
    ],
)
def test_predefined_and_vendor_actions(
    build: Callable[[str], Action], action_type: str, blocking: BlockingType
) -> None:
    action = build("a-1")
    assert (action.action_type, action.action_id, action.blocking_type) == (
        action_type,
        "a-1",
        blocking,
    )
    assert action.action_parameters is None


def test_vendor_estop_carries_its_reason() -> None:
    assert vendor_estop("e", "spill at table 4").action_parameters == (
        ActionParameter(key="reason", value="spill at table 4"),
    )


def test_instant_actions_message_round_trips_and_goes_out_at_qos_0() -> None:
    msg = instant_actions(_header(), [cancel_order("c-1")])
    assert decode_instant_actions(encode(msg)) == msg
    pub = publication(msg)
    assert (pub.topic, pub.qos, pub.retain) == ("uagv/v2/Acme/SR-001/instantActions", 0, False)


def test_instant_actions_refuses_empty_and_duplicate_ids() -> None:
    with pytest.raises(LocalProtocolError, match="at least one action"):
        instant_actions(_header(), [])
    with pytest.raises(LocalProtocolError, match="actionIds must be unique"):
        instant_actions(_header(), [start_pause("x"), stop_pause("x")])
    with pytest.raises(LocalProtocolError, match="actionId must be a non-empty string"):
        start_pause("")


def test_estop_is_a_pause_first_alone_then_the_vendor_latch_if_supported() -> None:
    plan = estop_plan("e-7", _sheet(vendor=True), reason="staff")
    assert [[a.action_type for a in group] for group in plan] == [[START_PAUSE], [VENDOR_ESTOP]]
    assert plan[0][0].action_id == "e-7.pause"
    assert plan[0][0].blocking_type is BlockingType.HARD
    assert plan[1][0].action_id == "e-7.estop"


@pytest.mark.parametrize("factsheet", [None, "without-vendor"])
def test_estop_without_vendor_support_is_just_a_pause(factsheet: str | None) -> None:
    sheet = _sheet(vendor=False) if factsheet else None
    assert [[a.action_type for a in g] for g in estop_plan("e", sheet)] == [[START_PAUSE]]
    assert [[a.action_type for a in g] for g in release_plan("e", sheet)] == [[STOP_PAUSE]]


def test_release_unlatches_before_resuming() -> None:
    plan = release_plan("e-7", _sheet(vendor=True))
    assert [[a.action_type for a in g] for g in plan] == [[VENDOR_ESTOP_RELEASE], [STOP_PAUSE]]
    assert [g[0].action_id for g in plan] == ["e-7.release", "e-7.resume"]


def test_each_plan_step_becomes_its_own_message_with_the_next_header_id() -> None:
    counter = HeaderCounter()
    msgs = [instant_actions(_header(counter), g) for g in estop_plan("e", _sheet(vendor=True))]
    assert [m.header_id for m in msgs] == [0, 1]


def test_factsheet_supports_checks_the_scope() -> None:
    sheet = _sheet(vendor=True)
    assert sheet.supports(VENDOR_ESTOP)
    assert not sheet.supports(VENDOR_ESTOP, ActionScope.NODE)
    assert not sheet.supports("pick")
