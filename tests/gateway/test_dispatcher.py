"""The dispatcher on its own: orders -> tasks -> robots, at a clock the test turns.

No sockets, no Redis: the fleet's output port is an in-memory recorder
(tests/gateway/recorder.py) and each robot's link keeps the commands it was
sent. Robots report states as the fleet would hand them on, after their
state machine accepted them.
"""

from __future__ import annotations

import pytest

from gateway.fleet.order_states import TaskStatus
from protocol.messages import Command
from protocol.streams import DISPATCH, CommandType, EventType, OrderStatus
from protocol.vocabulary import CommandAction
from tests.support.fleet import DISHES, Floor

TEA = [DISHES[2]]


def only(cmds: list[Command]) -> Command:
    assert len(cmds) == 1, cmds
    return cmds[0]


def test_an_order_becomes_cook_tasks_then_one_delivery_by_the_nearest_robot() -> None:
    f = Floor()
    cooks = [f.online("cook-1"), f.online("cook-2")]
    near = f.online("serve-1", x=2.0, y=6.0)
    far = f.online("serve-2", x=18.0, y=10.0)
    ref = f.place(DISHES)
    placed = f.out.of(EventType.ORDER_STATUS)[0]
    assert placed.data == {"order": "o1", "status": "placed", "previous": None, "table": "T3"}
    assert placed.ack == ref  # the rd:commands entry is acknowledged with it
    sent = [only(link.take()) for link in cooks]
    assert sorted(
        (c.action, c.args["recipe"], c.args["quantity"], c.args["seconds"]) for c in sent
    ) == [("cook", "bibimbap", 1, 20.0), ("cook", "japchae", 2, 40.0)]
    assert {c.args["task"] for c in sent} == {"o1:c0", "o1:c1"}  # the tea is no robot's task
    assert f.statuses() == ["placed", "cooking"]
    assert near.sent == [] and far.sent == []  # nothing to carry until every dish is ready

    for robot, cmd in zip(("cook-1", "cook-2"), sent, strict=True):
        f.ack(robot, cmd)
        f.report(robot, "cooking", cmd.args["task"])
    f.report("cook-1", "ready")
    assert near.sent == [] and f.statuses() == ["placed", "cooking"]
    f.report("cook-2", "ready")
    assert f.statuses() == ["placed", "cooking", "ready", "delivering"]
    goto = only(near.take())
    assert (goto.action, goto.args) == (
        CommandAction.GOTO, {"x": 10.0, "y": 2.0, "table": "T3", "task": "o1:d"}
    )  # fmt: skip
    assert far.sent == []
    saved = f.saved()
    assert saved is not None and saved.tasks[-1].robot == "serve-1"  # rd:dispatch follows

    f.ack("serve-1", goto)
    f.report("serve-1", "en_route", "o1:d")
    f.report("serve-1", "at_table")
    f.dispatcher.command(f.record(CommandType.ORDER_PICKUP, order="o1"), "9-0", f.now)
    assert only(near.take()).action == CommandAction.PICKUP_DONE
    f.report("serve-1", "returning")
    assert f.statuses()[-1] == "delivered"
    assert f.out.of(EventType.ORDER_STATUS)[-1].robot == "serve-1"
    assert "o1" not in f.dispatcher.orders and f.saved() is None  # closed: gone from the hash
    assert [e.data["task"] for e in f.out.of(EventType.TASK_ASSIGNED)] == [
        "o1:c0", "o1:c1", "o1:d"
    ]  # fmt: skip


def test_a_robot_that_faults_mid_delivery_loses_it_to_another_once() -> None:
    f = Floor()
    first = f.online("serve-1", x=2.0, y=6.0)
    second = f.online("serve-2", x=9.0, y=6.0)
    f.place(TEA)
    goto = only(first.take())
    f.report("serve-1", "en_route", goto.args["task"])
    f.report("serve-1", "error")
    [released] = f.out.of(EventType.TASK_RELEASED)
    assert (released.robot, released.data["reason"]) == ("serve-1", "robot reported error")
    again = only(second.take())
    assert again.args["task"] == "o1:d" and again.id != goto.id
    assert [e.data["attempt"] for e in f.out.of(EventType.TASK_ASSIGNED)] == [1, 2]
    # still delivering: no status goes back, none is told twice (nothing to cook and a
    # robot free at once: `ready` is skipped, as the order table allows)
    assert f.statuses() == ["placed", "delivering"]

    # the first robot is released and resumes its old task: it is told to cancel
    f.report("serve-1", "idle")
    f.report("serve-1", "en_route", "o1:d")
    stop = only(first.take())
    assert (stop.action, stop.args) == (CommandAction.CANCEL, {"task": "o1:d"})
    f.report("serve-1", "returning")  # its trip ending does not deliver the order
    assert f.statuses()[-1] == "delivering"
    f.report("serve-2", "en_route", "o1:d")
    f.report("serve-2", "at_table")
    f.report("serve-2", "returning")
    assert f.statuses() == ["placed", "delivering", "delivered"]


def test_a_robot_that_goes_offline_loses_its_cook_task_to_an_idle_cook() -> None:
    f = Floor()
    busy = f.online("cook-1")
    f.now += 1  # cook-2 has been idle for less time
    spare = f.online("cook-2", state="cooking")
    f.place([DISHES[0]])
    cmd = only(busy.take())
    f.offline("cook-1")
    [released] = f.out.of(EventType.TASK_RELEASED)
    assert released.data["reason"] == "robot offline"
    assert spare.sent == []  # busy cooking something else
    f.report("cook-2", "idle", "")
    f.tick()  # a robot that comes free is given work on the next tick
    assert only(spare.take()).args["task"] == cmd.args["task"]
    saved = f.saved()
    assert saved is not None and saved.tasks[0].robot == "cook-2"
    assert saved.tasks[0].attempts == 2


def test_a_refused_or_unanswered_command_gives_the_task_back_for_the_next_tick() -> None:
    f = Floor()
    a = f.online("serve-1", x=1.0, y=6.0)
    b = f.online("serve-2", x=5.0, y=6.0)
    f.place(TEA)
    f.ack("serve-1", only(a.take()), ok=False, reason="tray full")
    assert f.out.of(EventType.TASK_RELEASED)[0].data["reason"] == "command failed: tray full"
    f.report("serve-1", "en_route")  # staff drive it away: not free
    f.tick()
    cmd = only(b.take())
    start = f.now
    while len(f.out.of(EventType.TASK_RELEASED)) < 2:  # unanswered
        f.tick()
    assert f.now - start == pytest.approx(6.0, abs=0.3)  # 3 attempts, 2 s each
    sent = b.take()
    assert [(c.id, c.attempt) for c in sent[:2]] == [(cmd.id, 2), (cmd.id, 3)]
    reasons = [e.data["reason"] for e in f.out.of(EventType.TASK_RELEASED)]
    assert reasons == ["command failed: tray full", "command failed: timeout"]
    timeout = f.out.of(EventType.COMMAND_FAILED)[-1]
    assert (timeout.data["command"], timeout.data["reason"]) == (cmd.id, "timeout")
    # in the same tick, the task goes out again (a new command) to the one free robot
    assert [(c.id != cmd.id, c.args["task"]) for c in sent[2:]] == [(True, "o1:d")]
    assert [e.data["attempt"] for e in f.out.of(EventType.TASK_ASSIGNED)] == [1, 2, 3]


def test_low_battery_robots_dock_and_take_no_delivery_until_charged() -> None:
    f = Floor()
    low = f.online("serve-1", battery=15.0, x=1.0, y=6.0)  # under dock_below (20)
    weak = f.online("serve-2", battery=25.0, x=1.0, y=6.0)  # under min_battery (30)
    f.tick()
    assert only(low.take()).action == CommandAction.DOCK
    assert weak.sent == []  # above dock_below: left alone
    f.tick()
    assert low.sent == []  # sent once, not every tick
    f.place(TEA)
    assert low.sent == [] and weak.sent == []  # neither takes the delivery
    assert f.dispatcher.orders["o1"].tasks[0].status is TaskStatus.PENDING

    f.report("serve-1", "en_route")  # on its way to the dock
    f.report("serve-1", "charging")
    f.tick()
    assert low.sent == []  # charging, but still under min_battery
    f.sessions["serve-1"].battery = 31.0  # telemetry while it charges
    f.tick()
    assert only(low.take()).args["task"] == "o1:d"  # a charging robot may go
    assert f.statuses() == ["placed", "ready", "delivering"]


def test_a_restarted_dispatcher_takes_up_open_orders_from_rd_dispatch() -> None:
    f = Floor()
    cook = f.online("cook-1")
    f.place(DISHES[:2], order="o1")
    f.place(TEA, order="o2")  # no serving robot online: its delivery waits
    first = only(cook.take())
    saved = {k.encode(): v.encode() for k, v in f.out.hashes[DISPATCH].items()}
    saved[b"broken"] = b"{not json"

    g = Floor()  # a new gateway: new sessions, the saved state
    g.dispatcher.load(saved)
    assert set(g.dispatcher.orders) == {"o1", "o2"}
    g.online("cook-1", state="cooking")
    g.sessions["cook-1"].task = first.args["task"]
    g.report("cook-1", "ready")  # finished what the old gateway gave it
    o1 = g.dispatcher.orders["o1"]
    assert [t.status for t in o1.tasks] == [TaskStatus.DONE, TaskStatus.PENDING, TaskStatus.PENDING]
    g.report("cook-1", "idle")
    g.tick()
    second = only(g.links["cook-1"].take())
    assert second.args["task"] == "o1:c1"
    server = g.online("serve-1")
    g.tick()
    assert only(server.take()).args["task"] == "o2:d"  # the waiting delivery went out
    # and the same order placed again (an outbox resend) is a duplicate, not a second order
    g.place(TEA, order="o2")
    assert g.out.of(EventType.COMMAND_DUPLICATE)[0].data == {"order": "o2"}


def test_cancel_and_bad_order_commands_are_answered() -> None:
    f = Floor()
    cook = f.online("cook-1")
    f.place(DISHES[:1])
    cmd = only(cook.take())
    f.dispatcher.command(f.record(CommandType.ORDER_CANCEL, order="o1"), "2-0", f.now)
    stop = only(cook.take())
    assert (stop.action, stop.args) == (CommandAction.CANCEL, {"task": cmd.args["task"]})
    assert f.statuses() == ["placed", "cooking", "cancelled"]
    assert f.saved() is None
    f.report("cook-1", "cooking", cmd.args["task"])
    f.report("cook-1", "ready")  # too late: nothing becomes of it
    assert f.statuses()[-1] == "cancelled"

    f.dispatcher.command(f.record(CommandType.ORDER_CANCEL, order="o1"), "3-0", f.now)
    f.dispatcher.command(f.record(CommandType.ORDER_PICKUP, order="nope"), "4-0", f.now)
    f.dispatcher.command(f.record(CommandType.ORDER_PLACE, order="o9", items=[]), "5-0", f.now)
    failed = f.out.of(EventType.COMMAND_FAILED)
    assert [(e.data["reason"], e.ack) for e in failed] == [
        ("unknown_order", "3-0"), ("unknown_order", "4-0"), ("invalid_order", "5-0")
    ]  # fmt: skip


def test_pickup_is_refused_unless_a_robot_waits_at_the_table() -> None:
    f = Floor()
    server = f.online("serve-1")
    f.place(TEA)
    server.take()
    f.dispatcher.command(f.record(CommandType.ORDER_PICKUP, order="o1"), "7-0", f.now)
    assert f.out.of(EventType.COMMAND_FAILED)[0].data["reason"] == "not_at_table"
    assert server.sent == []


@pytest.mark.parametrize("status", [OrderStatus.DELIVERED, OrderStatus.CANCELLED])
def test_a_closed_order_cannot_be_cancelled(status: OrderStatus) -> None:
    f = Floor()
    f.place(TEA)
    order = f.dispatcher.orders["o1"]
    order.status = status  # as loaded from a state that was never cleaned up
    f.dispatcher.command(f.record(CommandType.ORDER_CANCEL, order="o1"), "8-0", f.now)
    failed = f.out.of(EventType.COMMAND_FAILED)
    assert [(e.data["reason"], e.data["status"]) for e in failed] == [("already_delivered", status)]


def test_an_impossible_task_move_is_refused_counted_and_not_applied() -> None:
    f = Floor()
    server = f.online("serve-1")
    f.place(TEA)
    server.take()
    task = f.dispatcher.orders["o1"].tasks[0]
    task.status = TaskStatus.CANCELLED  # what no rule of the dispatcher does
    f.report("serve-1", "en_route", task.id)
    f.report("serve-1", "at_table")
    f.report("serve-1", "returning")  # would be `done`, from cancelled
    assert task.status is TaskStatus.CANCELLED
    assert f.stats.get("transitions_refused", "task") == 1
    assert "delivered" not in f.statuses()


def test_a_refusal_says_its_error_code_when_its_detail_starts_with_one() -> None:
    from gateway.fleet.commands import refusal_reason

    assert refusal_reason("unsupported_version: the AGV announces '3.0.0'") == "unsupported_version"
    assert refusal_reason("goto: no table 'T9' on the floor graph") == "refused"
    assert refusal_reason("busy") == "refused"
    assert refusal_reason(None) == "refused"


def test_a_new_leader_catches_up_with_reports_its_predecessor_missed() -> None:
    f = Floor()
    cook = f.online("cook-1")
    f.place(DISHES[:1], order="o1")  # one cook task, then the delivery
    f.place(DISHES[:1], order="o2")
    task1 = only(cook.take()).args["task"]
    assert task1 == "o1:c0"
    saved = {k.encode(): v.encode() for k, v in f.out.hashes[DISPATCH].items()}

    g = Floor()  # the new leader: the saved state, robots already idle again
    g.dispatcher.load(saved)
    g.online("cook-1", state="idle")
    assert g.dispatcher.assigned() == {"cook-1": "o1:c0"}
    applied = g.dispatcher.catch_up(
        [
            ("cook-1", "cooking", "idle", "o1:c0", "o1:c0"),
            ("cook-1", "ready", "cooking", "o1:c0", "o1:c0"),
            ("cook-1", "idle", "ready", "", "o1:c0"),  # the task is done by then: skipped
            ("cook-1", "idle", "cooking", "", "o2:c0"),  # about a task it does not hold: skipped
        ],
        g.now,
    )
    assert applied == 2
    assert g.dispatcher.orders["o1"].tasks[0].status is TaskStatus.DONE
    assert g.statuses("o1") == ["ready"]  # moved on, not re-cooked
    # the robot is free again: the next cook task goes to it
    assert only(g.links["cook-1"].take()).args["task"] == "o2:c0"
