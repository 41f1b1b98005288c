"""The order and task tables, and the dispatcher held to them under random robots."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fleet.order_states import (
    ORDER,
    TASK,
    IllegalTransition,
    OrderStatus,
    TaskStatus,
    move_order,
    move_task,
)
from gateway.fleet.states import apply_reported, operational_table
from protocol.streams import CommandType, EventType
from protocol.vocabulary import CommandAction
from tests.support.fleet import DISHES, Floor

S = TypeVar("S", OrderStatus, TaskStatus)
FINAL_ORDERS = {OrderStatus.DELIVERED, OrderStatus.CANCELLED}
FINAL_TASKS = {TaskStatus.DONE, TaskStatus.CANCELLED}
RANK = list(OrderStatus)


def reachable(table: Mapping[S, frozenset[S]], start: S) -> set[S]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in table[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_tables_cover_every_status_and_end_in_the_final_ones() -> None:
    assert set(ORDER) == set(OrderStatus) and set(TASK) == set(TaskStatus)
    for s in OrderStatus:
        assert (not ORDER[s]) == (s in FINAL_ORDERS)
        if s not in FINAL_ORDERS:
            assert reachable(ORDER, s) >= FINAL_ORDERS  # it can always be finished
            assert OrderStatus.CANCELLED in ORDER[s]  # and always be cancelled
    for t in TaskStatus:
        assert (not TASK[t]) == (t in FINAL_TASKS)
    assert reachable(ORDER, OrderStatus.PLACED) == set(OrderStatus)
    assert reachable(TASK, TaskStatus.PENDING) == set(TaskStatus)
    # only a task a robot holds can be done
    assert [t for t in TaskStatus if TaskStatus.DONE in TASK[t]] == [TaskStatus.ASSIGNED]


def test_orders_only_move_forward() -> None:
    for s, nexts in ORDER.items():
        for n in nexts - {OrderStatus.CANCELLED}:
            assert RANK.index(n) > RANK.index(s)


@given(st.sampled_from(OrderStatus), st.sampled_from(OrderStatus))
def test_move_order_applies_exactly_the_table(current: OrderStatus, wanted: OrderStatus) -> None:
    try:
        got = move_order(current, wanted)
    except IllegalTransition as exc:
        refused = (exc.current, exc.requested)
        assert wanted not in ORDER[current] and refused == (current, wanted)
    else:
        assert wanted in ORDER[current] and got is wanted


@given(st.sampled_from(TaskStatus), st.sampled_from(TaskStatus))
def test_move_task_applies_exactly_the_table(current: TaskStatus, wanted: TaskStatus) -> None:
    try:
        got = move_task(current, wanted)
    except IllegalTransition:
        assert wanted not in TASK[current]
    else:
        assert wanted in TASK[current] and got is wanted


@given(st.lists(st.sampled_from(OrderStatus), max_size=30))
def test_any_walk_of_requests_leaves_a_forward_path(requests: list[OrderStatus]) -> None:
    status, path = OrderStatus.PLACED, [OrderStatus.PLACED]
    for wanted in requests:
        try:
            status = move_order(status, wanted)
        except IllegalTransition:
            continue  # refused: nothing changed
        path.append(status)
    ranks = [RANK.index(s) for s in path if s is not OrderStatus.CANCELLED]
    assert ranks == sorted(set(ranks))  # strictly forward, nothing told twice
    assert all(s not in FINAL_ORDERS for s in path[:-1])  # nothing after a final status


# ---- the dispatcher, driven by random robots ----------------------------------

ROBOT_IDS = ["cook-1", "cook-2", "serve-1", "serve-2"]
step = st.one_of(
    st.tuples(st.just("place"), st.integers(0, 3)),
    st.tuples(st.just("report"), st.sampled_from(ROBOT_IDS), st.integers(0, 7)),
    st.tuples(st.just("ack"), st.sampled_from(ROBOT_IDS), st.booleans()),
    st.tuples(st.just("offline"), st.sampled_from(ROBOT_IDS)),
    st.tuples(st.just("online"), st.sampled_from(ROBOT_IDS)),
    st.tuples(
        st.just("battery"), st.sampled_from(ROBOT_IDS[2:]), st.sampled_from([10.0, 25.0, 90.0])
    ),
    st.tuples(st.just("cancel"), st.integers(0, 3)),
    st.tuples(st.just("pickup"), st.integers(0, 3)),
    st.tuples(st.just("tick"), st.sampled_from([0.25, 2.5])),
)


def _apply(f: Floor, orders: list[str], action: tuple[Any, ...]) -> None:
    kind = action[0]
    if kind == "place":
        order = f"o{len(orders)}"
        orders.append(order)
        f.place(DISHES[action[1] % 3 :] or DISHES[2:], order=order)
    elif kind in ("cancel", "pickup") and orders:
        order = orders[action[1] % len(orders)]
        typ = CommandType.ORDER_CANCEL if kind == "cancel" else CommandType.ORDER_PICKUP
        f.dispatcher.command(f.record(typ, order=order), "1-0", f.now)
    elif kind in ("report", "ack", "offline", "battery") and f.sessions[action[1]].link is None:
        return
    elif kind == "report":
        s = f.sessions[action[1]]
        states = sorted(operational_table(s.kind))
        wanted = states[action[2] % len(states)]
        try:
            apply_reported(s.kind, s.state, wanted)  # what the fleet lets through
        except IllegalTransition:
            return
        link = f.links[s.id]
        last = [c for c in link.commands() if c.action in (CommandAction.COOK, CommandAction.GOTO)]
        f.report(s.id, wanted, last[-1].args["task"] if last else "")
    elif kind == "ack":
        link = f.links[action[1]]
        for cmd in link.commands():
            if cmd.id in f.sessions[action[1]].pending:
                f.ack(action[1], cmd, ok=action[2], reason=None if action[2] else "busy")
    elif kind == "offline":
        f.offline(action[1])
    elif kind == "online" and f.sessions[action[1]].link is None:
        f.online(action[1], state="idle", battery=f.sessions[action[1]].battery or 80.0)
    elif kind == "battery":
        f.sessions[action[1]].battery = action[2]
    elif kind == "tick":
        f.tick(action[1])


def _tasks(f: Floor) -> dict[str, tuple[TaskStatus, str]]:
    return {t.id: (t.status, t.robot) for o in f.dispatcher.orders.values() for t in o.tasks}


@settings(max_examples=150)
@given(st.lists(step, max_size=60))
def test_random_robots_never_break_the_tables_or_share_a_task(steps: list[tuple[Any, ...]]) -> None:
    f = Floor()
    for robot in ROBOT_IDS:
        f.online(robot)
    orders: list[str] = []
    closure = {t: reachable(TASK, t) for t in TaskStatus}
    before = _tasks(f)
    for action in steps:
        _apply(f, orders, action)
        after = _tasks(f)
        for task, (status, _) in after.items():
            if task in before:  # every change a task went through follows its table
                assert status in closure[before[task][0]], (task, before[task], status)
        holders = [robot for status, robot in after.values() if status is TaskStatus.ASSIGNED]
        assert len(holders) == len(set(holders)), after  # one task per robot at a time
        assert all(robot for status, robot in after.values() if status is TaskStatus.ASSIGNED)
        before = after
    told: dict[str, list[OrderStatus]] = {}
    for e in f.out.of(EventType.ORDER_STATUS):
        told.setdefault(e.data["order"], []).append(OrderStatus(e.data["status"]))
    for order, path in told.items():
        assert path[0] is OrderStatus.PLACED, (order, path)
        for a, b in itertools.pairwise(path):
            assert b in ORDER[a], (order, path)  # every status told is a step of the table
