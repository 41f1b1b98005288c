"""One simulated robot's behaviour: pure, clock-injected, no I/O.

``tick(now)`` advances movement, battery and timers to ``now`` and returns the
``state`` and ``event`` messages that happened; ``handle(command, now)`` returns
the ``ack`` first, then whatever the command changed. Messages come out with
``seq=0, ts=0``: the client stamps them when it sends them, so the model knows
nothing about connections or wall-clock time.

Behaviour (docs/simulator.md has the long form):

* serving robot, delivery (``goto`` with ``task``): assigned -> drive to the
  kitchen pass, load -> en_route to the table -> at_table, wait for
  ``pickup_done`` or ``pickup_s`` -> returning to the pass -> idle.
  A ``goto`` naming only a table skips the pass (en_route -> at_table ...);
  a bare pose is a plain move (en_route -> idle at the pose).
* ``dock``: drive to the nearest dock, charging, idle when full. Idle robots
  under ``battery_low`` percent dock by themselves.
* cooking robot: ``cook`` -> cooking for ``seconds`` -> ready -> idle once the
  dish is taken (``pickup_done`` or ``ready_hold_s``).
* every state change is checked against ``simulator.states.TRANSITIONS``; when
  a direct move is not allowed but a stop in ``idle`` makes it legal
  (charging -> idle -> assigned) the model reports both steps.
* a command id seen before (a resend) gets the same ack again and is not run.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from protocol.messages import Ack, Command, Event, State, Telemetry
from protocol.vocabulary import CommandAction, RobotKind
from simulator.floorplan import FloorPlan, Spot
from simulator.states import RobotState, allowed, check

__all__ = ["ModelOptions", "Outgoing", "RobotModel"]

Outgoing = State | Event | Ack
S = RobotState
_STOPPED = (S.ERROR, S.ESTOP)
_MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class ModelOptions:
    speed: float = 0.7  # m/s: a typical serving robot in a dining room
    pickup_s: float = 3.0  # the guest takes the dish this long after arrival
    load_s: float = 0.5  # the kitchen puts the dish on the robot at the pass
    cook_s: float = 5.0  # cooking time when `cook` gives no `seconds`
    ready_hold_s: float = 2.0  # a finished dish is taken this long after `ready`
    fail_rate: float = 0.0  # probability per minute of a random fault
    wander_s: float = 0.0  # mean idle time before an idle robot strolls; 0 = never
    drain_moving: float = 0.05  # battery % per second while driving
    drain_idle: float = 0.002  # battery % per second otherwise
    charge_rate: float = 0.5  # battery % per second at a dock
    battery_low: float = 15.0  # percent: `battery_low` event, then dock when idle
    remember_commands: int = 256  # command ids kept to recognise resends


class Dest(StrEnum):
    PASS = "pass"  # noqa: S105 (the kitchen pass, not a password)
    TABLE = "table"
    DOCK = "dock"
    POSE = "pose"


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason[:_MAX_REASON])
        self.reason = reason[:_MAX_REASON]


@dataclass(slots=True)
class _Dish:
    recipe: str
    order: Any
    item: Any
    remaining: float


class RobotModel:
    """A robot's pose, battery, operational state and current job."""

    def __init__(
        self,
        robot: str,
        kind: RobotKind,
        floor: FloorPlan,
        now: float,
        *,
        options: ModelOptions | None = None,
        rng: random.Random | None = None,
        start: tuple[float, float] | None = None,
        battery: float | None = None,
    ) -> None:
        self.robot = robot
        self.kind = kind
        self.floor = floor
        self.options = options or ModelOptions()
        self._rng = rng or random.Random()
        self.state = S.IDLE
        self.x, self.y = floor.clamp(*start) if start else floor.start_spot(kind, self._rng)
        self.theta = 0.0
        self.speed = 0.0
        if kind is RobotKind.COOKING:
            self.battery = 100.0  # mains powered
        else:
            self.battery = battery if battery is not None else self._rng.uniform(40.0, 100.0)
        self.battery = min(max(self.battery, 0.0), 100.0)
        self.paused = False
        self.task: str | None = None
        self.reason: str | None = None
        self._table: Spot | None = None  # delivery destination
        self._dest: Spot | None = None  # where it is driving now
        self._dest_kind: Dest | None = None
        self._wait_until: float | None = None
        self._dish: _Dish | None = None
        self._low_warned = self.battery < self.options.battery_low
        self._last = now
        self._acks: OrderedDict[str, Ack] = OrderedDict()
        self.duplicates = 0
        self.faults = 0

    # ---- reading -----------------------------------------------------------

    def current_state(self) -> State:
        """The state as one message, for a fresh session (after each welcome)."""
        return State(robot=self.robot, state=self.state, task=self.task, reason=self.reason)

    def telemetry(self, seq: int, ts: float) -> Telemetry:
        return Telemetry(
            robot=self.robot,
            seq=seq,
            ts=ts,
            x=round(self.x, 3),
            y=round(self.y, 3),
            theta=round(self.theta, 3),
            battery=round(self.battery, 2),
            speed=round(self.speed, 3),
        )

    @property
    def moving(self) -> bool:
        return self.speed > 0.0

    # ---- time --------------------------------------------------------------

    def tick(self, now: float) -> list[Outgoing]:
        dt = max(0.0, now - self._last)
        self._last = now
        out: list[Outgoing] = []
        if self.kind is RobotKind.SERVING:
            self._tick_serving(now, dt, out)
        else:
            self._tick_cooking(now, dt, out)
        self._maybe_fail(dt, out)
        return out

    def _tick_serving(self, now: float, dt: float, out: list[Outgoing]) -> None:
        o = self.options
        self.speed = 0.0
        if self.state not in _STOPPED:
            if self._dest is not None and not self.paused and self._step(dt):
                self._arrive(now, out)
            if self._wait_until is not None and now >= self._wait_until:
                self._wait_until = None
                self._wait_done(out)
        if self.state is S.CHARGING:
            self.battery = min(100.0, self.battery + o.charge_rate * dt)
            if self.battery >= 100.0:
                self._set(S.IDLE, out)
                out.append(self._event("charged", battery=100.0))
        else:
            drain = o.drain_moving if self.moving else o.drain_idle
            self.battery = max(0.0, self.battery - drain * dt)
        self._watch_battery(out)
        if self.state is S.IDLE and not self.paused:
            if self.battery < o.battery_low and self.floor.docks:
                self._start_dock(out)
            elif o.wander_s > 0 and self._rng.random() < dt / o.wander_s:
                x, y = self.floor.random_spot(self._rng)
                self._drive(Spot("wander", x, y), Dest.POSE)
                self._set(S.EN_ROUTE, out)

    def _tick_cooking(self, now: float, dt: float, out: list[Outgoing]) -> None:
        dish = self._dish
        if self.state is S.COOKING and dish is not None and not self.paused:
            dish.remaining -= dt
            if dish.remaining <= 0:
                self._set(S.READY, out)
                self._wait_until = now + self.options.ready_hold_s
                out.append(
                    self._event(
                        "dish_ready",
                        recipe=dish.recipe,
                        order=dish.order,
                        item=dish.item,
                        task=self.task,
                    )
                )
        elif self.state is S.READY and self._wait_until is not None and now >= self._wait_until:
            self._dish_taken(out, auto=True)

    def _step(self, dt: float) -> bool:
        """Drive towards the destination for ``dt`` seconds; True on arrival."""
        dest = self._dest
        assert dest is not None
        dx, dy = dest.x - self.x, dest.y - self.y
        dist = math.hypot(dx, dy)
        step = self.options.speed * dt
        if dist <= step:
            self.x, self.y = dest.x, dest.y
            return True
        self.theta = math.atan2(dy, dx)
        self.x, self.y = self.floor.clamp(self.x + dx / dist * step, self.y + dy / dist * step)
        self.speed = self.options.speed
        return False

    def _arrive(self, now: float, out: list[Outgoing]) -> None:
        kind, spot = self._dest_kind, self._dest
        assert spot is not None
        self._dest = self._dest_kind = None
        if kind is Dest.DOCK:
            self._set(S.CHARGING, out)
            out.append(self._event("docked", dock=spot.name, battery=round(self.battery, 1)))
        elif self.state is S.ASSIGNED:  # at the pass: the kitchen loads the dish
            self._wait_until = now + self.options.load_s
        elif self.state is S.EN_ROUTE and kind is Dest.TABLE:
            self._set(S.AT_TABLE, out)
            self._wait_until = now + self.options.pickup_s
            out.append(
                self._event(
                    "arrived",
                    table=spot.name,
                    task=self.task,
                    x=round(self.x, 3),
                    y=round(self.y, 3),
                )
            )
        elif self.state is S.EN_ROUTE:
            self._set(S.IDLE, out)
            out.append(self._event("arrived", x=round(self.x, 3), y=round(self.y, 3)))
        elif self.state is S.RETURNING:
            task = self.task
            self._set(S.IDLE, out)
            out.append(self._event("returned", at=spot.name, task=task))

    def _wait_done(self, out: list[Outgoing]) -> None:
        if self.state is S.ASSIGNED and self._table is not None:
            self._drive(self._table, Dest.TABLE)
            self._set(S.EN_ROUTE, out)
        elif self.state is S.AT_TABLE:
            self._picked_up(out, auto=True)

    def _watch_battery(self, out: list[Outgoing]) -> None:
        low = self.options.battery_low
        if not self._low_warned and self.battery < low:
            self._low_warned = True
            out.append(self._event("battery_low", "warning", battery=round(self.battery, 1)))
        elif self._low_warned and self.battery >= low + 5.0:
            self._low_warned = False
        if self.battery <= 0.0 and self.moving:
            self.fault("battery_empty", out)

    def _maybe_fail(self, dt: float, out: list[Outgoing]) -> None:
        rate = self.options.fail_rate
        if rate <= 0.0 or dt <= 0.0 or self.state in _STOPPED:
            return
        p = 1.0 if rate >= 1.0 else 1.0 - (1.0 - rate) ** (dt / 60.0)
        if self._rng.random() < p:
            self.fault("random_fault", out)

    # ---- faults (also the test and demo hooks) ------------------------------

    def fault(
        self, reason: str = "injected_fault", out: list[Outgoing] | None = None
    ) -> list[Outgoing]:
        """Go into ``error`` now; the job is dropped (the gateway reassigns it)."""
        out = [] if out is None else out
        if self.state is S.ERROR:
            return out
        task = self.task
        self._drop_job()
        self.faults += 1
        self._set(S.ERROR, out, reason=reason[:_MAX_REASON])
        out.append(self._event("fault", "alarm", reason=reason[:_MAX_REASON], task=task))
        return out

    # ---- commands ----------------------------------------------------------

    def handle(self, cmd: Command, now: float) -> list[Outgoing]:
        """Run one command; the first message returned is always its ``ack``."""
        seen = self._acks.get(cmd.id)
        if seen is not None:
            self.duplicates += 1
            return [seen]
        out: list[Outgoing] = []
        data: dict[str, Any] = {}
        try:
            data = self._run(cmd, now, out) or {}
            ack = Ack(robot=self.robot, id=cmd.id, ok=True, data={**data, "state": self.state})
        except _Refused as exc:
            out.clear()
            ack = Ack(
                robot=self.robot, id=cmd.id, ok=False, reason=exc.reason, data={"state": self.state}
            )
        self._acks[cmd.id] = ack
        if len(self._acks) > self.options.remember_commands:
            self._acks.popitem(last=False)
        return [ack, *out]

    def _run(self, cmd: Command, now: float, out: list[Outgoing]) -> dict[str, Any] | None:
        a = CommandAction(cmd.action)
        if a is CommandAction.ESTOP:
            return self._estop(out)
        if a is CommandAction.RELEASE:
            return self._release(out)
        if a is CommandAction.PAUSE or a is CommandAction.RESUME:
            self.paused = a is CommandAction.PAUSE
            if self.paused:
                self.speed = 0.0
            return {"paused": self.paused}
        if a is CommandAction.CANCEL:
            return self._cancel(out)
        if self.state in _STOPPED:
            raise _Refused(f"{a}: robot is in {self.state}; send release first")
        if a is CommandAction.PICKUP_DONE:
            return self._pickup_done(out)
        if a is CommandAction.COOK:
            return self._cook(cmd.args, out)
        if self.kind is not RobotKind.SERVING:
            raise _Refused(f"{a}: a {self.kind} robot does not move")
        if a is CommandAction.GOTO:
            return self._goto(cmd.args, out)
        if a is CommandAction.DOCK:
            return self._dock(out)
        raise _Refused(f"{a}: not supported by this robot")

    def _busy(self) -> str | None:
        """Why a new job would clash with the current one (None: free)."""
        if self.kind is RobotKind.COOKING:
            if self.state in (S.COOKING, S.READY):
                return f"busy: {self.state} {self.task or ''}".rstrip()
            return None
        delivering = self.state is S.EN_ROUTE and self._dest_kind is Dest.TABLE
        if self.state in (S.ASSIGNED, S.AT_TABLE) or delivering:
            return f"busy: {self.state} with task {self.task}"
        return None

    def _goto(self, args: dict[str, Any], out: list[Outgoing]) -> dict[str, Any]:
        table_name, task = args.get("table"), _task(args, "goto")
        if table_name is not None and not isinstance(table_name, str):
            raise _Refused("goto: table must be a string")
        table = self.floor.table(table_name) if table_name else None
        if "x" in args or "y" in args:
            x, y = _number(args, "x"), _number(args, "y")
            if not self.floor.contains(x, y):
                raise _Refused(
                    f"goto: ({x}, {y}) is outside the "
                    f"{self.floor.width} x {self.floor.height} m floor"
                )
            target = Spot(table_name or "pose", x, y)
        elif table is not None:
            target = table
        elif table_name:
            raise _Refused(f"goto: unknown table {table_name!r} and no x, y given")
        else:
            raise _Refused("goto: needs x and y, or a known table")
        if busy := self._busy():
            raise _Refused(f"goto: {busy}")
        delivery = bool(task or table_name)
        if delivery and self.battery < self.options.battery_low:
            raise _Refused(f"goto: battery low ({self.battery:.1f} %)")
        if task:
            self._table = target
            self._drive(self.floor.kitchen_pass, Dest.PASS)
            self._enter(S.ASSIGNED, out, task=task)
        else:
            self._table = target if delivery else None
            self._drive(target, Dest.TABLE if delivery else Dest.POSE)
            self._enter(S.EN_ROUTE, out, task=None)
        return {"x": target.x, "y": target.y}

    def _dock(self, out: list[Outgoing]) -> dict[str, Any]:
        if self.state is S.CHARGING:
            return {}
        if busy := self._busy():
            raise _Refused(f"dock: {busy}")
        if not self.floor.docks:
            raise _Refused("dock: this floor has no docks")
        return self._start_dock(out)

    def _start_dock(self, out: list[Outgoing]) -> dict[str, Any]:
        dock = self.floor.nearest_dock(self.x, self.y)
        assert dock is not None
        if self.state is S.IDLE and math.hypot(dock.x - self.x, dock.y - self.y) < 0.05:
            self._set(S.CHARGING, out)
        else:
            self._drive(dock, Dest.DOCK)
            if self.state is not S.RETURNING:  # returning -> charging is legal on arrival
                self._enter(S.EN_ROUTE, out, task=None)
        return {"dock": dock.name}

    def _cook(self, args: dict[str, Any], out: list[Outgoing]) -> dict[str, Any]:
        if self.kind is not RobotKind.COOKING:
            raise _Refused(f"cook: a {self.kind} robot cannot cook")
        recipe = args.get("recipe")
        if not isinstance(recipe, str) or not recipe:
            raise _Refused("cook: recipe (a non-empty string) is required")
        seconds = _number(args, "seconds") if "seconds" in args else self.options.cook_s
        if not 0 < seconds <= 3600:
            raise _Refused("cook: seconds must be in (0, 3600]")
        task = _task(args, "cook")
        if busy := self._busy():
            raise _Refused(f"cook: {busy}")
        order, item = _scalar(args.get("order")), _scalar(args.get("item"))
        self._dish = _Dish(recipe, order, item, seconds)
        self._enter(S.COOKING, out, task=task or (str(order)[:64] if order is not None else None))
        return {"seconds": seconds}

    def _cancel(self, out: list[Outgoing]) -> dict[str, Any]:
        task, st = self.task, self.state
        if st is S.ASSIGNED or st is S.COOKING or st is S.READY:
            self._drop_job()
            self._set(S.IDLE, out)
        elif st is S.AT_TABLE or (st is S.EN_ROUTE and self._dest_kind is Dest.TABLE):
            # The dish is still on board: take it back to the kitchen.
            self._wait_until = None
            self._drive(self.floor.kitchen_pass, Dest.PASS)
            self._set(S.RETURNING, out)
        elif st is S.EN_ROUTE:
            self._drop_job()
            self._set(S.IDLE, out)
        else:
            return {"cancelled": None}
        out.append(self._event("cancelled", task=task, was=st))
        return {"cancelled": task}

    def _pickup_done(self, out: list[Outgoing]) -> dict[str, Any]:
        if self.state is S.AT_TABLE:
            self._wait_until = None
            self._picked_up(out, auto=False)
        elif self.state is S.READY:
            self._dish_taken(out, auto=False)
        else:
            raise _Refused(f"pickup_done: not waiting for a pickup (state {self.state})")
        return {}

    def _estop(self, out: list[Outgoing]) -> dict[str, Any]:
        if self.state is not S.ESTOP:
            task = self.task
            self._drop_job()
            self._set(S.ESTOP, out, reason="estop")
            out.append(self._event("estop", "alarm", task=task))
        return {}

    def _release(self, out: list[Outgoing]) -> dict[str, Any]:
        if self.state not in _STOPPED:
            raise _Refused(f"release: nothing to release (state {self.state})")
        was = self.state
        self.paused = False  # a released robot starts fresh
        self._set(S.IDLE, out)
        out.append(self._event("released", was=was))
        return {}

    # ---- helpers -------------------------------------------------------------

    def _picked_up(self, out: list[Outgoing], *, auto: bool) -> None:
        table = self._table.name if self._table else None
        out.append(self._event("pickup_done", task=self.task, table=table, auto=auto))
        self._drive(self.floor.kitchen_pass, Dest.PASS)
        self._set(S.RETURNING, out)

    def _dish_taken(self, out: list[Outgoing], *, auto: bool) -> None:
        dish, task = self._dish, self.task
        self._drop_job()
        self._set(S.IDLE, out)
        out.append(
            self._event(
                "dish_taken",
                task=task,
                auto=auto,
                order=dish.order if dish else None,
                item=dish.item if dish else None,
            )
        )

    def _drive(self, spot: Spot, kind: Dest) -> None:
        self._dest, self._dest_kind = spot, kind
        self._wait_until = None

    def _drop_job(self) -> None:
        self._dest = self._dest_kind = self._table = None
        self._wait_until = None
        self._dish = None
        self.speed = 0.0

    def _enter(self, new: RobotState, out: list[Outgoing], *, task: str | None) -> None:
        """Move to ``new``, stopping in idle first when only that path is legal."""
        if self.state is not new and not allowed(self.kind, self.state, new):
            self._set(S.IDLE, out, task=None)
        self._set(new, out, task=task)

    def _set(
        self,
        new: RobotState,
        out: list[Outgoing],
        *,
        reason: str | None = None,
        task: str | Literal[False] | None = False,
    ) -> None:
        """The one place a state changes: checked, then reported."""
        if task is not False:
            self.task = task
        elif new is S.IDLE or new in _STOPPED or new is S.CHARGING:
            self.task = None
        if new is self.state:
            return
        check(self.kind, self.state, new)
        self.state = new
        self.reason = reason
        out.append(State(robot=self.robot, state=new, task=self.task, reason=reason))

    def _event(
        self, name: str, level: Literal["info", "warning", "alarm"] = "info", **data: Any
    ) -> Event:
        return Event(robot=self.robot, name=name, level=level, data=data)


def _number(args: dict[str, Any], name: str) -> float:
    v = args.get(name)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _Refused(f"{name} must be a finite number, got {v!r}"[:_MAX_REASON])
    return float(v)


def _task(args: dict[str, Any], action: str) -> str | None:
    """Task ids travel in ``state`` messages, where the protocol caps them at 64 characters."""
    task = args.get("task")
    if task is not None and (not isinstance(task, str) or not 0 < len(task) <= 64):
        raise _Refused(f"{action}: task must be a string of 1 to 64 characters")
    return task


def _scalar(v: Any) -> Any:
    """Order and item ids are echoed back in events: keep only JSON scalars."""
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)[:64]
