"""The VDA 5050 2.1 ``factsheet`` message (section 6.15), minimal but schema-valid.

We model what master control uses: type, physical limits, protocol limits
and the supported actions (to know, e.g., whether an AGV takes our vendor
e-stop action). The 3D envelopes, load set details and vehicleConfig are not
modelled: a decoder ignores them, so a full factsheet still decodes.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from protocol.vda5050.enums import ActionScope, BlockingType
from protocol.vda5050.formats import check_date_time
from protocol.vda5050.messages import Uint32, Wire

__all__ = [
    "AgvAction",
    "AgvGeometry",
    "Envelope2d",
    "Factsheet",
    "FactsheetActionParameter",
    "LoadSet",
    "LoadSpecification",
    "MaxArrayLens",
    "MaxStringLens",
    "OptionalParameter",
    "PhysicalParameters",
    "PolygonPoint",
    "ProtocolFeatures",
    "ProtocolLimits",
    "Timing",
    "TypeSpecification",
    "WheelDefinition",
    "WheelPosition",
]

NonNegative = Annotated[float, Meta(ge=0)]


class TypeSpecification(Wire, frozen=True, kw_only=True):
    series_name: str
    agv_kinematic: Literal["DIFF", "OMNI", "THREEWHEEL"]
    agv_class: Literal["FORKLIFT", "CONVEYOR", "TUGGER", "CARRIER"]
    max_load_mass: NonNegative
    localization_types: tuple[str, ...]  # NATURAL, REFLECTOR, RFID, DMC, SPOT, GRID
    navigation_types: tuple[str, ...]  # PHYSICAL_LINE_GUIDED, VIRTUAL_LINE_GUIDED, AUTONOMOUS
    series_description: str | None = None


class PhysicalParameters(Wire, frozen=True, kw_only=True):
    speed_min: float
    speed_max: float
    acceleration_max: float
    deceleration_max: float
    height_max: float
    width: float
    length: float
    height_min: float | None = None
    angular_speed_min: float | None = None  # in the 2.1 text, not in the 2.1.0 schema
    angular_speed_max: float | None = None


class MaxStringLens(Wire, frozen=True, kw_only=True):
    msg_len: Uint32 | None = None
    topic_serial_len: Uint32 | None = None
    topic_elem_len: Uint32 | None = None
    id_len: Uint32 | None = None
    id_numerical_only: bool | None = None
    enum_len: Uint32 | None = None
    load_id_len: Uint32 | None = None


def _dotted(name: str) -> Uint32 | None:
    return msgspec.field(default=None, name=name)


class MaxArrayLens(Wire, frozen=True, kw_only=True):
    """Wire names contain dots ("order.nodes"), so every field names itself."""

    order_nodes: Uint32 | None = _dotted("order.nodes")
    order_edges: Uint32 | None = _dotted("order.edges")
    node_actions: Uint32 | None = _dotted("node.actions")
    edge_actions: Uint32 | None = _dotted("edge.actions")
    actions_actions_parameters: Uint32 | None = _dotted("actions.actionsParameters")
    instant_actions: Uint32 | None = _dotted("instantActions")
    trajectory_knot_vector: Uint32 | None = _dotted("trajectory.knotVector")
    trajectory_control_points: Uint32 | None = _dotted("trajectory.controlPoints")
    state_node_states: Uint32 | None = _dotted("state.nodeStates")
    state_edge_states: Uint32 | None = _dotted("state.edgeStates")
    state_loads: Uint32 | None = _dotted("state.loads")
    state_action_states: Uint32 | None = _dotted("state.actionStates")
    state_errors: Uint32 | None = _dotted("state.errors")
    state_information: Uint32 | None = _dotted("state.information")
    error_error_references: Uint32 | None = _dotted("error.errorReferences")
    information_info_references: Uint32 | None = _dotted("information.infoReferences")


class Timing(Wire, frozen=True, kw_only=True):
    min_order_interval: float  # seconds
    min_state_interval: float
    default_state_interval: float | None = None
    visualization_interval: float | None = None


class ProtocolLimits(Wire, frozen=True, kw_only=True):
    max_string_lens: MaxStringLens
    max_array_lens: MaxArrayLens
    timing: Timing


class OptionalParameter(Wire, frozen=True, kw_only=True):
    parameter: str  # e.g. "order.nodes.nodePosition.allowedDeviationTheta"
    support: Literal["SUPPORTED", "REQUIRED"]
    description: str | None = None


class FactsheetActionParameter(Wire, frozen=True, kw_only=True):
    key: str
    value_data_type: Literal["BOOL", "NUMBER", "INTEGER", "FLOAT", "STRING", "OBJECT", "ARRAY"]
    description: str | None = None
    is_optional: bool | None = None


class AgvAction(Wire, frozen=True, kw_only=True):
    action_type: str
    action_scopes: tuple[ActionScope, ...]
    action_description: str | None = None
    action_parameters: tuple[FactsheetActionParameter, ...] | None = None
    result_description: str | None = None
    # The 2.1.0 schema puts this enum on the array instead of its items, so any
    # non-empty blockingTypes fails that schema; the tests validate a fixed copy.
    blocking_types: tuple[BlockingType, ...] | None = None


class ProtocolFeatures(Wire, frozen=True, kw_only=True):
    optional_parameters: tuple[OptionalParameter, ...]
    agv_actions: tuple[AgvAction, ...]


class WheelPosition(Wire, frozen=True, kw_only=True):
    x: float
    y: float
    theta: float | None = None


class WheelDefinition(Wire, frozen=True, kw_only=True):
    type: Literal["DRIVE", "CASTER", "FIXED", "MECANUM"]
    is_active_driven: bool
    is_active_steered: bool
    position: WheelPosition
    diameter: float
    width: float
    center_displacement: float | None = None
    constraints: str | None = None


class PolygonPoint(Wire, frozen=True, kw_only=True):
    x: float
    y: float


class Envelope2d(Wire, frozen=True, kw_only=True):
    set: str
    polygon_points: tuple[PolygonPoint, ...]
    description: str | None = None


class AgvGeometry(Wire, frozen=True, kw_only=True):
    wheel_definitions: tuple[WheelDefinition, ...] | None = None
    envelopes2d: tuple[Envelope2d, ...] | None = None


class LoadSet(Wire, frozen=True, kw_only=True):
    set_name: str
    load_type: str
    load_positions: tuple[str, ...] | None = None
    max_weight: NonNegative | None = None
    description: str | None = None


class LoadSpecification(Wire, frozen=True, kw_only=True):
    load_positions: tuple[str, ...] | None = None
    load_sets: tuple[LoadSet, ...] | None = None


class Factsheet(Wire, frozen=True, kw_only=True):
    """Retained on the broker, so master control reads it on subscribe (6.15)."""

    header_id: Uint32 | None = None
    timestamp: str | None = None
    version: str
    manufacturer: str
    serial_number: str
    type_specification: TypeSpecification
    physical_parameters: PhysicalParameters
    protocol_limits: ProtocolLimits
    protocol_features: ProtocolFeatures
    agv_geometry: AgvGeometry
    load_specification: LoadSpecification

    def __post_init__(self) -> None:
        check_date_time("timestamp", self.timestamp)

    def supports(self, action_type: str, scope: ActionScope = ActionScope.INSTANT) -> bool:
        """Whether the AGV lists ``action_type`` as usable in ``scope``."""
        return any(
            a.action_type == action_type and scope in a.action_scopes
            for a in self.protocol_features.agv_actions
        )
