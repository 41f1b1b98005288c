"""Orders -> tasks -> robots: who cooks what, who carries it, and what happens when a robot fails.

An order becomes one cook task per robot-cooked line and one delivery task,
which waits until every dish is ready. A task goes to one robot at a time:
- cook: an idle, online cooking robot (the one idle longest);
- delivery: an idle or charging serving robot, online, with battery above
  ``dispatch.min_battery``, nearest to the kitchen pass.
A robot that faults, is e-stopped, goes offline, refuses or drops its task
loses it, and the task goes back to pending for another robot; should the
first robot come back still working on it, it is told to cancel, so no task
is carried out twice. Idle serving robots below ``dispatch.dock_below`` are
sent to a dock instead of taking work.

Which status an order or a task may move to is the table in order_states.py.
The state of every open order lives in the hash rd:dispatch (written through
the fleet's output port, port.py), so pending tasks survive a gateway restart.
Progress is told as ``order.status`` and ``task.*`` events (docs/orders.md).
Time comes in as ``now``, so tests drive it directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, Protocol

import msgspec
import structlog

from config import Settings
from gateway.fleet.order_states import (
    ORDER,
    IllegalTransition,
    TaskStatus,
    move_order,
    move_task,
)
from gateway.fleet.port import FleetOutput
from gateway.fleet.session import RobotSession
from gateway.fleet.states import ConnState
from gateway.metrics import Stats
from protocol.streams import CommandRecord, CommandType, EventType, Level, OrderStatus
from protocol.vocabulary import CommandAction, RobotKind
from robodine.redisio.keys import KEYS

log = structlog.get_logger("gateway.dispatcher")

_FAILED = frozenset({"error", "estop"})
_FREE_SERVING = frozenset({"idle", "charging"})


class Task(msgspec.Struct, kw_only=True):
    id: str
    kind: Literal["cook", "deliver"]
    args: dict[str, Any]
    status: TaskStatus = TaskStatus.PENDING
    robot: str = ""
    command: str = ""
    attempts: int = 0


class Order(msgspec.Struct, kw_only=True):
    id: str
    table: str
    status: OrderStatus
    tasks: list[Task]
    placed: float


class _Table(msgspec.Struct):
    name: str
    x: float
    y: float


class _Line(msgspec.Struct):
    line: str
    name: str
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    recipe: str | None = None  # None: not cooked by a robot (staff prepares it)


class _Place(msgspec.Struct, forbid_unknown_fields=True):
    order: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,48}$")]
    table: _Table
    items: Annotated[list[_Line], msgspec.Meta(min_length=1, max_length=100)]


class _Ref(msgspec.Struct):
    order: str


class Commands(Protocol):
    """How the dispatcher commands robots: the fleet's CommandRouter (one gateway), or,
    with several, the leader's routed commands (gateway/cluster/dispatch.py)."""

    on_outcome: Callable[[str, str, bool, str], None] | None

    def send(
        self, robot: str, action: CommandAction, args: dict[str, Any], now: float
    ) -> str | None: ...


class Dispatcher:
    def __init__(
        self,
        sessions: Mapping[str, RobotSession],
        commands: Commands,
        writer: FleetOutput,
        settings: Settings,
        stats: Stats,
    ) -> None:
        self.sessions = sessions
        self.commands = commands
        self.writer = writer
        self.stats = stats
        self.settings = settings.dispatch
        self.kitchen = settings.floor.kitchen_pass
        self.orders: dict[str, Order] = {}
        self._by_robot: dict[str, Task] = {}
        self._by_command: dict[str, Task] = {}
        self._idle_since: dict[str, float] = {}
        commands.on_outcome = self._outcome

    # ---- inputs ---------------------------------------------------------------

    def load(self, saved: Mapping[bytes, bytes]) -> None:
        """Pick up the open orders a previous gateway left in rd:dispatch."""
        for raw in saved.values():
            try:
                order = msgspec.json.decode(raw, type=Order)
            except msgspec.DecodeError as exc:
                log.error("dispatch_state_unreadable", error=str(exc))
                continue
            self.orders[order.id] = order
            for task in order.tasks:
                if task.status is TaskStatus.ASSIGNED:
                    self._by_robot[task.robot] = task
        if self.orders:
            log.info("dispatch_state_loaded", orders=len(self.orders), assigned=len(self._by_robot))

    def command(self, rec: CommandRecord, ref: str, now: float) -> None:
        """order.place / order.cancel / order.pickup from rd:commands.

        ``ref`` (the entry id) is acked together with the outcome event.
        """
        try:
            if rec.type == CommandType.ORDER_PLACE:
                self._place(msgspec.convert(rec.args, _Place), ref, now)
                return
            target = msgspec.convert(rec.args, _Ref)
        except msgspec.ValidationError as exc:
            self._refuse(rec, ref, "invalid_order", str(exc))
            return
        order = self.orders.get(target.order)
        if order is None:
            self._refuse(rec, ref, "unknown_order", f"no open order {target.order!r}")
        elif rec.type == CommandType.ORDER_CANCEL:
            self._cancel(order, ref, now)
        else:
            self._pickup(order, rec, ref, now)

    def robot_state(self, session: RobotSession, previous: str | None, now: float) -> None:
        """The robot reported a new operational state (already checked by its machine)."""
        state = session.state
        if state in _FREE_SERVING | {"ready"} and session.id not in self._by_robot:
            self._idle_since.setdefault(session.id, now)
        if state == "charging" or (session.battery or 0) >= self.settings.min_battery:
            session.docking = False
        task = self._by_robot.get(session.id)
        if task is None:
            self._stray(session, now)
            return
        self._progress(task, state, previous, session.task, now)
        self._assign(now)

    def _progress(
        self, task: Task, state: str | None, previous: str | None, robot_task: str, now: float
    ) -> None:
        """What a state report of the robot holding ``task`` does to it."""
        if state in _FAILED:
            self._release(task, now, reason=f"robot reported {state}")
        elif task.kind == "cook":
            if state == "ready" and robot_task == task.id:
                self._done(task, now)
            elif state == "idle" and previous == "cooking":
                self._release(task, now, reason="robot stopped cooking")
        elif state == "returning" and previous == "at_table":
            self._done(task, now)  # the guest took the dishes
        elif state == "idle" and previous in ("assigned", "en_route"):
            self._release(task, now, reason="robot dropped the delivery")

    def catch_up(self, reports: Sequence[tuple[str, str, str | None, str, str]], now: float) -> int:
        """State reports a previous dispatcher may not have applied, oldest first: (robot,
        state, previous, the robot's task, the task its assignment was to). Each moves the
        task it concerns on, if the robot still holds that task. Returns how many did."""
        applied = 0
        for robot, state, previous, robot_task, assigned in reports:
            task = self._by_robot.get(robot)
            if task is None or task.id != assigned or task.status is not TaskStatus.ASSIGNED:
                continue
            self._progress(task, state, previous, robot_task, now)
            applied += 1
        self._assign(now)
        return applied

    def assigned(self) -> dict[str, str]:
        """Robot -> the id of the task it holds."""
        return {robot: task.id for robot, task in self._by_robot.items()}

    def robot_offline(self, session: RobotSession, now: float) -> None:
        task = self._by_robot.get(session.id)
        if task is not None:
            self._release(task, now, reason="robot offline")
            self._assign(now)

    def tick(self, now: float) -> None:
        self._send_low_batteries_to_dock(now)
        self._assign(now)

    def _outcome(self, command: str, robot: str, ok: bool, reason: str) -> None:
        task = self._by_command.pop(command, None)
        if task is not None and not ok and task.command == command:
            self._release(task, None, reason=f"command failed: {reason}")

    # ---- orders ---------------------------------------------------------------

    def _place(self, place: _Place, ref: str, now: float) -> None:
        if place.order in self.orders:
            self.writer.event(EventType.COMMAND_DUPLICATE, ack=ref, data={"order": place.order})
            return
        tasks = [
            Task(
                id=f"{place.order}:c{i}",
                kind="cook",
                args={
                    "recipe": line.recipe,
                    "order": place.order,
                    "item": line.name,
                    "quantity": line.quantity,
                    "seconds": self.settings.cook_seconds * line.quantity,
                },
            )
            for i, line in enumerate(place.items)
            if line.recipe
        ]
        tasks.append(
            Task(
                id=f"{place.order}:d",
                kind="deliver",
                args={"x": place.table.x, "y": place.table.y, "table": place.table.name},
            )
        )
        order = Order(
            id=place.order,
            table=place.table.name,
            status=OrderStatus.PLACED,
            tasks=tasks,
            placed=now,
        )
        self.orders[order.id] = order
        self._status(order, OrderStatus.PLACED, None, ack=ref)
        self._assign(now)

    def _cancel(self, order: Order, ref: str, now: float) -> None:
        if OrderStatus.CANCELLED not in ORDER[order.status]:
            self._refuse_order(order, ref, "already_delivered")
            return
        for task in order.tasks:
            if task.status is TaskStatus.ASSIGNED:
                self._by_robot.pop(task.robot, None)
                self.commands.send(task.robot, CommandAction.CANCEL, {"task": task.id}, now)
            if task.status is not TaskStatus.DONE:
                self._move(task, TaskStatus.CANCELLED)
        self._status(order, OrderStatus.CANCELLED, order.status, ack=ref)

    def _pickup(self, order: Order, rec: CommandRecord, ref: str, now: float) -> None:
        task = order.tasks[-1]
        session = self.sessions.get(task.robot)
        if task.status is not TaskStatus.ASSIGNED or session is None or session.state != "at_table":
            self._refuse(rec, ref, "not_at_table", "no robot is waiting at the table")
            return
        self.commands.send(task.robot, CommandAction.PICKUP_DONE, {"task": task.id}, now)
        self.writer.event(
            EventType.COMMAND_ACKED,
            task.robot,
            ack=ref,
            data={"order": order.id, "action": "pickup", "source": rec.source},
        )

    # ---- tasks ----------------------------------------------------------------

    def _assign(self, now: float) -> None:
        for order in list(self.orders.values()):
            if order.status is OrderStatus.CANCELLED:
                continue
            cooking_done = all(t.status is TaskStatus.DONE for t in order.tasks if t.kind == "cook")
            for task in order.tasks:
                if task.status is not TaskStatus.PENDING or (
                    task.kind == "deliver" and not cooking_done
                ):
                    continue
                robot = self._pick(task)
                if robot is None:
                    continue
                action = CommandAction.COOK if task.kind == "cook" else CommandAction.GOTO
                command = self.commands.send(robot.id, action, {**task.args, "task": task.id}, now)
                if command is None or not self._move(task, TaskStatus.ASSIGNED):
                    continue
                task.robot, task.command = robot.id, command
                task.attempts += 1
                self._by_robot[robot.id] = task
                self._by_command[command] = task
                self._idle_since.pop(robot.id, None)
                self.writer.event(
                    EventType.TASK_ASSIGNED,
                    robot.id,
                    data={
                        "order": order.id,
                        "task": task.id,
                        "kind": task.kind,
                        "attempt": task.attempts,
                    },
                )
            self._advance(order)

    def _pick(self, task: Task) -> RobotSession | None:
        free = [
            s
            for s in self.sessions.values()
            if s.link is not None and s.conn is ConnState.ONLINE and s.id not in self._by_robot
        ]
        if task.kind == "cook":
            cooks = [s for s in free if s.kind is RobotKind.COOKING and s.state == "idle"]
            return min(cooks, key=lambda s: self._idle_since.get(s.id, math.inf), default=None)
        minimum = self.settings.min_battery
        carriers = [
            s
            for s in free
            if s.kind is RobotKind.SERVING
            and s.state in _FREE_SERVING
            and s.battery is not None
            and s.battery >= minimum
            and not s.docking
        ]
        kx, ky = self.kitchen.x, self.kitchen.y
        return min(
            carriers,
            key=lambda s: (math.hypot(s.x - kx, s.y - ky), -(s.battery or 0)),
            default=None,
        )

    def _done(self, task: Task, now: float) -> None:
        self._by_robot.pop(task.robot, None)
        if not self._move(task, TaskStatus.DONE):
            return
        self._idle_since[task.robot] = now
        order = self.orders.get(task.id.rsplit(":", 1)[0])
        if order is not None:
            self._advance(order)

    def _release(self, task: Task, now: float | None, *, reason: str) -> None:
        if task.status is not TaskStatus.ASSIGNED:
            return  # a late outcome of a task already done or cancelled
        robot = task.robot
        self._by_robot.pop(robot, None)
        self._move(task, TaskStatus.PENDING)
        task.robot, task.command = "", ""
        order_id = task.id.rsplit(":", 1)[0]
        self.writer.event(
            EventType.TASK_RELEASED,
            robot,
            level=Level.WARNING,
            data={"order": order_id, "task": task.id, "kind": task.kind, "reason": reason},
        )
        log.warning("task_released", robot=robot, task=task.id, reason=reason)
        if order_id in self.orders:
            self._persist(self.orders[order_id])

    def _stray(self, session: RobotSession, now: float) -> None:
        """A robot busy with a task it no longer holds (reassigned while it was away): stop it."""
        if not session.task or session.state in _FREE_SERVING | _FAILED | {"ready", "returning"}:
            return
        order = self.orders.get(session.task.rsplit(":", 1)[0])
        task = next((t for t in order.tasks if t.id == session.task), None) if order else None
        if task is not None and task.robot != session.id:
            self.commands.send(session.id, CommandAction.CANCEL, {"task": task.id}, now)
            log.info("stray_task_cancelled", robot=session.id, task=task.id, holder=task.robot)

    def _send_low_batteries_to_dock(self, now: float) -> None:
        for s in self.sessions.values():
            low = s.battery is not None and s.battery < self.settings.dock_below
            idle = s.kind is RobotKind.SERVING and s.state == "idle" and s.id not in self._by_robot
            if (
                low
                and idle
                and not s.docking
                and s.link is not None
                and self.commands.send(s.id, CommandAction.DOCK, {}, now) is not None
            ):
                s.docking = True
                log.info("robot_sent_to_dock", robot=s.id, battery=s.battery)

    # ---- status ---------------------------------------------------------------

    def _advance(self, order: Order) -> None:
        if order.status in (OrderStatus.DELIVERED, OrderStatus.CANCELLED):
            return
        cooks = [t for t in order.tasks if t.kind == "cook"]
        delivery = order.tasks[-1]
        if delivery.status is TaskStatus.DONE:
            status = OrderStatus.DELIVERED
        elif delivery.status is TaskStatus.ASSIGNED:
            status = OrderStatus.DELIVERING
        elif all(t.status is TaskStatus.DONE for t in cooks):
            status = OrderStatus.READY
        elif any(t.status is not TaskStatus.PENDING for t in cooks):
            status = OrderStatus.COOKING
        else:
            status = OrderStatus.PLACED
        # Statuses only move forward (order_states.ORDER): a delivery handed to another
        # robot stays "delivering", a cook task given back leaves the order "cooking".
        if status in ORDER[order.status]:
            self._status(order, status, order.status)
        else:
            self._persist(order)

    def _status(
        self,
        order: Order,
        status: OrderStatus,
        previous: OrderStatus | None,
        *,
        ack: str | None = None,
    ) -> None:
        order.status = status if previous is None else move_order(previous, status)
        delivery = order.tasks[-1]
        self.writer.event(
            EventType.ORDER_STATUS,
            delivery.robot,
            ack=ack,
            data={"order": order.id, "status": status, "previous": previous, "table": order.table},
        )
        log.info("order_status", order=order.id, status=status)
        self._persist(order)

    def _move(self, task: Task, status: TaskStatus) -> bool:
        """Move a task by the table; an impossible move is refused, counted and logged."""
        try:
            task.status = move_task(task.status, status)
        except IllegalTransition as exc:
            self.stats.inc("transitions_refused", "task")
            log.error("task_transition_refused", task=task.id, robot=task.robot, error=str(exc))
            return False
        return True

    def _persist(self, order: Order) -> None:
        if order.status in (OrderStatus.DELIVERED, OrderStatus.CANCELLED):
            self.orders.pop(order.id, None)
            for task in order.tasks:
                if self._by_robot.get(task.robot) is task:
                    del self._by_robot[task.robot]
            self.writer.hash_put(KEYS.dispatch, order.id, None)
        else:
            self.writer.hash_put(KEYS.dispatch, order.id, msgspec.json.encode(order).decode())

    def _refuse(self, rec: CommandRecord, ref: str, reason: str, detail: str) -> None:
        self.writer.event(
            EventType.COMMAND_FAILED,
            level=Level.WARNING,
            ack=ref,
            data={
                "command": rec.id,
                "action": rec.type,
                "reason": reason,
                "detail": detail,
                "order": rec.args.get("order"),
            },
        )

    def _refuse_order(self, order: Order, ref: str, reason: str) -> None:
        self.writer.event(
            EventType.COMMAND_FAILED,
            level=Level.WARNING,
            ack=ref,
            data={"order": order.id, "reason": reason, "status": order.status},
        )
