"""The master control of one AGV in a closed loop with the simulated AGV, no broker, no clock.

``Loop`` wires ``gateway.vda5050.agv.AgvControl`` to ``simulator.vda_model.VdaAgv``
the way MQTT would (orders and instant actions may be lost: QoS 0) and plays the
fleet: it applies reported states with the gateway's own transition table and
records acks and events. The scenario tests pin behaviours; the Hypothesis test
throws random commands, losses and time steps at the pair and checks the rules
of the standard and of our state machine on everything that crosses.
"""

from __future__ import annotations

import random
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import Settings
from gateway.fleet.states import IllegalTransition, apply_reported
from gateway.vda5050.agv import AgvControl
from gateway.vda5050.graph import FloorGraph
from protocol.messages import Ack, Command, Event, Heartbeat, RobotMessage, State, Telemetry
from protocol.vda5050 import (
    AgvId,
    AgvPosition,
    HeaderCounter,
    InstantActions,
    Order,
    Subtopic,
    Velocity,
    Visualization,
    order_problems,
    stitch_problems,
)
from protocol.vocabulary import CommandAction, RobotKind
from simulator.vda_model import VdaAgv
from tests.protocol.vda5050_support import assert_schema_valid

AGV = AgvId("Acme", "SN-1")
FLOOR: dict[str, Any] = {
    "width": 12.0,
    "height": 8.0,
    "kitchen_pass": {"name": "pass", "x": 1.0, "y": 4.0},
    "docks": [{"name": "dock-1", "x": 1.0, "y": 1.0}],
    "tables": [
        {"name": "T1", "x": 4.0, "y": 4.0},
        {"name": "T2", "x": 7.0, "y": 4.0},
        {"name": "T3", "x": 10.0, "y": 4.0},
    ],
    "links": [["dock-1", "pass"], ["pass", "T1"], ["T1", "T2"], ["T2", "T3"]],
}


class Loop:
    def __init__(self, *, loss: float = 0.0, seed: int = 0, **vda: Any) -> None:
        s = Settings(
            floor=FLOOR,
            mqtt={"enabled": True},
            vda5050={
                "enabled": True,
                "resend_s": 0.5,
                "max_resends": 20,
                "return_after_s": 3.0,
                **vda,
            },
            robots=[
                {
                    "id": "agv-1",
                    "kind": "serving",
                    "vda": {"manufacturer": "Acme", "serial": "SN-1"},
                }
            ],
        )
        self.now = 1000.0
        self.rng = random.Random(seed)
        self.loss = loss
        self.wire: list[Order | InstantActions] = []  # published, not yet delivered
        self.published: list[Order | InstantActions] = []
        self.acks: dict[str, Ack] = {}
        self.events: list[Event] = []
        self.telemetry: list[Telemetry] = []
        self.states: list[str] = []
        self.refused: list[tuple[str, str]] = []
        self.fleet_state: str | None = None
        self.ctl = AgvControl(
            "agv-1",
            AGV,
            FloorGraph.from_floor(s.floor),
            s.vda5050,
            HeaderCounter(),
            publish=self._publish,
            report=self._report,
            current=lambda: self.fleet_state,
            abandon_after_s=4.0,
        )
        self.agv = VdaAgv(AGV, "dock-1", 1.0, 1.0, self.now, map_id="restaurant", speed=2.0)
        self.agv_headers = HeaderCounter()
        self.ids = 0

    def _publish(self, msg: Order | InstantActions) -> None:
        self.published.append(msg)
        self.wire.append(msg)

    def _report(self, msg: RobotMessage) -> None:
        if isinstance(msg, State):
            try:  # what Fleet._reported does with it
                new = apply_reported(RobotKind.SERVING, self.fleet_state, msg.state)
            except IllegalTransition:
                self.refused.append((self.fleet_state or "", msg.state))
                return
            if new != self.fleet_state:
                self.states.append(new)
            self.fleet_state = new
        elif isinstance(msg, Ack):
            self.acks[msg.id] = msg
        elif isinstance(msg, Event):
            self.events.append(msg)
        elif isinstance(msg, Telemetry):
            self.telemetry.append(msg)
        else:
            assert isinstance(msg, Heartbeat)

    def command(self, action: str, **args: Any) -> str:
        self.ids += 1
        cid = f"c{self.ids}"
        self.ctl.on_command(
            Command(robot="agv-1", id=cid, action=CommandAction(action), args=args), self.now
        )
        return cid

    def step(self, dt: float = 0.1) -> None:
        self.now += dt
        for msg in self.wire:
            if self.rng.random() < self.loss:
                continue
            if isinstance(msg, Order):
                self.agv.on_order(msg)
            else:
                self.agv.on_instant_actions(msg)
        self.wire.clear()
        self.agv.tick(self.now)
        self.ctl.on_state(
            self.agv.state(self.agv_headers.header(AGV, Subtopic.STATE, self.now)), self.now
        )
        self.ctl.tick(self.now)

    def run(self, seconds: float, until: str | None = None) -> None:
        for _ in range(int(seconds / 0.1)):
            self.step()
            if until is not None and self.fleet_state == until:
                return

    def event_names(self) -> list[str]:
        return [e.name for e in self.events]


def test_delivery_then_automatic_return() -> None:
    loop = Loop()
    loop.step()
    cid = loop.command("goto", table="T3", task="o-1")
    loop.run(10, until="at_table")
    assert loop.acks[cid].ok and loop.acks[cid].data["goal"] == "T3"
    assert loop.agv.last_node_id == "T3"
    loop.run(10, until="idle")
    assert loop.states == ["idle", "assigned", "en_route", "at_table", "returning", "idle"]
    assert loop.agv.last_node_id == "pass" and loop.refused == []


def test_dock_charges_at_the_nearest_dock() -> None:
    loop = Loop()
    loop.agv.x, loop.agv.y, loop.agv.last_node_id = 4.0, 4.0, "T1"
    loop.step()
    cid = loop.command("dock")
    (order,) = loop.published
    assert isinstance(order, Order)
    assert [n.node_id for n in order.nodes] == ["T1", "pass", "dock-1"]
    (charge,) = order.nodes[-1].actions
    assert (charge.action_type, charge.blocking_type) == ("startCharging", "HARD")
    assert_schema_valid(Subtopic.ORDER, order)
    loop.agv.battery = 99.0
    loop.run(6, until="charging")
    assert loop.acks[cid].ok and loop.agv.charging
    loop.run(6, until="idle")
    assert loop.states == ["idle", "en_route", "charging", "idle"]


def test_refusals_are_immediate_and_say_why() -> None:
    loop = Loop()
    nowhere = loop.command("goto", table="T3")  # no state yet: position unknown
    loop.step()
    unknown = loop.command("goto", table="T9")
    busy_first = loop.command("goto", table="T2")
    busy = loop.command("goto", table="T1")
    nothing = loop.command("release")
    pickup = loop.command("pickup_done")
    cook = loop.command("cook", recipe="soup")
    reasons = {c: loop.acks[c].reason for c in (nowhere, unknown, busy, nothing, pickup, cook)}
    assert loop.ctl.job is not None  # busy_first's
    assert reasons == {
        nowhere: "the AGV has not reported where it is yet",
        unknown: "goto: no table 'T9' on the floor graph ([floor] tables)",
        busy: f"goto: busy: order {loop.ctl.job.order_id}",
        nothing: "release: nothing to release",
        pickup: "pickup_done: not waiting for a pickup",
        cook: "cook: not supported by a VDA 5050 robot",
    }
    assert busy_first not in loop.acks  # waiting for the AGV to take it


def test_cancel_of_a_delivery_takes_the_dish_back() -> None:
    loop = Loop()
    loop.step()
    loop.command("goto", table="T3", task="o-2")
    loop.run(2)
    assert loop.fleet_state == "en_route"
    cid = loop.command("cancel")
    loop.run(10, until="idle")
    assert loop.acks[cid].ok and loop.acks[cid].data["cancelled"]
    assert loop.states[-3:] == ["en_route", "returning", "idle"]
    assert loop.agv.last_node_id == "pass" and loop.refused == []


def test_estop_latches_and_release_cancels_the_order() -> None:
    loop = Loop()
    loop.step()
    loop.command("goto", table="T3", task="o-3")
    loop.run(1.5)
    stop = loop.command("estop")
    assert [a.action_type for a in cast(InstantActions, loop.wire[-1]).actions] == ["startPause"]
    loop.run(1)
    # (compared as a tuple: an assert on paused alone would keep it narrowed to True below)
    assert (loop.fleet_state, loop.acks[stop].ok, loop.agv.paused) == ("estop", True, True)
    resume = loop.command("resume")
    assert loop.acks[resume].reason == "resume: robot is in estop; send release first"
    release = loop.command("release")
    kinds = [[a.action_type for a in m.actions] for m in cast(list[InstantActions], loop.wire)]
    assert kinds == [["cancelOrder"], ["stopPause"]]  # no vendor e-stop in this factsheet-less AGV
    loop.run(2)
    assert loop.acks[release].ok and loop.fleet_state == "idle"
    assert not loop.agv.nodes and not loop.agv.paused and loop.refused == []


def test_lost_updates_are_resent_then_given_up_with_an_alarm() -> None:
    loop = Loop(max_resends=2, release_nodes=1)
    loop.step()
    loop.command("goto", table="T3")
    loop.run(0.5)
    loop.loss = 1.0  # from now on nothing reaches the AGV
    loop.run(6)
    updates = [m for m in loop.published if isinstance(m, Order) and m.order_update_id == 1]
    assert len(updates) == 3 and len({u.header_id for u in updates}) == 3
    assert all((u.nodes, u.edges) == (updates[0].nodes, updates[0].edges) for u in updates)
    assert loop.event_names() == ["order_update_lost"]
    assert loop.events[0].level == "alarm" and loop.events[0].data["attempts"] == 3


def test_an_order_the_agv_never_saw_is_abandoned() -> None:
    loop = Loop(loss=1.0)
    loop.step()
    cid = loop.command("goto", table="T1", task="o-4")
    loop.run(6)
    assert cid not in loop.acks  # the router times the command out; we drop the order
    assert loop.event_names() == ["order_not_accepted"]
    assert loop.ctl.job is None and loop.fleet_state == "idle"


def test_every_resend_of_an_unconfirmed_order_is_published_with_a_new_header() -> None:
    """The router resends a command the AGV has not acknowledged; order goes at QoS 0, so each
    attempt must put the order on the wire again (same orderId/orderUpdateId, new headerId)."""
    loop = Loop(loss=1.0)
    loop.step()
    cid = loop.command("goto", table="T1", task="o-7")
    for _ in range(2):  # the router's attempts 2 and 3
        loop.run(0.3)
        loop.ctl.on_command(
            Command(
                robot="agv-1",
                id=cid,
                action=CommandAction.GOTO,
                args={"table": "T1", "task": "o-7"},
            ),
            loop.now,
        )
    orders = [m for m in loop.published if isinstance(m, Order)]
    assert [(o.order_update_id, o.header_id) for o in orders] == [(0, 0), (0, 1), (0, 2)]
    assert len({o.order_id for o in orders}) == 1
    assert all((o.nodes, o.edges) == (orders[0].nodes, orders[0].edges) for o in orders)
    loop.loss = 0.0  # the third one arrives: the command is acknowledged
    loop.run(0.5)
    assert loop.acks[cid].ok and loop.agv.order_id == orders[0].order_id


def test_every_resend_of_instant_actions_is_published_with_a_new_header() -> None:
    loop = Loop(loss=1.0)
    loop.step()
    cid = loop.command("pause")
    loop.ctl.on_command(
        Command(robot="agv-1", id=cid, action=CommandAction.PAUSE, args={}), loop.now
    )
    sent = [m for m in loop.published if isinstance(m, InstantActions)]
    assert [m.header_id for m in sent] == [0, 1]
    assert sent[0].actions == sent[1].actions


COMMANDS = st.sampled_from(
    [
        ("goto", {"table": "T3", "task": "t"}),
        ("goto", {"table": "T1"}),
        ("goto", {"x": 7, "y": 4}),
        ("dock", {}),
        ("cancel", {}),
        ("pause", {}),
        ("resume", {}),
        ("estop", {}),
        ("release", {}),
        ("pickup_done", {}),
    ]
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(COMMANDS, st.floats(0.0, 3.0)), max_size=8),
    st.sampled_from([0.0, 0.3]),
    st.integers(0, 2**16),
)
def test_anything_goes_and_the_rules_hold(
    script: list[tuple[tuple[str, dict[str, Any]], float]], loss: float, seed: int
) -> None:
    loop = Loop(loss=loss, seed=seed)
    loop.step()
    for (action, args), wait in script:
        loop.command(action, **args)
        loop.run(wait)
    loop.run(3)
    header_ids: dict[type[Any], list[int]] = {Order: [], InstantActions: []}
    last_of: dict[str, Order] = {}
    for msg in loop.published:
        header_ids[type(msg)].append(msg.header_id)
        assert_schema_valid(
            Subtopic.ORDER if isinstance(msg, Order) else Subtopic.INSTANT_ACTIONS, msg
        )
        if isinstance(msg, Order):
            assert order_problems(msg) == ()
            prev = last_of.get(msg.order_id)
            if prev is not None and msg.order_update_id == prev.order_update_id:
                assert (msg.nodes, msg.edges) == (prev.nodes, prev.edges)  # a resend
            elif prev is not None:
                assert msg.order_update_id == prev.order_update_id + 1
                assert stitch_problems(prev, msg) == ()
            else:
                assert msg.order_update_id == 0
            last_of[msg.order_id] = msg
    for ids in header_ids.values():  # +1 per message, per topic
        assert ids == list(range(len(ids)))
    assert loop.refused == []  # every derived state followed the robot state table
    assert all(
        e.name
        in {
            "order_update_lost",
            "order_not_accepted",
            "no_order_to_cancel",
            "agv_error",
            "order_rejected",
            "return_failed",
        }
        for e in loop.events
    )


def test_a_table_named_otherwise_is_found_by_its_position() -> None:
    loop = Loop()
    loop.step()
    far = loop.command("goto", table="Terrace", x=7.0, y=6.0)
    loop.command("goto", table="Window 2", x=7.2, y=3.9, task="o-6")  # as the dispatcher sends
    (order,) = loop.published
    assert isinstance(order, Order)
    assert order.nodes[-1].node_id == "T2"
    assert loop.acks[far].reason == "goto: no table 'Terrace' on the floor graph ([floor] tables)"


@pytest.mark.parametrize("first", ["T1", "pass"])
def test_a_goto_where_the_agv_stands_steps_through_en_route(first: str) -> None:
    loop = Loop()
    loop.agv.x, loop.agv.y, loop.agv.last_node_id = (
        (4.0, 4.0, "T1") if first == "T1" else (1.0, 4.0, "pass")
    )
    loop.step()
    loop.command("goto", table="T1", task="o-5")
    loop.run(3, until="at_table")
    assert loop.fleet_state == "at_table" and loop.refused == []


def test_a_velocity_too_large_to_state_finitely_sends_no_sample() -> None:
    loop = Loop()
    loop.step()  # a state: the battery is known, so positions become samples
    pos = AgvPosition(x=2.0, y=3.0, theta=0.5, map_id="restaurant", position_initialized=True)
    sent = len(loop.telemetry)
    loop.ctl.on_visualization(
        Visualization(agv_position=pos, velocity=Velocity(vx=3.0, vy=4.0)), loop.now
    )
    loop.ctl.on_visualization(
        Visualization(agv_position=pos, velocity=Velocity(vx=1.5e308, vy=1.5e308)), loop.now
    )
    assert [(t.x, t.y, t.speed) for t in loop.telemetry[sent:]] == [(2.0, 3.0, 5.0)]
    seqs = [t.seq for t in loop.telemetry]
    assert seqs == sorted(set(seqs))  # no sequence number spent on the dropped one
