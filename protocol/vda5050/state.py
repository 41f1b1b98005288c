"""The VDA 5050 2.1 ``state`` message (section 6.10.6), AGV -> master control.

Conventions are those of ``protocol.vda5050.messages``: camelCase, optional
means ``None`` and absent on the wire, required fields have no default.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from protocol.vda5050.enums import (
    ActionStatus,
    ErrorLevel,
    EStop,
    InfoLevel,
    MapStatus,
    OperatingMode,
)
from protocol.vda5050.messages import (
    AgvPosition,
    HeaderFields,
    NodePosition,
    Trajectory,
    Uint32,
    Velocity,
    Wire,
)

__all__ = [
    "ActionState",
    "BatteryState",
    "BoundingBoxReference",
    "EdgeState",
    "Error",
    "ErrorReference",
    "Info",
    "InfoReference",
    "Load",
    "LoadDimensions",
    "MapInfo",
    "NodeState",
    "SafetyState",
    "State",
]


class MapInfo(Wire, frozen=True, kw_only=True):
    """One entry of ``maps``: a map stored on the vehicle (section 6.7.2)."""

    map_id: str
    map_version: str
    map_status: MapStatus
    map_description: str | None = None


class NodeState(Wire, frozen=True, kw_only=True):
    """A node still to traverse; traversed nodes leave the array (section 6.10.2)."""

    node_id: str
    sequence_id: Uint32
    released: bool
    node_description: str | None = None
    node_position: NodePosition | None = None


class EdgeState(Wire, frozen=True, kw_only=True):
    edge_id: str
    sequence_id: Uint32
    released: bool
    edge_description: str | None = None
    trajectory: Trajectory | None = None


class BoundingBoxReference(Wire, frozen=True, kw_only=True):
    x: float
    y: float
    z: float
    theta: float | None = None


class LoadDimensions(Wire, frozen=True, kw_only=True):
    length: float
    width: float
    height: float | None = None


class Load(Wire, frozen=True, kw_only=True):
    load_id: str | None = None
    load_type: str | None = None
    load_position: str | None = None
    bounding_box_reference: BoundingBoxReference | None = None
    load_dimensions: LoadDimensions | None = None
    weight: Annotated[float, Meta(ge=0)] | None = None


class ActionState(Wire, frozen=True, kw_only=True):
    action_id: str
    action_status: ActionStatus
    action_type: str | None = None
    action_description: str | None = None
    result_description: str | None = None


class BatteryState(Wire, frozen=True, kw_only=True):
    battery_charge: float  # percent; 20 = "bad", 80 = "good" for two-level batteries
    charging: bool
    battery_voltage: float | None = None
    battery_health: Annotated[float, Meta(ge=0, le=100)] | None = None
    reach: Annotated[float, Meta(ge=0)] | None = None


class ErrorReference(Wire, frozen=True, kw_only=True):
    reference_key: str
    reference_value: str


class Error(Wire, frozen=True, kw_only=True):
    error_type: str
    error_level: ErrorLevel
    error_references: tuple[ErrorReference, ...] | None = None
    error_description: str | None = None
    error_hint: str | None = None


class InfoReference(Wire, frozen=True, kw_only=True):
    reference_key: str
    reference_value: str


class Info(Wire, frozen=True, kw_only=True):
    """For display and debugging only: master control must not act on it (6.10.4)."""

    info_type: str
    info_level: InfoLevel
    info_references: tuple[InfoReference, ...] | None = None
    info_description: str | None = None


class SafetyState(Wire, frozen=True, kw_only=True):
    e_stop: EStop
    field_violation: bool


class State(HeaderFields, frozen=True, kw_only=True):
    """Sent on every relevant event and at least every 30 s (section 6.10)."""

    order_id: str  # "" if the AGV never had an order
    order_update_id: Uint32
    last_node_id: str  # "" if unknown
    last_node_sequence_id: Uint32
    node_states: tuple[NodeState, ...]
    edge_states: tuple[EdgeState, ...]
    driving: bool
    action_states: tuple[ActionState, ...]
    battery_state: BatteryState
    operating_mode: OperatingMode
    errors: tuple[Error, ...]
    safety_state: SafetyState
    maps: tuple[MapInfo, ...] | None = None
    zone_set_id: str | None = None
    paused: bool | None = None
    new_base_request: bool | None = None
    distance_since_last_node: float | None = None
    agv_position: AgvPosition | None = None
    velocity: Velocity | None = None
    loads: tuple[Load, ...] | None = None  # absent: the AGV cannot tell; (): unloaded
    information: tuple[Info, ...] | None = None
