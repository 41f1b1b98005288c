"""Orders and order updates: the rules the schemas cannot check (VDA 5050 6.6.1-6.6.2)."""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.vda5050 import (
    AgvId,
    HeaderCounter,
    Order,
    RouteNode,
    Subtopic,
    build_order,
    build_order_update,
    cancel_order,
    decision_point,
    order_problems,
    stitch_problems,
    validate_order,
    validate_update,
)
from tests.protocol.vda5050_support import route_nodes, routes

AGV = AgvId("Acme", "SR-001")
replace = msgspec.structs.replace


class Master:
    """Headers as master control hands them out: one counter, a clock that ticks."""

    def __init__(self) -> None:
        self.counter = HeaderCounter()
        self.now = 1_700_000_000.0

    def header(self) -> Any:
        self.now += 1
        return self.counter.header(AGV, Subtopic.ORDER, self.now)


def _route(*names: str) -> list[RouteNode]:
    return [RouteNode(n, float(i), 0.0) for i, n in enumerate(names)]


def _released(order: Order) -> tuple[list[bool], list[bool]]:
    return [n.released for n in order.nodes], [e.released for e in order.edges]


# ---- new orders ---------------------------------------------------------------------


@given(routes, st.data())
def test_new_order_follows_every_rule(route: list[RouteNode], data: st.DataObject) -> None:
    base = data.draw(st.integers(1, len(route)))
    order = build_order(Master().header(), "o-1", route, map_id="floor-1", released=base)
    nodes, edges = order.nodes, order.edges
    assert order.order_update_id == 0
    assert len(edges) == len(nodes) - 1
    assert [n.sequence_id for n in nodes] == [2 * i for i in range(len(nodes))]
    assert [e.sequence_id for e in edges] == [2 * i + 1 for i in range(len(edges))]
    for i, edge in enumerate(edges):
        assert (edge.start_node_id, edge.end_node_id) == (nodes[i].node_id, nodes[i + 1].node_id)
    assert _released(order) == (
        [i < base for i in range(len(nodes))],
        [i + 1 < base for i in range(len(edges))],
    )
    assert [n.node_id for n in nodes] == [r.node_id for r in route]
    assert all(n.node_position is not None and n.node_position.map_id == "floor-1" for n in nodes)
    assert order_problems(order) == ()
    validate_order(order)


def test_default_releases_the_whole_route() -> None:
    order = build_order(Master().header(), "o-1", _route("a", "b", "c"), map_id="m")
    assert _released(order) == ([True] * 3, [True] * 2)
    assert decision_point(order).node_id == "c"


def test_single_node_order_has_no_edges() -> None:
    order = build_order(Master().header(), "o-1", _route("dock"), map_id="m")
    assert (len(order.nodes), order.edges) == (1, ())
    assert order_problems(order) == ()


def test_node_actions_and_positions_are_carried() -> None:
    drop = cancel_order("x")  # any action will do
    route = [
        RouteNode("a", 0, 0),
        RouteNode("t7", 1.5, -2.0, theta=math.pi / 2, allowed_deviation_xy=0.2, actions=(drop,)),
    ]
    node = build_order(Master().header(), "o-1", route, map_id="m").nodes[1]
    assert node.actions == (drop,)
    assert node.node_position is not None
    assert (node.node_position.x, node.node_position.y, node.node_position.theta) == (
        1.5,
        -2.0,
        math.pi / 2,
    )
    assert node.node_position.allowed_deviation_xy == 0.2


def test_custom_edge_ids() -> None:
    order = build_order(
        Master().header(), "o", _route("a", "b"), map_id="m", edge_id=lambda a, b: f"{a}>{b}"
    )
    assert order.edges[0].edge_id == "a>b"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"route": []}, "at least one node"),
        ({"released": 0}, "released must be in [1, 2], got 0"),
        ({"released": 3}, "released must be in [1, 2], got 3"),
    ],
)
def test_build_order_refuses_impossible_requests(kwargs: dict[str, Any], words: str) -> None:
    args: dict[str, Any] = {"route": _route("a", "b"), "map_id": "m", **kwargs}
    with pytest.raises(LocalProtocolError, match=re.escape(words)):
        build_order(Master().header(), "o-1", **args)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"node_id": ""}, "non-empty string"),
        ({"x": math.nan}, "must be finite"),
        ({"y": math.inf}, "must be finite"),
        ({"theta": 4.0}, "theta must be in [-pi, pi]"),
        ({"allowed_deviation_xy": -1.0}, "deviation must be finite and >= 0"),
    ],
)
def test_route_node_refuses_what_the_schema_would(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(LocalProtocolError, match=re.escape(words)):
        RouteNode(**{"node_id": "a", "x": 0.0, "y": 0.0, **kwargs})


# ---- the standard's own example (Figures 5 and 6) -----------------------------------


def test_the_standards_example_order_and_update() -> None:
    """f d g | b h, then the update g b h | i: same orderId, orderUpdateId 1, g stitches."""
    master = Master()
    order = build_order(
        master.header(), "1234", _route("f", "d", "g", "b", "h"), map_id="m", released=3
    )
    assert _released(order) == ([True, True, True, False, False], [True, True, False, False])
    update = build_order_update(master.header(), order, _route("b", "h", "i"), released=2)
    assert [n.node_id for n in update.nodes] == ["g", "b", "h", "i"]
    assert _released(update) == ([True, True, True, False], [True, True, False])
    assert (update.order_id, update.order_update_id) == ("1234", 1)
    assert update.nodes[0] == order.nodes[2]  # sent unchanged
    # sequence ids, once assigned, do not change (Figure 7): b and h keep 6 and 8
    assert [n.sequence_id for n in update.nodes] == [4, 6, 8, 10]
    assert [n.sequence_id for n in order.nodes[3:]] == [6, 8]
    assert update.header_id == order.header_id + 1
    validate_update(order, update)


# ---- updates ------------------------------------------------------------------------


@given(routes, st.lists(st.lists(route_nodes, max_size=5), min_size=1, max_size=4), st.data())
def test_chained_updates_stitch_at_the_decision_point(
    route: list[RouteNode], extensions: list[list[RouteNode]], data: st.DataObject
) -> None:
    master = Master()
    order = build_order(
        master.header(), "o-9", route, map_id="m", released=data.draw(st.integers(1, len(route)))
    )
    for extension in extensions:
        stitch = decision_point(order)
        released = data.draw(st.integers(0, len(extension)))
        update = build_order_update(master.header(), order, extension, released=released)
        assert update.order_id == order.order_id
        assert update.order_update_id == order.order_update_id + 1
        assert update.header_id == order.header_id + 1
        assert update.nodes[0] == stitch  # same nodeId, sequenceId and content
        assert [n.node_id for n in update.nodes[1:]] == [r.node_id for r in extension]
        assert len(update.edges) == len(update.nodes) - 1
        assert update.nodes[-1].sequence_id == stitch.sequence_id + 2 * len(extension)
        assert order_problems(update) == ()
        assert stitch_problems(order, update) == ()
        assert decision_point(update).sequence_id == stitch.sequence_id + 2 * released
        order = update


def test_released_zero_only_replaces_the_horizon_and_empty_deletes_it() -> None:
    master = Master()
    order = build_order(master.header(), "o", _route("a", "b", "c"), map_id="m", released=2)
    new_horizon = build_order_update(master.header(), order, _route("x", "y"), released=0)
    assert _released(new_horizon) == ([True, False, False], [False, False])
    assert decision_point(new_horizon) == order.nodes[1]
    no_horizon = build_order_update(master.header(), new_horizon, [])
    assert no_horizon.nodes == (order.nodes[1],)
    assert no_horizon.edges == ()
    validate_update(new_horizon, no_horizon)


def test_update_takes_the_map_of_the_stitching_node_or_needs_one() -> None:
    master = Master()
    order = build_order(master.header(), "o", _route("a"), map_id="floor-2")
    update = build_order_update(master.header(), order, _route("b"))
    assert update.nodes[1].node_position is not None
    assert update.nodes[1].node_position.map_id == "floor-2"
    blind = replace(order, nodes=(replace(order.nodes[0], node_position=None),))
    with pytest.raises(LocalProtocolError, match="map_id needed"):
        build_order_update(master.header(), blind, _route("b"))
    given = build_order_update(master.header(), blind, _route("b"), map_id="f")
    assert given.nodes[1].node_position is not None
    assert given.nodes[1].node_position.map_id == "f"


def test_update_refuses_released_out_of_range() -> None:
    order = build_order(Master().header(), "o", _route("a"), map_id="m")
    with pytest.raises(LocalProtocolError, match=re.escape("released must be in [0, 1], got 2")):
        build_order_update(Master().header(), order, _route("b"), released=2)


# ---- the checks catch every broken rule -----------------------------------------------


def _good() -> Order:
    return build_order(Master().header(), "o", _route("a", "b", "c"), map_id="m", released=2)


def _with_node(order: Order, i: int, **changes: Any) -> Order:
    nodes = list(order.nodes)
    nodes[i] = replace(nodes[i], **changes)
    return replace(order, nodes=tuple(nodes))


def _with_edge(order: Order, i: int, **changes: Any) -> Order:
    edges = list(order.edges)
    edges[i] = replace(edges[i], **changes)
    return replace(order, edges=tuple(edges))


@pytest.mark.parametrize(
    ("broken", "words"),
    [
        (lambda o: replace(o, nodes=(), edges=()), "at least one node"),
        (lambda o: replace(o, edges=o.edges[:1]), "3 nodes need 2 edges, got 1"),
        (lambda o: replace(o, edges=(*o.edges, o.edges[0])), "3 nodes need 2 edges, got 3"),
        (lambda o: _with_node(o, 1, sequence_id=3), "node 1 ('b') sequenceId 3, expected 2"),
        (lambda o: _with_edge(o, 1, sequence_id=5), "edge 1 ('b--c') sequenceId 5, expected 3"),
        (
            lambda o: _with_edge(o, 0, end_node_id="c"),
            "edge 0 ('a--b') does not join node 0 and node 1",
        ),
        (
            lambda o: _with_edge(o, 1, released=True),
            "edge 1 ('b--c') is released but one of its nodes is not",
        ),
        (lambda o: _with_node(o, 0, released=False), "the first node must be released"),
        (
            lambda o: _with_node(_with_node(o, 1, released=False), 2, released=True),
            "released elements follow the horizon from sequenceId 2",
        ),
    ],
)
def test_order_problems_name_each_broken_rule(broken: Any, words: str) -> None:
    bad = broken(_good())
    assert any(words in p for p in order_problems(bad)), order_problems(bad)
    with pytest.raises(RemoteProtocolError, match=re.escape(words)):
        validate_order(bad)


def test_odd_start_is_a_problem() -> None:
    order = build_order(Master().header(), "o", _route("a"), map_id="m")
    assert "first node sequenceId 1 is odd; nodes take even ids" in order_problems(
        _with_node(order, 0, sequence_id=1)
    )


@pytest.mark.parametrize(
    ("broken", "words"),
    [
        (lambda u: replace(u, order_id="other"), "orderId 'other' is not 'o'"),
        (lambda u: replace(u, order_update_id=0), "orderUpdateId 0 does not follow 0"),
        (
            lambda u: _with_node(u, 0, node_id="zz"),
            "first node ('zz', 2) is not the decision point ('b', 2)",
        ),
        (lambda u: _with_node(u, 0, sequence_id=0), "is not the decision point"),
        (lambda u: _with_node(u, 0, node_description="moved"), "stitching node 'b' changed"),
        (lambda u: replace(u, nodes=(), edges=()), "an update needs the stitching node"),
    ],
)
def test_stitch_problems_name_each_broken_rule(broken: Any, words: str) -> None:
    master = Master()
    order = build_order(master.header(), "o", _route("a", "b", "c"), map_id="m", released=2)
    bad = broken(build_order_update(master.header(), order, _route("c", "d")))
    assert any(words in p for p in stitch_problems(order, bad)), stitch_problems(order, bad)
    with pytest.raises(RemoteProtocolError, match=re.escape(words)):
        validate_update(order, bad)


def test_nothing_to_stitch_to() -> None:
    order = _good()
    unreleased = replace(order, nodes=tuple(replace(n, released=False) for n in order.nodes))
    assert "no released node to stitch to" in stitch_problems(unreleased, order)[-1]
    with pytest.raises(LocalProtocolError, match="has no released node"):
        decision_point(unreleased)
