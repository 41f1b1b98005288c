"""Orders and order updates from floor-graph routes (VDA 5050 2.1, 6.6.1-6.6.2).

The rules the schemas cannot express, which the builders follow and
``order_problems``/``stitch_problems`` check (a simulated AGV uses the checks
to reject what a real one would):

- at least one node, and exactly nodes - 1 edges; edge i joins node i and i+1;
- ``sequenceId`` runs over nodes and edges alike: node i has s + 2i, edge i
  s + 2i + 1, where s is even (0 for a new order);
- the released part ("base") is a prefix: no released node or edge after an
  unreleased one, an edge is released only if both its nodes are, and the
  first node is always released;
- an update keeps ``orderId``, raises ``orderUpdateId`` and starts at the last
  base node of the previous message (the decision point), sent unchanged with
  the same ``nodeId`` and ``sequenceId`` (stitching); earlier base nodes are
  never resent, because the base cannot change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.vda5050.headers import UINT32_MAX, Header
from protocol.vda5050.messages import Action, Edge, Node, NodePosition, Order

__all__ = [
    "EdgeNamer",
    "RouteNode",
    "build_order",
    "build_order_update",
    "decision_point",
    "default_edge_id",
    "order_problems",
    "stitch_problems",
    "validate_order",
    "validate_update",
]

EdgeNamer = Callable[[str, str], str]


def _nonempty_str(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def default_edge_id(start: str, end: str) -> str:
    return f"{start}--{end}"


@dataclass(frozen=True, slots=True)
class RouteNode:
    """One floor-graph node on a route, with its position on the map (metres, radians)."""

    node_id: str
    x: float
    y: float
    theta: float | None = None
    allowed_deviation_xy: float | None = None
    actions: tuple[Action, ...] = ()

    def __post_init__(self) -> None:
        if not _nonempty_str(self.node_id):
            raise LocalProtocolError(f"node id must be a non-empty string, got {self.node_id!r}")
        if not (math.isfinite(self.x) and math.isfinite(self.y)):
            raise LocalProtocolError(f"node {self.node_id!r} position must be finite")
        if self.theta is not None and not -math.pi <= self.theta <= math.pi:
            raise LocalProtocolError(f"node {self.node_id!r} theta must be in [-pi, pi]")
        dev = self.allowed_deviation_xy
        if dev is not None and not (math.isfinite(dev) and dev >= 0):
            raise LocalProtocolError(f"node {self.node_id!r} deviation must be finite and >= 0")


def _released_count(released: int | None, total: int, minimum: int) -> int:
    if released is None:
        return total
    if not minimum <= released <= total:
        raise LocalProtocolError(f"released must be in [{minimum}, {total}], got {released}")
    return released


def _node(step: RouteNode, seq: int, released: bool, map_id: str) -> Node:
    return Node(
        node_id=step.node_id,
        sequence_id=seq,
        released=released,
        actions=step.actions,
        node_position=NodePosition(
            x=float(step.x),
            y=float(step.y),
            theta=step.theta,
            allowed_deviation_xy=step.allowed_deviation_xy,
            map_id=map_id,
        ),
    )


def _edges(nodes: Sequence[Node], edge_id: EdgeNamer) -> tuple[Edge, ...]:
    return tuple(
        Edge(
            edge_id=edge_id(a.node_id, b.node_id),
            sequence_id=a.sequence_id + 1,
            released=a.released and b.released,
            start_node_id=a.node_id,
            end_node_id=b.node_id,
            actions=(),
        )
        for a, b in pairwise(nodes)
    )


def build_order(
    header: Header,
    order_id: str,
    route: Sequence[RouteNode],
    *,
    map_id: str,
    released: int | None = None,
    zone_set_id: str | None = None,
    edge_id: EdgeNamer = default_edge_id,
) -> Order:
    """A new order (orderUpdateId 0) along ``route``; its first ``released`` nodes are the base.

    ``released`` defaults to the whole route (no horizon); it is at least 1.
    ``route[0]`` must be where the AGV stands or within its deviation (6.6.1).
    """
    if not route:
        raise LocalProtocolError("a route needs at least one node")
    if 2 * (len(route) - 1) > UINT32_MAX:
        raise LocalProtocolError("route too long for uint32 sequence ids")
    base = _released_count(released, len(route), 1)
    nodes = tuple(_node(step, 2 * i, i < base, map_id) for i, step in enumerate(route))
    return Order(
        **header.fields(),
        order_id=order_id,
        order_update_id=0,
        zone_set_id=zone_set_id,
        nodes=nodes,
        edges=_edges(nodes, edge_id),
    )


def decision_point(order: Order) -> Node:
    """The last released node: where the AGV stops unless the base grows."""
    released = [n for n in order.nodes if n.released]
    if not released:
        raise LocalProtocolError(f"order {order.order_id!r} has no released node")
    return released[-1]


def build_order_update(
    header: Header,
    previous: Order,
    extension: Sequence[RouteNode],
    *,
    released: int | None = None,
    map_id: str | None = None,
    edge_id: EdgeNamer = default_edge_id,
) -> Order:
    """The next message of ``previous``'s order: stitch, then ``extension``.

    The first node is ``previous``'s decision point, copied unchanged (6.6.2:
    its actions and deviation come from the first message). ``extension`` is
    the route after it; its first ``released`` nodes join the base (default:
    all). ``released=0`` only replaces the horizon; an empty extension
    deletes it. ``map_id`` defaults to the stitching node's map.
    """
    stitch = decision_point(previous)
    if map_id is None:
        if stitch.node_position is None:
            raise LocalProtocolError("map_id needed: the stitching node has no position")
        map_id = stitch.node_position.map_id
    if previous.order_update_id >= UINT32_MAX:
        raise LocalProtocolError("orderUpdateId would overflow uint32")
    if stitch.sequence_id + 2 * len(extension) > UINT32_MAX:
        raise LocalProtocolError("extension too long for uint32 sequence ids")
    base = _released_count(released, len(extension), 0)
    s = stitch.sequence_id
    added = (_node(step, s + 2 * (i + 1), i < base, map_id) for i, step in enumerate(extension))
    nodes = (stitch, *added)
    return Order(
        **header.fields(),
        order_id=previous.order_id,
        order_update_id=previous.order_update_id + 1,
        zone_set_id=previous.zone_set_id,
        nodes=nodes,
        edges=_edges(nodes, edge_id),
    )


# ---- checks -----------------------------------------------------------------------


def order_problems(order: Order) -> tuple[str, ...]:
    """Every rule of 6.6.1/6.6.2 that ``order`` breaks, in words; () if none."""
    nodes, edges = order.nodes, order.edges
    if not nodes:
        return ("an order needs at least one node",)
    problems: list[str] = []
    if len(edges) != len(nodes) - 1:
        problems.append(f"{len(nodes)} nodes need {len(nodes) - 1} edges, got {len(edges)}")
    s = nodes[0].sequence_id
    if s % 2:
        problems.append(f"first node sequenceId {s} is odd; nodes take even ids")
    for i, node in enumerate(nodes):
        if node.sequence_id != s + 2 * i:
            problems.append(
                f"node {i} ({node.node_id!r}) sequenceId {node.sequence_id}, expected {s + 2 * i}"
            )
    for i, (edge, a, b) in enumerate(zip(edges, nodes, nodes[1:], strict=False)):
        name = f"edge {i} ({edge.edge_id!r})"
        if edge.sequence_id != s + 2 * i + 1:
            problems.append(f"{name} sequenceId {edge.sequence_id}, expected {s + 2 * i + 1}")
        if (edge.start_node_id, edge.end_node_id) != (a.node_id, b.node_id):
            problems.append(f"{name} does not join node {i} and node {i + 1}")
        if edge.released and not (a.released and b.released):
            problems.append(f"{name} is released but one of its nodes is not")
    if not nodes[0].released:
        problems.append("the first node must be released")
    walk: list[Node | Edge] = sorted([*nodes, *edges], key=lambda e: e.sequence_id)
    horizon_from = next((e.sequence_id for e in walk if not e.released), None)
    if horizon_from is not None and any(e.released and e.sequence_id > horizon_from for e in walk):
        problems.append(f"released elements follow the horizon from sequenceId {horizon_from}")
    return tuple(problems)


def stitch_problems(previous: Order, update: Order) -> tuple[str, ...]:
    """What makes ``update`` not a valid continuation of ``previous`` (6.6.2)."""
    problems: list[str] = []
    if update.order_id != previous.order_id:
        problems.append(f"orderId {update.order_id!r} is not {previous.order_id!r}")
    if update.order_update_id <= previous.order_update_id:
        problems.append(
            f"orderUpdateId {update.order_update_id} does not follow {previous.order_update_id}"
        )
    if not update.nodes:
        return (*problems, "an update needs the stitching node")
    if not any(n.released for n in previous.nodes):
        return (*problems, "the previous order has no released node to stitch to")
    stitch, first = decision_point(previous), update.nodes[0]
    if (first.node_id, first.sequence_id) != (stitch.node_id, stitch.sequence_id):
        problems.append(
            f"first node ({first.node_id!r}, {first.sequence_id}) is not the decision point "
            f"({stitch.node_id!r}, {stitch.sequence_id})"
        )
    elif first != stitch:
        problems.append(f"stitching node {first.node_id!r} changed; it must be sent unchanged")
    return tuple(problems)


def validate_order(order: Order) -> None:
    """Raise ``RemoteProtocolError`` listing every problem: for an AGV receiving ``order``."""
    problems = order_problems(order)
    if problems:
        raise RemoteProtocolError(f"order {order.order_id!r} rejected: " + "; ".join(problems))


def validate_update(previous: Order, update: Order) -> None:
    problems = order_problems(update) + stitch_problems(previous, update)
    if problems:
        raise RemoteProtocolError(
            f"update {update.order_update_id} of order {update.order_id!r} rejected: "
            + "; ".join(problems)
        )
