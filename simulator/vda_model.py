"""A simulated VDA 5050 2.1 AGV: follows orders node by node. Pure, clock-injected, no I/O.

What a real AGV does that master control relies on, and nothing more:

- an order is checked (``protocol.vda5050.order_problems``): a broken one is
  refused with a ``validationError``; a new orderId while another order still
  runs is refused with an ``orderError``;
- an update of the current order must raise ``orderUpdateId`` and stitch at the
  decision point (``stitch_problems``), else ``orderUpdateError``; a repeat of
  the current (orderId, orderUpdateId) is ignored (6.6.4.3);
- it drives straight from node to node at ``speed``, stops at the last released
  node (the decision point) until the base grows, and runs node actions
  (``startCharging``) on arrival;
- instant actions: cancelOrder (``noOrderToCancel`` and FAILED without an
  order), startPause/stopPause, stateRequest, and the vendor e-stop
  ``robodineEStop``/``robodineEStopRelease`` (protocol.vda5050.actions); an
  actionId seen before is not run again;
- ``state`` has everything the mapping reads; ``changed`` says a state is due now.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Final

from protocol.vda5050 import (
    CANCEL_ORDER,
    START_PAUSE,
    STATE_REQUEST,
    STOP_PAUSE,
    VENDOR_ESTOP,
    VENDOR_ESTOP_RELEASE,
    ActionScope,
    ActionState,
    ActionStatus,
    AgvAction,
    AgvGeometry,
    AgvId,
    AgvPosition,
    BatteryState,
    Edge,
    EdgeState,
    Error,
    ErrorLevel,
    ErrorReference,
    EStop,
    Factsheet,
    Header,
    InstantActions,
    LoadSpecification,
    MaxArrayLens,
    MaxStringLens,
    Node,
    NodePosition,
    NodeState,
    OperatingMode,
    Order,
    PhysicalParameters,
    ProtocolFeatures,
    ProtocolLimits,
    SafetyState,
    State,
    Timing,
    TypeSpecification,
    Velocity,
    Visualization,
    order_problems,
    stitch_problems,
)

__all__ = ["VdaAgv", "factsheet"]

START_CHARGING: Final = "startCharging"
_KEEP_ACTIONS: Final = 32
_KEEP_ERRORS: Final = 8
_ORDER_ERRORS: Final = frozenset(
    {"orderError", "orderUpdateError", "validationError", "noOrderToCancel"}
)
_INSTANT: Final = (
    CANCEL_ORDER,
    START_PAUSE,
    STOP_PAUSE,
    STATE_REQUEST,
    VENDOR_ESTOP,
    VENDOR_ESTOP_RELEASE,
)
_FAR: Final = 1.5  # metres: a new order's first node further away than this is refused


def factsheet(header: Header, *, speed: float) -> Factsheet:
    """What the simulated AGV says it can do; it lists the vendor e-stop."""
    actions = [AgvAction(action_type=t, action_scopes=(ActionScope.INSTANT,)) for t in _INSTANT]
    actions.append(AgvAction(action_type=START_CHARGING, action_scopes=(ActionScope.NODE,)))
    return Factsheet(
        **header.fields(),
        type_specification=TypeSpecification(
            series_name="RobodineSimAGV",
            agv_kinematic="DIFF",
            agv_class="CARRIER",
            max_load_mass=15.0,
            localization_types=("NATURAL",),
            navigation_types=("AUTONOMOUS",),
        ),
        physical_parameters=PhysicalParameters(
            speed_min=0.05,
            speed_max=max(speed, 0.1),
            acceleration_max=0.5,
            deceleration_max=1.0,
            height_max=1.3,
            width=0.5,
            length=0.55,
        ),
        protocol_limits=ProtocolLimits(
            max_string_lens=MaxStringLens(id_len=64),
            max_array_lens=MaxArrayLens(order_nodes=256, order_edges=255, instant_actions=8),
            timing=Timing(min_order_interval=0.1, min_state_interval=0.1),
        ),
        protocol_features=ProtocolFeatures(optional_parameters=(), agv_actions=tuple(actions)),
        agv_geometry=AgvGeometry(),
        load_specification=LoadSpecification(load_positions=("tray",)),
    )


def _reported(node: Node) -> NodePosition | None:
    """A node's position as ``state`` reports it: its schema has no allowed deviations."""
    p = node.node_position
    if p is None:
        return None
    return NodePosition(
        x=p.x, y=p.y, theta=p.theta, map_id=p.map_id, map_description=p.map_description
    )


class VdaAgv:
    def __init__(
        self,
        agv: AgvId,
        node: str,
        x: float,
        y: float,
        now: float,
        *,
        map_id: str,
        speed: float = 0.7,
        battery: float = 80.0,
        drain_moving: float = 0.05,
        drain_idle: float = 0.002,
        charge_rate: float = 0.5,
    ) -> None:
        self.agv = agv
        self.map_id = map_id
        self.speed = speed
        self.drain_moving, self.drain_idle, self.charge_rate = drain_moving, drain_idle, charge_rate
        self.x, self.y, self.theta = x, y, 0.0
        self.vx = self.vy = 0.0
        self.battery = min(max(battery, 0.0), 100.0)
        self.charging = False
        self.order: Order | None = None  # the last message of the current order we accepted
        self.nodes: list[Node] = []  # still to traverse, horizon included
        self.edges: list[Edge] = []
        self.last_node_id = node
        self.last_node_seq = 0
        self.driving = False
        self.paused = False
        self.e_stop = EStop.NONE
        self.actions: OrderedDict[str, ActionState] = OrderedDict()
        self.errors: list[Error] = []
        self.changed = True
        self.orders_ignored = 0  # repeats of the current (orderId, orderUpdateId)
        self._last = now

    @property
    def order_id(self) -> str:
        return self.order.order_id if self.order is not None else ""

    @property
    def order_update_id(self) -> int:
        return self.order.order_update_id if self.order is not None else 0

    def _running(self) -> bool:
        return bool(self.nodes) or self.driving

    # ---- orders (6.6.4) -------------------------------------------------------------

    def on_order(self, order: Order) -> None:
        problems = order_problems(order)
        if problems:
            self._error("validationError", "; ".join(problems), orderId=order.order_id)
            return
        current = self.order
        if current is not None and order.order_id == current.order_id:
            self._update(current, order)
            return
        if self._running():
            self._error(
                "orderError", f"still running order {self.order_id!r}", orderId=order.order_id
            )
            return
        first = order.nodes[0].node_position
        if first is not None and math.hypot(first.x - self.x, first.y - self.y) > _FAR:
            self._error(
                "orderError",
                f"first node {order.nodes[0].node_id!r} is not where I am",
                orderId=order.order_id,
            )
            return
        self._clear_order_errors()
        self.order = order
        self.nodes = list(order.nodes)
        self.edges = list(order.edges)
        self.changed = True
        if first is None or math.hypot(first.x - self.x, first.y - self.y) <= (
            first.allowed_deviation_xy or 0.0
        ):
            self._arrive(self.nodes[0])  # standing on it: the first node is traversed at once

    def _update(self, current: Order, update: Order) -> None:
        if update.order_update_id == current.order_update_id:
            self.orders_ignored += 1  # a resend of what we have: ignore it
            return
        problems = stitch_problems(current, update)
        if problems:
            self._error(
                "orderUpdateError",
                "; ".join(problems),
                orderId=update.order_id,
                orderUpdateId=str(update.order_update_id),
            )
            return
        stitch = update.nodes[0].sequence_id
        self.nodes = [n for n in self.nodes if n.released and n.sequence_id <= stitch]
        self.nodes += [n for n in update.nodes if n.sequence_id > stitch]
        self.edges = [e for e in self.edges if e.released and e.sequence_id < stitch]
        self.edges += list(update.edges)
        self._clear_order_errors()
        self.order = update
        self.changed = True

    # ---- instant actions (6.8) ----------------------------------------------------------

    def on_instant_actions(self, msg: InstantActions) -> None:
        for action in msg.actions:
            if action.action_id in self.actions:
                continue  # seen before: a master control's resend
            kind = action.action_type
            ok = True
            if kind == CANCEL_ORDER:
                if self._running():
                    self.nodes, self.edges, self.driving = [], [], False
                    self.vx = self.vy = 0.0
                else:
                    ok = False
                    self._error("noOrderToCancel", "no order to cancel", actionId=action.action_id)
            elif kind in (START_PAUSE, STOP_PAUSE):
                self.paused = kind == START_PAUSE
            elif kind in (VENDOR_ESTOP, VENDOR_ESTOP_RELEASE):
                self.e_stop = EStop.REMOTE if kind == VENDOR_ESTOP else EStop.NONE
            elif kind != STATE_REQUEST:
                ok = False
                self._error("unknownAction", f"cannot {kind}", actionId=action.action_id)
            status = ActionStatus.FINISHED if ok else ActionStatus.FAILED
            self._action(action.action_id, kind, status)
        self.changed = True

    # ---- time ------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        dt = max(0.0, now - self._last)
        self._last = now
        moving = False
        if self.nodes and not self.paused and self.e_stop is EStop.NONE and self.nodes[0].released:
            moving = self._drive(self.nodes[0], dt)
        if moving != self.driving:
            self.driving = moving
            self.changed = True
        if not moving:
            self.vx = self.vy = 0.0
        if self.charging:
            self.battery = min(100.0, self.battery + self.charge_rate * dt)
            if self.battery >= 100.0:
                self.charging = False  # full: the charger lets go
                self.changed = True
        else:
            self.battery = max(
                0.0, self.battery - (self.drain_moving if moving else self.drain_idle) * dt
            )

    def _drive(self, node: Node, dt: float) -> bool:
        """Towards ``node``; on arrival it becomes the last node. True while still moving."""
        pos = node.node_position
        tx, ty = (pos.x, pos.y) if pos is not None else (self.x, self.y)
        dx, dy = tx - self.x, ty - self.y
        dist = math.hypot(dx, dy)
        step = self.speed * dt
        if self.charging:
            self.charging = False
            self.changed = True
        if dist > step:
            self.theta = math.atan2(dy, dx)
            self.vx, self.vy = dx / dist * self.speed, dy / dist * self.speed
            self.x += dx / dist * step
            self.y += dy / dist * step
            return True
        self.x, self.y = tx, ty
        self._arrive(node)
        return bool(self.nodes) and self.nodes[0].released

    def _arrive(self, node: Node) -> None:
        """``node`` (the first still to traverse) is reached: it becomes the last node."""
        self.nodes.pop(0)
        self.edges = [e for e in self.edges if e.sequence_id > node.sequence_id]
        self.last_node_id, self.last_node_seq = node.node_id, node.sequence_id
        for action in node.actions:
            if action.action_type == START_CHARGING:
                self.charging = True
            self._action(action.action_id, action.action_type, ActionStatus.FINISHED)
        self.changed = True

    # ---- helpers ------------------------------------------------------------------------------

    def _action(self, action_id: str, kind: str, status: ActionStatus) -> None:
        self.actions[action_id] = ActionState(
            action_id=action_id, action_type=kind, action_status=status
        )
        while len(self.actions) > _KEEP_ACTIONS:
            self.actions.popitem(last=False)
        self.changed = True

    def _error(self, kind: str, description: str, **refs: str) -> None:
        self.errors.append(
            Error(
                error_type=kind,
                error_level=ErrorLevel.WARNING,
                error_description=description[:200],
                error_references=tuple(
                    ErrorReference(reference_key=k, reference_value=v) for k, v in refs.items()
                )
                or None,
            )
        )
        del self.errors[:-_KEEP_ERRORS]
        self.changed = True

    def _clear_order_errors(self) -> None:
        self.errors = [e for e in self.errors if e.error_type not in _ORDER_ERRORS]

    # ---- messages ---------------------------------------------------------------------------

    def state(self, header: Header) -> State:
        self.changed = False
        return State(
            **header.fields(),
            order_id=self.order_id,
            order_update_id=self.order_update_id,
            last_node_id=self.last_node_id,
            last_node_sequence_id=self.last_node_seq,
            node_states=tuple(
                NodeState(
                    node_id=n.node_id,
                    sequence_id=n.sequence_id,
                    released=n.released,
                    node_position=_reported(n),
                )
                for n in self.nodes
            ),
            edge_states=tuple(
                EdgeState(edge_id=e.edge_id, sequence_id=e.sequence_id, released=e.released)
                for e in self.edges
            ),
            driving=self.driving,
            paused=self.paused,
            action_states=tuple(self.actions.values()),
            battery_state=BatteryState(
                battery_charge=round(self.battery, 2), charging=self.charging
            ),
            operating_mode=OperatingMode.AUTOMATIC,
            errors=tuple(self.errors),
            safety_state=SafetyState(e_stop=self.e_stop, field_violation=False),
            agv_position=self._position(),
            velocity=Velocity(vx=round(self.vx, 3), vy=round(self.vy, 3), omega=0.0),
        )

    def visualization(self, header: Header) -> Visualization:
        return Visualization(
            **header.fields(),
            agv_position=self._position(),
            velocity=Velocity(vx=round(self.vx, 3), vy=round(self.vy, 3)),
        )

    def _position(self) -> AgvPosition:
        theta = min(max(round(math.remainder(self.theta, math.tau), 3), -math.pi), math.pi)
        return AgvPosition(
            x=round(self.x, 3),
            y=round(self.y, 3),
            theta=theta,
            map_id=self.map_id,
            position_initialized=True,
        )
