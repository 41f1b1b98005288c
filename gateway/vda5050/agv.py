"""One AGV under our master control: our commands in, orders and instant actions out;
its ``state`` in, our robot states, acks, telemetry and events out.

No I/O and no clock: ``now`` comes in, and what this produces goes to two
callbacks, ``publish`` (a VDA 5050 message) and ``report`` (a v1 robot message
for the fleet: State, Ack, Telemetry, Event, Heartbeat), so the fleet sees a
VDA AGV exactly as it sees a TCP robot. docs/vda5050.md (Master control) is the
long form. The rules, briefly:

- A command is acknowledged from what the AGV reports: an order when its
  ``orderId`` appears in ``state``; an instant action when its ``actionStates``
  entry is FINISHED (or the effect shows: ``paused``, ``eStop``). An error that
  references our order, or a FAILED action, is a refusal.
- Orders are released as a base of ``release_nodes`` nodes ahead of the AGV plus
  a horizon; as the AGV passes nodes an update keeps the orderId, raises
  orderUpdateId by one and stitches at the last base node. One update is in
  flight at a time; one the AGV does not show within ``resend_s`` is sent again,
  same orderUpdateId (the AGV ignores a duplicate), at most ``max_resends`` times.
- An ``orderUpdateError`` or ``noOrderToCancel`` becomes an alarm or a warning
  event; nothing is resent because of it.
- Everything we send carries the version the AGV speaks (``version``: pinned in
  the config, else learned from its headers by ``MasterControl``). An AGV whose
  version we cannot speak (``unsupported``) is mapped to ``error`` and refuses
  every command with ``unsupported_version``.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from config.settings import Vda5050Settings
from gateway.fleet.states import IllegalTransition, apply_reported
from gateway.vda5050.graph import FloorGraph, GraphNode, NoRoute
from protocol.messages import Ack, Command, Event, Heartbeat, RobotMessage, State, Telemetry
from protocol.vda5050 import (
    Action,
    ActionStatus,
    AgvId,
    BlockingType,
    ErrorLevel,
    EStop,
    Factsheet,
    HeaderCounter,
    InstantActions,
    Mapped,
    OperationalState,
    Order,
    OrderIntent,
    RouteNode,
    Subtopic,
    Trip,
    Visualization,
    build_order,
    build_order_update,
    cancel_order,
    decision_point,
    estop_plan,
    instant_actions,
    operational_state,
    release_plan,
    start_pause,
    stop_pause,
)
from protocol.vda5050 import State as VdaState
from protocol.vocabulary import CommandAction, RobotKind

__all__ = ["AgvControl", "Job"]

S = OperationalState
START_CHARGING: Final = "startCharging"
ORDER_ERRORS: Final = frozenset(
    {"orderError", "orderUpdateError", "noRouteError", "validationError"}
)
_WITH_TASK: Final = frozenset({S.ASSIGNED, S.EN_ROUTE, S.AT_TABLE, S.RETURNING})
_REMEMBERED: Final = 256
JobKind = Literal["delivery", "return", "move", "dock"]


class _Refused(Exception):
    pass


@dataclass(slots=True)
class Job:
    """One order we gave the AGV, and how far it got."""

    kind: JobKind
    route: tuple[RouteNode, ...]
    intent: OrderIntent | None
    task: str | None
    sent: Order  # the last message of this order we published
    sent_at: float
    created: float
    command: str | None = None  # the command its acceptance acknowledges
    resends: int = 0
    accepted: bool = False  # the AGV reported this orderId
    confirmed: int = -1  # the highest orderUpdateId the AGV reported
    failed: bool = False  # an update was refused or lost: no more updates

    @property
    def order_id(self) -> str:
        return self.sent.order_id

    @property
    def goal(self) -> str:
        return self.route[-1].node_id

    @property
    def released(self) -> int:
        """Route nodes released so far (node i has sequenceId 2i in every message)."""
        return decision_point(self.sent).sequence_id // 2 + 1

    def done(self, st: VdaState) -> bool:
        return (
            st.order_id == self.order_id
            and st.order_update_id >= self.sent.order_update_id
            and self.released == len(self.route)
            and not st.node_states
            and not st.driving
            and st.last_node_id == self.goal
        )


@dataclass(slots=True)
class _Waiting:
    """A command whose outcome the AGV's next states will tell."""

    command: Command
    order_id: str | None = None  # acked when the AGV reports this order
    action_id: str | None = None  # acked when this instant action is FINISHED
    plan: tuple[tuple[Action, ...], ...] = ()  # the instant actions, to send again on a resend
    shows: Callable[[VdaState], bool] | None = None  # or when this holds (for AGVs that do not
    # report instant actions in actionStates)
    then: Callable[[float], dict[str, Any]] | None = None  # runs on success; returns ack data
    data: dict[str, Any] = field(default_factory=dict)


class AgvControl:
    def __init__(
        self,
        robot: str,
        agv: AgvId,
        graph: FloorGraph,
        settings: Vda5050Settings,
        headers: HeaderCounter,
        *,
        publish: Callable[[Order | InstantActions], None],
        report: Callable[[RobotMessage], None],
        current: Callable[[], str | None],
        abandon_after_s: float = 10.0,
        version: str | None = None,
    ) -> None:
        self.robot = robot
        self.agv = agv
        self.graph = graph
        self.settings = settings
        self.headers = headers
        self._publish = publish
        self._report = report
        self._current = current  # the fleet's operational state of this robot
        self.abandon_after_s = abandon_after_s
        self.pinned = version  # the config's vda.version: the only one we speak to it
        self.version = version  # what we speak to it now (None: not heard yet)
        self.unsupported: str | None = None  # why we cannot speak to it, if we cannot
        self.state: VdaState | None = None
        self.factsheet: Factsheet | None = None
        self.job: Job | None = None
        self.latched = False  # our e-stop, until a release
        self.at_table_since: float | None = None
        self._waiting: dict[str, _Waiting] = {}
        self._outcomes: OrderedDict[str, Ack] = OrderedDict()
        self._errors: frozenset[tuple[str, tuple[tuple[str, str], ...]]] = frozenset()
        self._last_report: tuple[str, str | None] | None = None
        self._telemetry_seq = 0
        self._battery: float | None = None
        self._ids = itertools.count(1)

    # ---- from the fleet ----------------------------------------------------------

    def attached(self) -> None:
        """A new fleet session: it believes the next reported state, so report again."""
        self._last_report = None

    def speak(self, version: str) -> None:
        """From now on, talk to the AGV in ``version`` (a line we speak)."""
        self.version, self.unsupported = version, None

    def refuse_version(self, why: str, now: float) -> None:
        """The AGV speaks a version we cannot: ``error``, and every command is refused, until
        it speaks one we can."""
        self.unsupported = why
        self._map(now)

    def new_session(self) -> None:
        """The AGV changed its version: what it ran belongs to the old session, its next
        ``state`` tells what it still has. Our e-stop stays latched until a release."""
        self.job = None
        self._waiting.clear()
        self.state = None
        self.at_table_since = None
        self._errors = frozenset()
        self._last_report = None

    def on_command(self, cmd: Command, now: float) -> None:
        done = self._outcomes.get(cmd.id)
        if done is not None:  # decided already: say it again
            self._report(done)
            return
        waiting = self._waiting.get(cmd.id)
        if waiting is not None:  # the router's resend: our message may have been lost (QoS 0)
            self._resend(waiting, now)
            return
        handlers: dict[str, Callable[[Command, float], None]] = {
            CommandAction.GOTO: self._goto,
            CommandAction.DOCK: self._dock,
            CommandAction.CANCEL: self._cancel,
            CommandAction.PAUSE: self._pause,
            CommandAction.RESUME: self._resume,
            CommandAction.ESTOP: self._estop,
            CommandAction.RELEASE: self._release,
            CommandAction.PICKUP_DONE: self._pickup_done,
        }
        handler = handlers.get(cmd.action)
        try:
            if self.unsupported is not None:
                raise _Refused(f"unsupported_version: {self.unsupported}")
            if handler is None:
                raise _Refused(f"{cmd.action}: not supported by a VDA 5050 robot")
            handler(cmd, now)
        except _Refused as exc:
            self._decide(cmd.id, ok=False, reason=str(exc)[:200])
        self._map(now)

    # ---- commands -> orders ------------------------------------------------------

    def _goto(self, cmd: Command, now: float) -> None:
        self._check_free("goto")
        table, task = cmd.args.get("table"), cmd.args.get("task")
        if task is not None and (not isinstance(task, str) or not 0 < len(task) <= 64):
            raise _Refused("goto: task must be a string of 1 to 64 characters")
        x, y = cmd.args.get("x"), cmd.args.get("y")
        pose = all(isinstance(v, int | float) and math.isfinite(v) for v in (x, y))
        if table is not None:
            goal = self.graph.nodes.get(str(table))
            if (goal is None or goal.kind != "table") and pose:
                # A table the floor plan names differently: the one at (x, y), if any.
                near = self.graph.nearest(float(x), float(y), "table")  # type: ignore[arg-type]
                goal = near if near is not None and near.distance(x, y) <= 1.0 else None  # type: ignore[arg-type]
            if goal is None or goal.kind != "table":
                raise _Refused(f"goto: no table {table!r} on the floor graph ([floor] tables)")
        elif pose:
            goal = self.graph.nearest(float(x), float(y))  # type: ignore[arg-type]
            assert goal is not None
        else:
            raise _Refused("goto: needs a table, or x and y")
        legs = [self._start_node().name]
        if task:
            legs.append(self.graph.kitchen_pass.name)  # the dish is loaded at the pass
        legs.append(goal.name)
        delivery = table is not None or bool(task)
        self._new_job(
            cmd,
            "delivery" if delivery else "move",
            legs,
            now,
            task=task,
            trip=Trip.DELIVERY if delivery else None,
        )

    def _dock(self, cmd: Command, now: float) -> None:
        st = self.state
        start = self._start_node()
        if st is not None and st.battery_state.charging and start.kind == "dock":
            self._decide(cmd.id, ok=True, data={"dock": start.name})
            return
        self._check_free("dock")
        x, y = self._position() or (start.x, start.y)
        dock = self.graph.nearest(x, y, "dock")
        if dock is None:
            raise _Refused("dock: this floor has no docks")
        self._new_job(cmd, "dock", [start.name, dock.name], now)

    def _pickup_done(self, cmd: Command, now: float) -> None:
        if not self._at_table():
            raise _Refused("pickup_done: not waiting for a pickup")
        self._start_return(now, cmd)

    def _cancel(self, cmd: Command, now: float) -> None:
        job = self.job
        if self._at_table():  # the order is done; the dish goes back to the kitchen
            self._start_return(now, cmd)
            return
        aid = self._action_id(cmd, "cancel")
        take_back = job is not None and job.kind == "delivery" and job.accepted

        def cancelled(now: float) -> dict[str, Any]:
            was = self.job.order_id if self.job is not None else None
            if take_back:
                self._return_to_pass(now)
            elif self.job is not None:
                self.job = None
            return {"cancelled": was}

        self._instant(cmd, ((cancel_order(aid),),), aid, then=cancelled, now=now)

    def _pause(self, cmd: Command, now: float) -> None:
        aid = self._action_id(cmd, "pause")
        self._instant(
            cmd,
            ((start_pause(aid),),),
            aid,
            shows=lambda s: s.paused is True,
            now=now,
            data={"paused": True},
        )

    def _resume(self, cmd: Command, now: float) -> None:
        if self.latched:
            raise _Refused("resume: robot is in estop; send release first")
        aid = self._action_id(cmd, "resume")
        self._instant(
            cmd,
            ((stop_pause(aid),),),
            aid,
            shows=lambda s: not s.paused,
            now=now,
            data={"paused": False},
        )

    def _estop(self, cmd: Command, now: float) -> None:
        self.latched = True
        aid = self._action_id(cmd, "estop")
        reason = str(cmd.args.get("reason", ""))[:100]
        self._instant(
            cmd,
            estop_plan(aid, self.factsheet, reason),
            f"{aid}.pause",
            shows=lambda s: bool(s.paused) or s.safety_state.e_stop is not EStop.NONE,
            now=now,
        )

    def _release(self, cmd: Command, now: float) -> None:
        """Leave estop or error to idle, as every robot does (docs/protocol.md, Commands):
        the e-stop's pause ends, and the order it interrupted is cancelled, because the
        dispatcher has given its task to another robot by now."""
        st = self.state
        stopped = st is not None and (
            st.safety_state.e_stop is not EStop.NONE
            or any(e.error_level is ErrorLevel.FATAL for e in st.errors)
        )
        if not (self.latched or stopped):
            raise _Refused("release: nothing to release")
        aid = self._action_id(cmd, "release")
        *unlatch, resume = release_plan(aid, self.factsheet)
        if st is not None and (st.node_states or st.driving):
            unlatch.append((cancel_order(f"{aid}.cancel"),))

        def released(now: float) -> dict[str, Any]:
            self.latched = False
            self.job = None
            return {}

        self._instant(
            cmd,
            (*unlatch, resume),
            f"{aid}.resume",
            then=released,
            shows=lambda s: not s.paused and s.safety_state.e_stop is EStop.NONE,
            now=now,
        )

    def _start_return(self, now: float, cmd: Command | None = None) -> None:
        """Back to the kitchen pass (after a pickup, a timeout, or a cancelled delivery)."""
        task = self.job.task if self.job is not None else None
        start = self._start_node()
        self._new_job(
            cmd,
            "return",
            [start.name, self.graph.kitchen_pass.name],
            now,
            task=task,
            trip=Trip.RETURN,
        )

    def _return_to_pass(self, now: float) -> None:
        """A return nobody commanded (pickup timeout, cancelled delivery): failures are events."""
        try:
            self._start_return(now)
        except _Refused as exc:
            self.at_table_since = None  # do not retry every tick; a command can still send it
            self._event("return_failed", "warning", {"reason": str(exc)})

    def _new_job(
        self,
        cmd: Command | None,
        kind: JobKind,
        legs: list[str],
        now: float,
        *,
        task: str | None = None,
        trip: Trip | None = None,
    ) -> None:
        route = self._route(legs, kind)
        order_id = f"{self.robot}-{uuid.uuid4().hex[:12]}"
        base = min(len(route), self.settings.release_nodes + 1)
        order = build_order(
            self._header(Subtopic.ORDER, now),
            order_id,
            route,
            map_id=self.settings.map_id,
            released=base,
        )
        intent = OrderIntent(order_id, trip, route[-1].node_id) if trip is not None else None
        self.job = Job(
            kind, route, intent, task, order, now, now, command=cmd.id if cmd is not None else None
        )
        self.at_table_since = None
        self._publish(order)
        if cmd is not None:
            self._waiting[cmd.id] = _Waiting(
                cmd,
                order_id=order_id,
                data={"order": order_id, "goal": route[-1].node_id, "nodes": len(route)},
            )

    def _route(self, legs: list[str], kind: JobKind) -> tuple[RouteNode, ...]:
        names: list[str] = [legs[0]]
        try:
            for a, b in itertools.pairwise(legs):
                names += self.graph.route(a, b)[1:]
        except NoRoute as exc:
            raise _Refused(f"{kind}: {exc}") from None
        nodes = [self.graph.nodes[n] for n in names]
        last = len(nodes) - 1
        return tuple(
            self._route_node(n, charge=kind == "dock" and i == last) for i, n in enumerate(nodes)
        )

    def _route_node(self, node: GraphNode, *, charge: bool) -> RouteNode:
        actions: tuple[Action, ...] = ()
        if charge:
            actions = (
                Action(
                    action_type=START_CHARGING,
                    action_id=f"charge-{next(self._ids)}",
                    blocking_type=BlockingType.HARD,
                ),
            )
        return RouteNode(
            node.name,
            node.x,
            node.y,
            allowed_deviation_xy=self.settings.node_deviation_m,
            actions=actions,
        )

    def _instant(
        self,
        cmd: Command,
        plan: tuple[tuple[Action, ...], ...],
        key: str,
        *,
        now: float,
        shows: Callable[[VdaState], bool] | None = None,
        then: Callable[[float], dict[str, Any]] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        waiting = _Waiting(cmd, action_id=key, plan=plan, shows=shows, then=then, data=data or {})
        self._waiting[cmd.id] = waiting
        self._send_plan(plan, now)

    def _send_plan(self, plan: tuple[tuple[Action, ...], ...], now: float) -> None:
        for actions in plan:  # one message each: an unknown vendor action cannot sink the rest
            self._publish(instant_actions(self._header(Subtopic.INSTANT_ACTIONS, now), actions))

    def _resend(self, waiting: _Waiting, now: float) -> None:
        """The router's next attempt: what the AGV may have lost (QoS 0) goes on the wire again."""
        job = self.job
        if waiting.order_id is not None:
            if job is not None and job.order_id == waiting.order_id:
                self._republish(job, now)
        else:
            self._send_plan(waiting.plan, now)

    def _republish(self, job: Job, now: float) -> None:
        """Publish the same message again (same orderId and orderUpdateId) with a new header."""
        header = self._header(Subtopic.ORDER, now)
        job.sent = Order(
            **header.fields(),
            order_id=job.sent.order_id,
            order_update_id=job.sent.order_update_id,
            nodes=job.sent.nodes,
            edges=job.sent.edges,
            zone_set_id=job.sent.zone_set_id,
        )
        job.sent_at = now
        self._publish(job.sent)

    # ---- what the AGV reports ----------------------------------------------------

    def on_state(self, st: VdaState, now: float) -> None:
        self.state = st
        self._battery = min(max(st.battery_state.battery_charge, 0.0), 100.0)
        self._errors_changed(st, now)
        job = self.job
        if job is not None and st.order_id == job.order_id:
            job.accepted = True
            job.confirmed = max(job.confirmed, st.order_update_id)
        self._settle(st, now)
        self._extend(now)
        if st.agv_position is not None:
            p, v = st.agv_position, st.velocity
            self._telemetry(p.x, p.y, p.theta, v.vx if v else None, v.vy if v else None)
        self._map(now, heard=True)

    def on_visualization(self, vis: Visualization, now: float) -> None:
        p, v = vis.agv_position, vis.velocity
        if p is not None:
            self._telemetry(p.x, p.y, p.theta, v.vx if v else None, v.vy if v else None)
        else:
            self._report(Heartbeat(robot=self.robot))

    def _telemetry(
        self, x: float, y: float, theta: float, vx: float | None, vy: float | None
    ) -> None:
        if self._battery is None:  # no state yet: nothing honest to say about the battery
            return
        speed = math.hypot(vx or 0.0, vy or 0.0)
        if not math.isfinite(speed):  # a velocity near float's limit: no finite sample to write
            return
        self._telemetry_seq += 1
        self._report(
            Telemetry(
                robot=self.robot,
                seq=self._telemetry_seq,
                x=x,
                y=y,
                theta=theta,
                battery=self._battery,
                speed=speed,
            )
        )

    def _settle(self, st: VdaState, now: float) -> None:
        """Decide the commands whose outcome this state shows."""
        actions = {a.action_id: a.action_status for a in st.action_states}
        for cid, w in list(self._waiting.items()):
            ok: bool | None = None
            reason = ""
            if w.order_id is not None:
                if st.order_id == w.order_id:
                    ok = True
                elif (err := self._order_error(st, w.order_id)) is not None:
                    ok, reason = False, err
                    if self.job is not None and self.job.order_id == w.order_id:
                        self.job = None
            elif w.action_id is not None:
                status = actions.get(w.action_id)
                if status is ActionStatus.FINISHED or (
                    status is None and w.shows is not None and w.shows(st)
                ):
                    ok = True
                elif status is ActionStatus.FAILED:
                    if any(e.error_type == "noOrderToCancel" for e in st.errors):
                        ok, w.then = True, None
                        w.data = {"cancelled": None}
                        self.job = None
                    else:
                        ok, reason = False, self._action_error(st, w.action_id)
            if ok is None:
                continue
            del self._waiting[cid]
            data = dict(w.data)
            if ok and w.then is not None:
                data.update(w.then(now))
            self._decide(cid, ok=ok, reason=reason, data=data)

    def _order_error(self, st: VdaState, order_id: str) -> str | None:
        for e in st.errors:
            refs = {r.reference_key: r.reference_value for r in e.error_references or ()}
            if refs.get("orderId") == order_id or (not refs and e.error_type in ORDER_ERRORS):
                return f"{e.error_type}: {e.error_description or 'refused'}"[:200]
        return None

    def _action_error(self, st: VdaState, action_id: str) -> str:
        for e in st.errors:
            refs = {r.reference_key: r.reference_value for r in e.error_references or ()}
            if refs.get("actionId") == action_id:
                return f"{e.error_type}: {e.error_description or 'failed'}"[:200]
        return "action failed"

    def _errors_changed(self, st: VdaState, now: float) -> None:
        """Each error is told once, when it appears (the AGV repeats it in every state)."""
        current = frozenset(
            (
                e.error_type,
                tuple(
                    sorted((r.reference_key, r.reference_value) for r in e.error_references or ())
                ),
            )
            for e in st.errors
        )
        new = current - self._errors
        self._errors = current
        job = self.job
        for e in st.errors:
            refs = {r.reference_key: r.reference_value for r in e.error_references or ()}
            key = (e.error_type, tuple(sorted(refs.items())))
            if key not in new:
                continue
            data = {
                "error_type": e.error_type,
                "error_level": e.error_level,
                "description": e.error_description or "",
                "references": refs,
            }
            ours = job is not None and (
                refs.get("orderId") == job.order_id or (not refs and e.error_type in ORDER_ERRORS)
            )
            if e.error_type == "noOrderToCancel":
                self._event("no_order_to_cancel", "warning", data)
            elif e.error_type == "orderUpdateError" or (ours and e.error_type in ORDER_ERRORS):
                if job is not None and job.accepted:
                    job.failed = True  # the AGV keeps its base; we stop updating it
                name = (
                    "order_update_error" if e.error_type == "orderUpdateError" else "order_rejected"
                )
                self._event(name, "alarm", {**data, "order": job.order_id if job else None})
            else:
                fatal = e.error_level is ErrorLevel.FATAL
                self._event("agv_error", "alarm" if fatal else "warning", data)

    # ---- order progress ----------------------------------------------------------

    def _extend(self, now: float) -> None:
        """Release more of the route as the AGV passes nodes (one update in flight)."""
        job, st = self.job, self.state
        if job is None or st is None or job.failed or st.order_id != job.order_id:
            return
        if job.confirmed < job.sent.order_update_id or job.released >= len(job.route):
            return
        at = st.last_node_sequence_id // 2  # node i of the route has sequenceId 2i
        if at >= len(job.route) or job.route[at].node_id != st.last_node_id:
            return  # lastNode is still from before this order
        want = min(len(job.route), at + self.settings.release_nodes + 1)
        released = job.released
        if want <= released:
            return
        job.sent = build_order_update(
            self._header(Subtopic.ORDER, now),
            job.sent,
            job.route[released:],
            released=want - released,
            map_id=self.settings.map_id,
        )
        job.sent_at, job.resends = now, 0
        self._publish(job.sent)

    def tick(self, now: float) -> None:
        job = self.job
        if job is not None and not job.failed:
            if (
                job.sent.order_update_id > 0
                and job.confirmed < job.sent.order_update_id
                and (now - job.sent_at >= self.settings.resend_s)
            ):
                if job.resends >= self.settings.max_resends:
                    job.failed = True
                    self._event(
                        "order_update_lost",
                        "alarm",
                        {
                            "order": job.order_id,
                            "order_update_id": job.sent.order_update_id,
                            "attempts": job.resends + 1,
                        },
                    )
                else:
                    job.resends += 1
                    self._republish(job, now)
            elif not job.accepted and now - job.created > self.abandon_after_s:
                self.job = None  # never seen by the AGV; its command has failed by now
                self._event("order_not_accepted", "warning", {"order": job.order_id})
                self._map(now)
        if self.at_table_since is not None and now - self.at_table_since >= (
            self.settings.return_after_s
        ):
            self._return_to_pass(now)
            self._map(now)

    # ---- our state ------------------------------------------------------------------

    def mapped(self) -> Mapped | None:
        st = self.state
        if self.unsupported is not None:
            return Mapped(S.ERROR, "unsupported_version")
        if st is None:
            return None
        intent = self.job.intent if self.job is not None else None
        m = operational_state(st, intent)
        if self.latched and m.state is not S.ESTOP:
            m = Mapped(S.ESTOP, "estop_command", m.paused)
        return m

    def _map(self, now: float, *, heard: bool = False) -> None:
        m = self.mapped()
        if m is None:
            return
        if m.state is S.AT_TABLE:
            self.at_table_since = self.at_table_since or now
        else:
            self.at_table_since = None
        job = self.job
        task = (
            job.task
            if job is not None and job.intent is not None and m.state in _WITH_TASK
            else None
        )
        if (m.state, task) == self._last_report:
            if heard:
                self._report(Heartbeat(robot=self.robot))
            return
        self._last_report = (m.state, task)
        current = self._current()
        if current is not None and not _legal(current, m.state):
            # A derived state may skip a step the table needs (charging -> assigned; a
            # one-node order: assigned -> at_table): report the step, as a robot would.
            step = next(
                (x for x in (S.IDLE, S.EN_ROUTE) if _legal(current, x) and _legal(x, m.state)), None
            )
            if step is not None:
                self._report(
                    State(
                        robot=self.robot,
                        state=step,
                        task=task if step in _WITH_TASK else None,
                        reason=m.reason,
                    )
                )
        self._report(State(robot=self.robot, state=m.state, task=task, reason=m.reason))

    # ---- helpers ----------------------------------------------------------------------

    def _check_free(self, action: str) -> None:
        st, job = self.state, self.job
        m = self.mapped()
        if m is not None and m.state in (S.ESTOP, S.ERROR):
            raise _Refused(f"{action}: robot is in {m.state} ({m.reason}); send release first")
        if self._at_table():
            raise _Refused(f"{action}: busy: at_table with task {job.task if job else None}")
        running = st is not None and (st.driving or bool(st.node_states))
        if (
            job is not None
            and not job.failed
            and st is not None
            and not job.done(st)
            and (not job.accepted or (st.order_id == job.order_id and running))
        ):
            raise _Refused(f"{action}: busy: order {job.order_id}")
        if (
            st is not None
            and (st.driving or st.node_states)
            and (job is None or st.order_id != job.order_id)
        ):
            raise _Refused(f"{action}: busy: the AGV runs order {st.order_id!r}")

    def _at_table(self) -> bool:
        m = self.mapped()
        return m is not None and m.state is S.AT_TABLE

    def _position(self) -> tuple[float, float] | None:
        st = self.state
        if st is not None and st.agv_position is not None:
            return st.agv_position.x, st.agv_position.y
        return None

    def _start_node(self) -> GraphNode:
        """Where the next order starts: the AGV's last node if it is still there, else the
        node nearest to it (VDA 5050 6.6.1: the first node must be where the AGV is)."""
        st = self.state
        pos = self._position()
        last = self.graph.nodes.get(st.last_node_id) if st is not None else None
        if last is not None and (
            pos is None or last.distance(*pos) <= max(self.settings.node_deviation_m, 0.05)
        ):
            return last
        if pos is not None:
            node = self.graph.nearest(*pos)
            assert node is not None
            return node
        raise _Refused("the AGV has not reported where it is yet")

    def _action_id(self, cmd: Command, what: str) -> str:
        return f"{what}-{cmd.id[:40]}"

    def _header(self, subtopic: Subtopic, now: float) -> Any:
        return self.headers.header(self.agv, subtopic, now, version=self.version)

    def _decide(
        self, cid: str, *, ok: bool, reason: str = "", data: dict[str, Any] | None = None
    ) -> None:
        ack = Ack(robot=self.robot, id=cid, ok=ok, reason=reason or None, data=data or {})
        self._outcomes[cid] = ack
        if len(self._outcomes) > _REMEMBERED:
            self._outcomes.popitem(last=False)
        self._report(ack)

    def _event(
        self, name: str, level: Literal["info", "warning", "alarm"], data: dict[str, Any]
    ) -> None:
        self._report(Event(robot=self.robot, name=name, level=level, data=data))


def _legal(current: str, new: str) -> bool:
    try:
        apply_reported(RobotKind.SERVING, current, new)
    except IllegalTransition:
        return False
    return True
