"""VDA 5050 2.1 order, instantActions, connection and visualization messages.

Written from the field tables of the standard (sections 6.4, 6.6.6, 6.9,
6.13, 6.14), checked against the official JSON schemas in the tests.
Conventions for every Struct in this package:

- wire names are camelCase (``rename="camel"``, or an explicit name where
  camel-casing a Python name would differ, e.g. ``allowedDeviationXY``);
- a field the standard marks optional defaults to ``None`` and is then left
  out of the JSON (``omit_defaults``): the schemas refuse ``null``;
- a required field has no default, so a missing one fails the decode with
  its name, and an encoder can never drop it;
- arrays are tuples, so a decoded message is immutable all the way down.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from protocol.vda5050.enums import BlockingType, ConnectionState, CorridorRefPoint
from protocol.vda5050.formats import check_date_time

__all__ = [
    "Action",
    "ActionParameter",
    "AgvPosition",
    "Connection",
    "ControlPoint",
    "Corridor",
    "Edge",
    "HeaderFields",
    "InstantActions",
    "Node",
    "NodePosition",
    "Order",
    "Trajectory",
    "Uint32",
    "Velocity",
    "Visualization",
    "Wire",
]

Uint32 = Annotated[int, Meta(ge=0, le=2**32 - 1)]
# The schemas bound angles by pi rounded up at the 11th decimal.
Angle = Annotated[float, Meta(ge=-3.14159265359, le=3.14159265359)]
NonNegative = Annotated[float, Meta(ge=0)]
# actionParameter.value: any JSON value but null (order.schema, actionParameter).
ParameterValue = list[Any] | bool | int | float | str | dict[str, Any]


class Wire(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Base of every VDA 5050 object: camelCase, frozen, optional fields omitted."""


class HeaderFields(Wire, frozen=True, kw_only=True):
    """The protocol header every message starts with (section 6.4)."""

    header_id: Uint32
    timestamp: str  # ISO 8601 UTC, "YYYY-MM-DDTHH:mm:ss.ffZ"; see headers.format_timestamp
    version: str  # [Major].[Minor].[Patch]
    manufacturer: str
    serial_number: str

    def __post_init__(self) -> None:
        check_date_time("timestamp", self.timestamp)  # the schemas' format: date-time


# ---- actions (section 6.6.6, action; section 6.9) ------------------------------


class ActionParameter(Wire, frozen=True, kw_only=True):
    key: str
    value: ParameterValue


class Action(Wire, frozen=True, kw_only=True):
    action_type: str
    action_id: str
    blocking_type: BlockingType
    action_description: str | None = None
    action_parameters: tuple[ActionParameter, ...] | None = None


# ---- order (section 6.6.6) -------------------------------------------------------


class NodePosition(Wire, frozen=True, kw_only=True):
    x: float
    y: float
    map_id: str
    theta: Angle | None = None
    allowed_deviation_xy: NonNegative | None = msgspec.field(
        default=None, name="allowedDeviationXY"
    )
    allowed_deviation_theta: Angle | None = None
    map_description: str | None = None


class Node(Wire, frozen=True, kw_only=True):
    node_id: str
    sequence_id: Uint32
    released: bool
    actions: tuple[Action, ...]
    node_description: str | None = None
    node_position: NodePosition | None = None


class ControlPoint(Wire, frozen=True, kw_only=True):
    x: float
    y: float
    weight: NonNegative | None = None


class Trajectory(Wire, frozen=True, kw_only=True):
    """An edge's path as a NURBS."""

    degree: Annotated[int, Meta(ge=1)]
    knot_vector: tuple[Annotated[float, Meta(ge=0, le=1)], ...]
    control_points: tuple[ControlPoint, ...]


class Corridor(Wire, frozen=True, kw_only=True):
    left_width: NonNegative
    right_width: NonNegative
    corridor_ref_point: CorridorRefPoint | None = None


class Edge(Wire, frozen=True, kw_only=True):
    edge_id: str
    sequence_id: Uint32
    released: bool
    start_node_id: str
    end_node_id: str
    actions: tuple[Action, ...]
    edge_description: str | None = None
    max_speed: float | None = None
    max_height: float | None = None
    min_height: float | None = None
    orientation: Angle | None = None
    orientation_type: str | None = None  # GLOBAL | TANGENTIAL (a plain string in the schema)
    direction: str | None = None
    rotation_allowed: bool | None = None
    max_rotation_speed: float | None = None
    length: float | None = None
    trajectory: Trajectory | None = None
    corridor: Corridor | None = None


class Order(HeaderFields, frozen=True, kw_only=True):
    """Master control -> AGV. Nodes and edges alternate by ``sequenceId`` (6.6.2)."""

    order_id: str
    order_update_id: Uint32
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    zone_set_id: str | None = None


# ---- instantActions (section 6.9) -------------------------------------------------


class InstantActions(HeaderFields, frozen=True, kw_only=True):
    actions: tuple[Action, ...]


# ---- connection (section 6.14) ----------------------------------------------------


class Connection(HeaderFields, frozen=True, kw_only=True):
    """Retained, QoS 1; the AGV's last will carries CONNECTIONBROKEN."""

    connection_state: ConnectionState


# ---- visualization (section 6.13): every field optional ---------------------------


class AgvPosition(Wire, frozen=True, kw_only=True):
    x: float
    y: float
    theta: float
    map_id: str
    position_initialized: bool
    map_description: str | None = None
    localization_score: Annotated[float, Meta(ge=0, le=1)] | None = None
    deviation_range: float | None = None


class Velocity(Wire, frozen=True, kw_only=True):
    vx: float | None = None
    vy: float | None = None
    omega: float | None = None


class Visualization(Wire, frozen=True, kw_only=True):
    header_id: Uint32 | None = None
    timestamp: str | None = None
    version: str | None = None
    manufacturer: str | None = None
    serial_number: str | None = None
    agv_position: AgvPosition | None = None
    velocity: Velocity | None = None

    def __post_init__(self) -> None:
        check_date_time("timestamp", self.timestamp)
