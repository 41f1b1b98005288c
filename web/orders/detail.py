"""An order's tasks as people ask about them: who cooked each dish, who carried it, who
dropped out and why (pure: derived from the task events the projector recorded).

The dispatcher names a cook task ``{order}:c{i}`` for line ``i + 1`` and the
delivery ``{order}:d`` (docs/orders.md). Each ``task.assigned`` starts an
attempt; a ``task.released`` ends the robot's attempt with its reason (the
task is then assigned again: a reassignment). No event says a task finished:
an attempt still open is ``done`` once the order is past the task's step
(``ready`` for dishes, ``delivered`` for the delivery), ``cancelled`` when the
order was, else ``running``.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.streams import OrderStatus
from web.orders.schemas import OrderLineOut, OrderLogEntry, TaskAttempt

_RANK = {s: i for i, s in enumerate(OrderStatus)}
_DONE_AT = {"cook": OrderStatus.READY, "deliver": OrderStatus.DELIVERED}


def _line(task: str, lines: Sequence[OrderLineOut]) -> OrderLineOut | None:
    _, _, tail = task.rpartition(":")
    if tail.startswith("c") and tail[1:].isdigit():
        n = int(tail[1:]) + 1
        return next((ln for ln in lines if ln.line == n), None)
    return None


def task_attempts(
    status: str, lines: Sequence[OrderLineOut], log: Sequence[OrderLogEntry]
) -> list[TaskAttempt]:
    """Every attempt at every task of the order, oldest first."""
    attempts: list[TaskAttempt] = []
    open_by_task: dict[str, TaskAttempt] = {}
    for entry in log:
        task = str(entry.data.get("task") or "")
        if not task:
            continue
        if entry.type == "task.assigned":
            line = _line(task, lines)
            attempt = TaskAttempt(
                task=task,
                kind="cook" if entry.data.get("kind") == "cook" else "deliver",
                robot=entry.robot,
                attempt=int(entry.data.get("attempt") or len(attempts) + 1),
                item=line.name if line is not None else "",
                line=line.line if line is not None else None,
                assigned_at=entry.at,
                outcome="running",
            )
            previous = open_by_task.get(task)
            if previous is not None and previous.outcome == "running":
                previous.outcome = "replaced"  # assigned again without a release we saw
            open_by_task[task] = attempt
            attempts.append(attempt)
        elif entry.type == "task.released":
            held = open_by_task.get(task)
            if held is not None and held.outcome == "running":
                held.outcome = "released"
                held.released_at = entry.at
                held.reason = str(entry.data.get("reason") or "")
    rank = _RANK.get(OrderStatus(status), 0) if status in _RANK else 0
    for attempt in attempts:
        if attempt.outcome != "running":
            continue
        if status == OrderStatus.CANCELLED:
            attempt.outcome = "cancelled"
        elif rank >= _RANK[_DONE_AT[attempt.kind]] and status != OrderStatus.CANCELLED:
            attempt.outcome = "done"
    return attempts


def cooked_by(attempts: Sequence[TaskAttempt]) -> list[str]:
    """The robots that cooked a dish of the order (their attempt was not released), in order."""
    out: list[str] = []
    for a in attempts:
        if a.kind == "cook" and a.outcome in ("done", "running") and a.robot not in out:
            out.append(a.robot)
    return out


def carried_by(attempts: Sequence[TaskAttempt]) -> str:
    """The serving robot that carried (or carries) it: the last delivery attempt not released."""
    for a in reversed(attempts):
        if a.kind == "deliver" and a.outcome in ("done", "running"):
            return a.robot
    return ""
