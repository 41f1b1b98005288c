"""The pure robot model: flows, refusals, resends, and properties under any command sequence."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.envelope import encode, gateway_decoder
from protocol.messages import Ack, Command, Event, State
from protocol.udp import DatagramDecoder, Dropped, encode_datagram
from protocol.vocabulary import CommandAction, RobotKind
from simulator.floorplan import FloorPlan
from simulator.model import ModelOptions, Outgoing, RobotModel
from tests.support.simulator import FLOOR, legal


class Run:
    """A model plus a clock, recording every state it reports."""

    def __init__(
        self,
        kind: RobotKind = RobotKind.SERVING,
        *,
        start: tuple[float, float] = (1.0, 6.0),
        battery: float = 80.0,
        **options: Any,
    ) -> None:
        self.floor = FloorPlan(FLOOR)
        self.now = 1000.0
        self.m = RobotModel(
            "serve-001" if kind is RobotKind.SERVING else "cook-001",
            kind,
            self.floor,
            self.now,
            options=ModelOptions(**options),
            rng=random.Random(3),
            start=start,
            battery=battery,
        )
        self.out: list[Outgoing] = []
        self._n = 0

    def cmd(self, action: str, cmd_id: str | None = None, **args: Any) -> Ack:
        self._n += 1
        out = self.m.handle(
            Command(id=cmd_id or f"c{self._n}", action=CommandAction(action), args=args), self.now
        )
        self.out += out
        ack = out[0]
        assert isinstance(ack, Ack)
        return ack

    def run(self, seconds: float, dt: float = 0.1) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = min(end, self.now + dt)
            self.out += self.m.tick(self.now)

    def until(self, state: str, limit: float = 120.0) -> float:
        start = self.now
        while self.m.state != state:
            self.run(0.1)
            assert self.now - start < limit, f"never reached {state}, stuck in {self.m.state}"
        return self.now - start

    def states(self) -> list[str]:
        return [str(m.state) for m in self.out if isinstance(m, State)]

    def events(self) -> list[str]:
        return [m.name for m in self.out if isinstance(m, Event)]

    def event(self, name: str) -> Event:
        return next(m for m in self.out if isinstance(m, Event) and m.name == name)


# ---- serving: deliveries ------------------------------------------------------


def test_delivery_goes_through_the_pass_to_the_table_and_back() -> None:
    r = Run(start=(3.0, 6.0))
    ack = r.cmd("goto", table="t1", task="order-1")
    assert ack.ok
    assert ack.data == {"x": 5.0, "y": 6.0, "state": "assigned"}
    assert r.states() == ["assigned"]
    r.until("en_route")  # 2 m to the pass at 0.7 m/s, then 0.5 s loading
    assert (r.m.x, r.m.y) == (1.0, 6.0)
    r.until("at_table")
    assert (r.m.x, r.m.y, r.m.speed) == (5.0, 6.0, 0.0)
    arrived = r.event("arrived")
    assert arrived.data == {"table": "t1", "task": "order-1", "x": 5.0, "y": 6.0}
    waited = r.until("returning")
    assert 2.9 <= waited <= 3.2  # pickup_s
    assert r.event("pickup_done").data == {"task": "order-1", "table": "t1", "auto": True}
    r.until("idle")
    assert (r.m.x, r.m.y) == (1.0, 6.0)
    assert r.states() == ["assigned", "en_route", "at_table", "returning", "idle"]
    assert r.events() == ["arrived", "pickup_done", "returned"]
    tasks = [m.task for m in r.out if isinstance(m, State)]
    assert tasks == ["order-1", "order-1", "order-1", "order-1", None]


def test_travel_time_follows_the_speed() -> None:
    r = Run(start=(1.0, 6.0), speed=0.7)
    r.cmd("goto", x=8.0, y=6.0)
    assert r.until("idle") == pytest.approx(10.0, abs=0.11)  # 7 m at 0.7 m/s


def test_heading_and_speed_while_moving() -> None:
    r = Run(start=(1.0, 1.0))
    r.cmd("goto", x=1.0, y=11.0)
    r.run(1.0)
    assert r.m.theta == pytest.approx(math.pi / 2)
    assert r.m.speed == pytest.approx(0.7)
    assert r.m.y == pytest.approx(1.7)


def test_pickup_done_command_releases_the_robot_early() -> None:
    r = Run(start=(1.0, 6.0), pickup_s=60.0)
    r.cmd("goto", table="t1", task="o-2")
    r.until("at_table")
    assert r.cmd("pickup_done").ok
    assert r.m.state == "returning"
    assert r.event("pickup_done").data["auto"] is False


def test_goto_with_only_a_table_skips_the_pass() -> None:
    r = Run(start=(3.0, 6.0))
    r.cmd("goto", table="t1")
    assert r.states() == ["en_route"]
    r.until("at_table")
    r.until("idle")
    assert r.states() == ["en_route", "at_table", "returning", "idle"]


def test_goto_a_pose_is_a_plain_move() -> None:
    r = Run(start=(3.0, 6.0))
    r.cmd("goto", x=10.0, y=3.0)
    r.until("idle")
    assert r.states() == ["en_route", "idle"]
    assert (r.m.x, r.m.y) == (10.0, 3.0)
    assert r.event("arrived").data == {"x": 10.0, "y": 3.0}


def test_explicit_pose_wins_over_the_tables_position() -> None:
    r = Run()
    ack = r.cmd("goto", table="t1", x=6.0, y=7.0, task="o")
    assert (ack.data["x"], ack.data["y"]) == (6.0, 7.0)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({}, "goto: needs x and y, or a known table"),
        ({"table": "t99"}, "goto: unknown table 't99' and no x, y given"),
        ({"x": 25.0, "y": 1.0}, "goto: (25.0, 1.0) is outside the 20.0 x 12.0 m floor"),
        ({"x": 1.0, "y": -0.5}, "goto: (1.0, -0.5) is outside the 20.0 x 12.0 m floor"),
        ({"x": "3", "y": 1.0}, "x must be a finite number, got '3'"),
        ({"x": True, "y": 1.0}, "x must be a finite number, got True"),
        ({"x": 1.0}, "y must be a finite number, got None"),
        ({"x": math.nan, "y": 1.0}, "x must be a finite number, got nan"),
        ({"x": 1.0, "y": 1.0, "task": 7}, "goto: task must be a string of 1 to 64 characters"),
        (
            {"x": 1.0, "y": 1.0, "task": "x" * 65},
            "goto: task must be a string of 1 to 64 characters",
        ),
        ({"table": 5}, "goto: table must be a string"),
    ],
)
def test_bad_goto_is_refused_with_a_reason(args: dict[str, Any], reason: str) -> None:
    r = Run()
    ack = r.cmd("goto", **args)
    assert (ack.ok, ack.reason) == (False, reason)
    assert r.states() == []
    assert r.m.state == "idle"


def test_busy_robot_refuses_another_delivery() -> None:
    r = Run()
    r.cmd("goto", table="t1", task="o-1")
    for state in ("assigned", "en_route", "at_table"):
        r.until(state)
        ack = r.cmd("goto", table="t2", task="o-2")
        assert not ack.ok
        assert ack.reason == f"goto: busy: {state} with task o-1"
        assert r.cmd("dock").reason == f"dock: busy: {state} with task o-1"


def test_returning_robot_takes_a_new_task_via_idle() -> None:
    r = Run()
    r.cmd("goto", table="t1", task="o-1")
    r.until("returning")
    assert r.cmd("goto", table="t2", task="o-2").ok
    assert r.states()[-2:] == ["idle", "assigned"]
    assert r.m.task == "o-2"


def test_moving_robot_is_retargeted_without_a_state_change() -> None:
    r = Run()
    r.cmd("goto", x=10.0, y=6.0)
    r.run(1.0)
    assert r.cmd("goto", x=2.0, y=2.0).ok
    r.until("idle")
    assert r.states() == ["en_route", "idle"]
    assert (r.m.x, r.m.y) == (2.0, 2.0)


def test_low_battery_refuses_deliveries_but_not_moves() -> None:
    r = Run(battery=10.0)
    ack = r.cmd("goto", table="t1", task="o-1")
    assert (ack.ok, ack.reason) == (False, "goto: battery low (10.0 %)")
    assert r.cmd("pause").ok  # keep it from docking by itself
    assert r.cmd("goto", x=3.0, y=3.0).ok


# ---- serving: battery and docking ---------------------------------------------------


def test_dock_goes_to_the_nearest_dock_charges_and_idles_when_full() -> None:
    r = Run(start=(2.0, 10.0), battery=95.0, charge_rate=5.0)
    ack = r.cmd("dock")
    assert ack.data == {"dock": "dock-2", "state": "en_route"}
    r.until("charging")
    assert (r.m.x, r.m.y) == (1.0, 11.0)
    assert r.event("docked").data["dock"] == "dock-2"
    r.until("idle")
    assert r.m.battery == 100.0
    assert r.states() == ["en_route", "charging", "idle"]
    assert "charged" in r.events()


def test_dock_when_already_at_a_dock_charges_at_once() -> None:
    r = Run(start=(1.0, 1.0))
    r.cmd("dock")
    assert r.states() == ["charging"]
    assert r.cmd("dock").ok  # already charging: fine, nothing changes
    assert r.states() == ["charging"]


def test_charging_robot_takes_a_task_via_idle() -> None:
    r = Run(start=(1.0, 1.0))
    r.cmd("dock")
    assert r.cmd("goto", table="t1", task="o-1").ok
    assert r.states() == ["charging", "idle", "assigned"]
    r2 = Run(start=(1.0, 1.0))
    r2.cmd("dock")
    r2.cmd("goto", x=5.0, y=5.0)
    assert r2.states() == ["charging", "en_route"]


def test_dock_while_returning_stays_returning_then_charges() -> None:
    r = Run()
    r.cmd("goto", table="t1", task="o-1")
    r.until("returning")
    assert r.cmd("dock").ok
    r.until("charging")
    assert r.states() == ["assigned", "en_route", "at_table", "returning", "charging"]


def test_battery_drains_while_moving_and_warns_once_then_docks() -> None:
    r = Run(start=(10.0, 6.0), battery=15.3, drain_moving=0.2)
    r.cmd("goto", x=19.0, y=6.0)
    r.until("charging", limit=200)
    # it arrived under 15 % and went to a dock by itself, in the same tick
    assert r.states() == ["en_route", "idle", "en_route", "charging"]
    assert r.events().count("battery_low") == 1
    assert r.event("battery_low").level == "warning"
    assert r.event("docked").data["dock"] in ("dock-1", "dock-2")


def test_idle_drain_is_slow() -> None:
    r = Run(battery=50.0)
    r.run(60.0, dt=1.0)
    assert 49.8 < r.m.battery < 50.0
    assert r.m.state == "idle"


def test_empty_battery_while_moving_is_a_fault() -> None:
    r = Run(start=(1.0, 6.0), battery=0.1, drain_moving=1.0, battery_low=0.0)
    r.cmd("goto", x=19.0, y=6.0)
    r.until("error")
    assert r.m.reason == "battery_empty"
    assert r.m.battery == 0.0


# ---- cancel, pause, estop, faults ---------------------------------------------------------


def test_cancel_while_assigned_is_idle_at_once() -> None:
    r = Run()
    r.cmd("goto", table="t1", task="o-1")
    ack = r.cmd("cancel")
    assert ack.data == {"cancelled": "o-1", "state": "idle"}
    assert r.states() == ["assigned", "idle"]
    assert r.event("cancelled").data == {"task": "o-1", "was": "assigned"}


@pytest.mark.parametrize("when", ["en_route", "at_table"])
def test_cancel_with_the_dish_on_board_returns_to_the_pass(when: str) -> None:
    r = Run(pickup_s=60.0)
    r.cmd("goto", table="t2", task="o-1")
    r.until(when)
    r.cmd("cancel")
    assert r.m.state == "returning"
    r.until("idle")
    assert (r.m.x, r.m.y) == (1.0, 6.0)


def test_cancel_a_plain_move_stops_where_it_is() -> None:
    r = Run()
    r.cmd("goto", x=10.0, y=6.0)
    r.run(2.0)
    r.cmd("cancel")
    assert r.m.state == "idle"
    x = r.m.x
    r.run(1.0)
    assert r.m.x == x


def test_cancel_with_nothing_to_cancel_is_ok() -> None:
    r = Run()
    ack = r.cmd("cancel")
    assert ack.ok
    assert ack.data == {"cancelled": None, "state": "idle"}


def test_pause_freezes_the_robot_and_resume_continues() -> None:
    r = Run(start=(1.0, 6.0))
    r.cmd("goto", x=10.0, y=6.0)
    r.run(1.0)
    assert r.cmd("pause").data == {"paused": True, "state": "en_route"}
    x = r.m.x
    r.run(3.0)
    assert (r.m.x, r.m.speed, r.m.state) == (x, 0.0, "en_route")
    r.cmd("resume")
    r.run(1.0)
    assert r.m.x == pytest.approx(x + 0.7)
    assert r.states() == ["en_route"]  # no state change for pause/resume


def test_estop_stops_everything_until_release() -> None:
    r = Run()
    r.cmd("goto", table="t1", task="o-1")
    r.run(1.0)
    assert r.cmd("estop").ok
    assert (r.m.state, r.m.speed, r.m.task) == ("estop", 0.0, None)
    assert r.event("estop").level == "alarm"
    x = r.m.x
    r.run(2.0)
    assert r.m.x == x
    moves: list[tuple[str, dict[str, Any]]] = [
        ("goto", {"x": 2.0, "y": 2.0}),
        ("dock", {}),
        ("pickup_done", {}),
    ]
    for action, args in moves:
        ack = r.cmd(action, **args)
        assert (ack.ok, ack.reason) == (False, f"{action}: robot is in estop; send release first")
    assert r.cmd("estop").ok  # again: nothing more happens
    assert r.cmd("release").ok
    assert r.states() == ["assigned", "en_route", "estop", "idle"]
    assert r.event("released").data == {"was": "estop"}


def test_release_when_not_stopped_is_refused() -> None:
    r = Run()
    ack = r.cmd("release")
    assert (ack.ok, ack.reason) == (False, "release: nothing to release (state idle)")


def test_release_clears_a_pause() -> None:
    r = Run()
    r.cmd("pause")
    r.cmd("estop")
    r.cmd("release")
    assert not r.m.paused


def test_fault_hook_puts_the_robot_in_error_and_drops_its_task() -> None:
    r = Run()
    r.cmd("goto", table="t1", task="o-1")
    out = r.m.fault("wheel_jammed")
    state, event = out
    assert isinstance(state, State)
    assert isinstance(event, Event)
    assert (state.state, state.reason, state.task) == ("error", "wheel_jammed", None)
    assert event.data == {"reason": "wheel_jammed", "task": "o-1"}
    assert r.m.fault("again") == []  # already in error
    r.out += out
    assert r.cmd("release").ok
    assert r.m.state == "idle"


def test_fail_rate_one_faults_within_a_tick() -> None:
    r = Run(fail_rate=1.0)
    r.run(0.1)
    assert r.m.state == "error"
    assert r.m.reason == "random_fault"
    assert r.m.faults == 1
    r.run(5.0)
    assert r.m.faults == 1  # no fault on top of a fault


def test_fail_rate_is_per_minute() -> None:
    faults = 0
    for seed in range(200):
        r = Run(fail_rate=0.5)
        r.m._rng.seed(seed)
        r.run(60.0, dt=1.0)
        faults += r.m.state == "error"
    assert 70 < faults < 130  # about half of the robots fail within a minute


def test_wandering_robot_strolls_between_tables() -> None:
    r = Run(wander_s=1.0)
    r.run(30.0)
    assert "en_route" in r.states()
    moves = list(itertools.pairwise(["idle", *r.states()]))
    assert len(moves) >= 4
    assert all(legal(RobotKind.SERVING, a, b) for a, b in moves)


# ---- cooking robots ----------------------------------------------------------------


def test_cook_then_ready_then_taken() -> None:
    r = Run(RobotKind.COOKING)
    ack = r.cmd("cook", recipe="ramen", order="o-1", item=3, seconds=4)
    assert ack.data == {"seconds": 4.0, "state": "cooking"}
    assert r.until("ready") == pytest.approx(4.0, abs=0.11)
    assert r.event("dish_ready").data == {
        "recipe": "ramen",
        "order": "o-1",
        "item": 3,
        "task": "o-1",
    }
    assert r.until("idle") == pytest.approx(2.0, abs=0.11)
    assert r.event("dish_taken").data == {"task": "o-1", "auto": True, "order": "o-1", "item": 3}
    assert r.states() == ["cooking", "ready", "idle"]


def test_cook_defaults_and_task_id() -> None:
    r = Run(RobotKind.COOKING, cook_s=5.0)
    r.cmd("cook", recipe="soup", task="cook-task-9")
    assert r.m.task == "cook-task-9"
    assert r.until("ready") == pytest.approx(5.0, abs=0.11)


def test_paused_cooking_does_not_progress() -> None:
    r = Run(RobotKind.COOKING)
    r.cmd("cook", recipe="soup", seconds=2)
    r.cmd("pause")
    r.run(5.0)
    assert r.m.state == "cooking"
    r.cmd("resume")
    r.until("ready")


def test_cancel_cooking_and_ready() -> None:
    r = Run(RobotKind.COOKING)
    r.cmd("cook", recipe="soup", order="o-1")
    assert r.cmd("cancel").data["cancelled"] == "o-1"
    r.cmd("cook", recipe="soup", seconds=0.5)
    r.until("ready")
    r.cmd("cancel")
    assert r.states() == ["cooking", "idle", "cooking", "ready", "idle"]


@pytest.mark.parametrize(
    ("action", "args", "reason"),
    [
        ("cook", {}, "cook: recipe (a non-empty string) is required"),
        ("cook", {"recipe": ""}, "cook: recipe (a non-empty string) is required"),
        ("cook", {"recipe": "soup", "seconds": 0}, "cook: seconds must be in (0, 3600]"),
        ("cook", {"recipe": "soup", "seconds": "5"}, "seconds must be a finite number, got '5'"),
        ("goto", {"x": 1.0, "y": 1.0}, "goto: a cooking robot does not move"),
        ("dock", {}, "dock: a cooking robot does not move"),
        ("pickup_done", {}, "pickup_done: not waiting for a pickup (state idle)"),
    ],
)
def test_cooking_robot_refusals(action: str, args: dict[str, Any], reason: str) -> None:
    r = Run(RobotKind.COOKING)
    ack = r.cmd(action, **args)
    assert (ack.ok, ack.reason) == (False, reason)


def test_cooking_robot_busy_and_serving_robot_cannot_cook() -> None:
    r = Run(RobotKind.COOKING)
    r.cmd("cook", recipe="soup", order="o-1")
    assert r.cmd("cook", recipe="soup").reason == "cook: busy: cooking o-1"
    s = Run()
    assert s.cmd("cook", recipe="soup").reason == "cook: a serving robot cannot cook"


def test_cooking_robot_stands_still_on_mains_power() -> None:
    r = Run(RobotKind.COOKING, battery=20.0)
    r.cmd("cook", recipe="soup")
    r.run(10.0)
    assert (r.m.battery, r.m.speed) == (100.0, 0.0)


# ---- resends ----------------------------------------------------------------------


def test_resent_command_gets_the_same_ack_and_runs_once() -> None:
    r = Run()
    first = r.m.handle(
        Command(id="x-1", action=CommandAction.GOTO, args={"table": "t1", "task": "o"}), r.now
    )
    again = r.m.handle(
        Command(id="x-1", action=CommandAction.GOTO, args={"table": "t1", "task": "o"}, attempt=2),
        r.now + 1,
    )
    assert again == [first[0]]
    assert r.m.duplicates == 1


def test_refusal_is_remembered_too() -> None:
    r = Run(RobotKind.COOKING)
    first = r.cmd("cook", cmd_id="k", recipe="")
    r.cmd("cook", cmd_id="ok", recipe="soup")
    assert r.cmd("cook", cmd_id="k", recipe="soup") == first  # not run now that it would work


def test_command_memory_is_bounded() -> None:
    r = Run(remember_commands=3)
    for i in range(4):
        r.cmd("pause", cmd_id=f"p{i}")
    assert r.m.duplicates == 0
    r.cmd("pause", cmd_id="p0")  # forgotten: runs again (harmless for a gateway that
    assert r.m.duplicates == 0  # gives up after a few attempts)
    r.cmd("pause", cmd_id="p3")
    assert r.m.duplicates == 1


# ---- messages are valid on the wire ---------------------------------------------------------


def test_telemetry_datagram_verifies_with_the_real_decoder() -> None:
    r = Run()
    r.cmd("goto", x=10.0, y=3.0)
    r.run(1.0)
    key = b"k" * 32
    decoder = DatagramDecoder({"serve-001": key}.get)
    t = r.m.telemetry(5, 1.7e9)
    got = decoder.decode(encode_datagram(t, key))  # a Telemetry subclass (protocol/udp.py)
    assert not isinstance(got, Dropped), got
    assert msgspec.structs.asdict(got) == msgspec.structs.asdict(t)
    assert 0.0 <= t.battery <= 100.0


def test_current_state_message() -> None:
    r = Run()
    r.cmd("goto", table="t1", task="o-1")
    assert r.m.current_state() == State(robot="serve-001", state="assigned", task="o-1")


# ---- properties ----------------------------------------------------------------------

_action = st.sampled_from(list(CommandAction))
_args = st.fixed_dictionaries(
    {},
    optional={
        "x": st.floats(-5, 25, allow_nan=False),
        "y": st.floats(-5, 15, allow_nan=False),
        "table": st.sampled_from(["t1", "t2", "t9"]),
        "task": st.sampled_from(["o-1", "o-2"]),
        "recipe": st.sampled_from(["soup", ""]),
        "seconds": st.floats(0.1, 20),
    },
)
_step = st.one_of(
    st.tuples(st.just("cmd"), _action, _args, st.sampled_from(["a", "b", "c", "d", "e", "f"])),
    st.tuples(st.just("tick"), st.floats(0.0, 8.0)),
    st.tuples(st.just("fault")),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(RobotKind)),
    battery=st.floats(0, 100),
    fail_rate=st.sampled_from([0.0, 0.3]),
    wander_s=st.sampled_from([0.0, 2.0]),
    steps=st.lists(_step, max_size=60),
)
def test_any_sequence_keeps_every_invariant(
    kind: RobotKind, battery: float, fail_rate: float, wander_s: float, steps: list[tuple[Any, ...]]
) -> None:
    r = Run(
        kind,
        battery=battery,
        fail_rate=fail_rate,
        wander_s=wander_s,
        charge_rate=5.0,
        drain_moving=2.0,
    )
    decode = gateway_decoder().decode
    state = "idle"
    acked: dict[str, Ack] = {}
    for step in steps:
        if step[0] == "cmd":
            _, action, args, cmd_id = step
            out = r.m.handle(Command(id=cmd_id, action=action, args=args), r.now)
            ack = out[0]
            assert isinstance(ack, Ack)
            assert ack.id == cmd_id
            if cmd_id in acked:  # a resend: the same answer, nothing run
                assert out == [acked[cmd_id]]
            acked[cmd_id] = ack
            if not ack.ok:
                assert ack.reason
                assert len(out) == 1
            assert not any(isinstance(m, Ack) for m in out[1:])
        elif step[0] == "tick":
            r.now += step[1]
            out = r.m.tick(r.now)
        else:
            out = r.m.fault("test")
        for msg in out:
            # every message decodes as the gateway decodes it (field limits, name patterns)
            assert decode(encode(msgspec.structs.replace(msg, seq=1, ts=1.7e9))) is not None
            if isinstance(msg, State):
                assert legal(kind, state, msg.state), f"{state} -> {msg.state}"
                state = msg.state
        assert r.m.state == state
        assert r.floor.contains(r.m.x, r.m.y)
        assert 0.0 <= r.m.battery <= 100.0
        assert r.m.speed >= 0.0
        if r.m.state in ("error", "estop", "idle", "charging"):
            assert r.m.task is None
