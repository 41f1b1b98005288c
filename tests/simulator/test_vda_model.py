"""The simulated VDA 5050 AGV refuses what a real one would, and says so in schema-valid states."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from protocol.vda5050 import (
    Action,
    AgvId,
    BlockingType,
    EStop,
    Header,
    HeaderCounter,
    RouteNode,
    State,
    Subtopic,
    build_order,
    build_order_update,
    cancel_order,
    instant_actions,
    start_pause,
    stop_pause,
    vendor_estop,
)
from simulator.vda_model import VdaAgv, factsheet
from tests.protocol.vda5050_support import assert_schema_valid

AGV = AgvId("Acme", "SN-1")
ROUTE = [
    RouteNode("dock-1", 1.0, 1.0, allowed_deviation_xy=0.3),
    RouteNode("pass", 1.0, 4.0),
    RouteNode("T1", 4.0, 4.0),
]


class Master:
    def __init__(self) -> None:
        self.headers = HeaderCounter()

    def h(self, sub: Subtopic = Subtopic.ORDER) -> Header:
        return self.headers.header(AGV, sub, 1_700_000_000.0)


def agv() -> VdaAgv:
    return VdaAgv(AGV, "dock-1", 1.0, 1.0, 0.0, map_id="restaurant", speed=1.0)


def errors(a: VdaAgv) -> list[tuple[str, dict[str, str]]]:
    return [
        (e.error_type, {r.reference_key: r.reference_value for r in e.error_references or ()})
        for e in a.errors
    ]


def state_of(a: VdaAgv, m: Master) -> State:
    st = a.state(m.headers.header(AGV, Subtopic.STATE, 1_700_000_000.0))
    assert_schema_valid(Subtopic.STATE, st)
    return st


def test_drives_the_base_and_waits_at_the_decision_point() -> None:
    a, m = agv(), Master()
    order = build_order(m.h(), "o1", ROUTE, map_id="restaurant", released=2)
    a.on_order(order)
    assert (a.last_node_id, a.last_node_seq) == ("dock-1", 0)  # stands on the first node
    for t in range(1, 8):
        a.tick(float(t))
    assert (a.last_node_id, a.driving, [n.node_id for n in a.nodes]) == ("pass", False, ["T1"])
    a.on_order(build_order_update(m.h(), order, ROUTE[2:], map_id="restaurant"))
    for t in range(8, 13):
        a.tick(float(t))
    assert (a.last_node_id, a.nodes, a.x, a.y) == ("T1", [], 4.0, 4.0)
    st = state_of(a, m)
    assert (st.order_id, st.order_update_id, st.driving) == ("o1", 1, False)


def test_refuses_what_a_real_agv_would() -> None:
    a, m = agv(), Master()
    order = build_order(m.h(), "o1", ROUTE, map_id="restaurant", released=2)
    broken = msgspec.structs.replace(order, edges=order.edges[:1])
    a.on_order(broken)
    assert errors(a) == [("validationError", {"orderId": "o1"})]
    a.on_order(order)  # accepted: the order errors are resolved
    a.on_order(order)  # a repeat: ignored
    a.on_order(build_order(m.h(), "o2", ROUTE, map_id="restaurant"))  # o1 still runs
    bad_stitch = msgspec.structs.replace(
        build_order_update(m.h(), order, ROUTE[2:], map_id="restaurant"),
        nodes=build_order_update(m.h(), order, ROUTE[2:], map_id="restaurant").nodes[1:],
        edges=(),
    )
    a.on_order(bad_stitch)
    assert a.orders_ignored == 1 and a.order_id == "o1"
    assert errors(a) == [
        ("orderError", {"orderId": "o2"}),
        ("orderUpdateError", {"orderId": "o1", "orderUpdateId": "1"}),
    ]
    state_of(a, m)


def test_instant_actions() -> None:
    a, m = agv(), Master()
    a.on_instant_actions(instant_actions(m.h(Subtopic.INSTANT_ACTIONS), [cancel_order("c1")]))
    assert errors(a) == [("noOrderToCancel", {"actionId": "c1"})]
    a.on_order(build_order(m.h(), "o1", ROUTE, map_id="restaurant"))
    odd = Action(action_type="dance", action_id="d1", blocking_type=BlockingType.NONE)
    for actions in ([start_pause("p1"), vendor_estop("e1")], [odd], [start_pause("p1")]):
        a.on_instant_actions(instant_actions(m.h(Subtopic.INSTANT_ACTIONS), actions))
    assert a.paused and a.e_stop is EStop.REMOTE
    a.tick(5.0)
    assert a.last_node_id == "dock-1" and not a.driving  # paused: no driving
    a.on_instant_actions(
        instant_actions(m.h(Subtopic.INSTANT_ACTIONS), [stop_pause("r1"), cancel_order("c2")])
    )
    st = state_of(a, m)
    status = {s.action_id: s.action_status for s in st.action_states}
    assert status == {
        "c1": "FAILED",
        "p1": "FINISHED",
        "e1": "FINISHED",
        "d1": "FAILED",
        "r1": "FINISHED",
        "c2": "FINISHED",
    }
    assert a.nodes == [] and a.order_id == "o1"  # cancelled, the orderId stays
    assert_schema_valid(Subtopic.FACTSHEET, factsheet(m.h(Subtopic.FACTSHEET), speed=1.0))
    assert_schema_valid(Subtopic.VISUALIZATION, a.visualization(m.h(Subtopic.VISUALIZATION)))


# ---- robodine sim --vda-version ------------------------------------------------------------


def _vda_fleet() -> Any:
    from config import Settings

    return Settings(
        robots=[
            {"id": "agv-1", "kind": "serving", "vda": {"manufacturer": "Acme", "serial": "S1"}},
            {
                "id": "agv-2",
                "kind": "serving",
                "vda": {"manufacturer": "Acme", "serial": "S2", "version": "2.0.0"},
            },
            {"id": "serve-1", "kind": "serving", "key": "ab" * 32},
        ]
    )


def test_vda_version_flags_pick_the_version_per_robot_or_for_all() -> None:
    from simulator.cli import _vda_versions

    def versions(s: Any) -> dict[str, str | None]:
        return {r.id: r.vda.version for r in s.robots if r.vda is not None}

    s = _vda_fleet()
    assert versions(_vda_versions(s, [])) == {"agv-1": None, "agv-2": "2.0.0"}
    assert versions(_vda_versions(s, ["agv-1=1.1.0"])) == {"agv-1": "1.1.0", "agv-2": "2.0.0"}
    assert versions(_vda_versions(s, ["2.1.0", "agv-2=1.1.0"])) == {
        "agv-1": "2.1.0",
        "agv-2": "1.1.0",
    }
    assert versions(s) == {"agv-1": None, "agv-2": "2.0.0"}  # a copy: the config is untouched


@pytest.mark.parametrize(
    ("choice", "words"),
    [
        ("agv-1=3.0.0", "'3.0.0' is not a VDA 5050 version we speak (1.1, 2.0, 2.1)"),
        ("agv-1=2.0", "'2.0' is not a VDA 5050 version we speak"),
        ("serve-1=2.0.0", "'serve-1' is not a robot with vda = {...}"),
        ("agv-9=2.0.0", "'agv-9' is not a robot with vda = {...}"),
    ],
)
def test_vda_version_flags_refuse_what_cannot_be(choice: str, words: str) -> None:
    from simulator.cli import _vda_versions

    with pytest.raises(ValueError, match=re.escape(words)):
        _vda_versions(_vda_fleet(), [choice])
