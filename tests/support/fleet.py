"""A small floor and its dishes for the dispatcher's unit tests."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from config import Settings
from gateway.fleet.commands import CommandRouter
from gateway.fleet.dispatcher import Dispatcher, Order
from gateway.fleet.session import RobotSession
from gateway.fleet.states import ConnState
from gateway.metrics import Stats
from protocol.messages import Ack, Command
from protocol.streams import DISPATCH, CommandRecord, CommandType, EventType
from tests.gateway.recorder import Link, Recorder, online, session_of

T0 = 1_000.0


PASS = {"name": "pass", "x": 1.0, "y": 6.0}


TABLE = {"name": "T3", "x": 10.0, "y": 2.0}


ROBOTS = [
    {"id": "cook-1", "kind": "cooking", "key": "c1" * 32},
    {"id": "cook-2", "kind": "cooking", "key": "c2" * 32},
    {"id": "serve-1", "kind": "serving", "key": "51" * 32},
    {"id": "serve-2", "kind": "serving", "key": "52" * 32},
]


DISHES = [
    {"line": "1", "name": "Bibimbap", "recipe": "bibimbap", "quantity": 1},
    {"line": "2", "name": "Japchae", "recipe": "japchae", "quantity": 2},
    {"line": "3", "name": "Barley tea", "quantity": 2},  # no recipe: staff pours it
]


class Floor:
    """Sessions, router and dispatcher as the fleet wires them, and the test's clock."""

    def __init__(self, **dispatch: Any) -> None:
        self.now = T0
        self.settings = Settings(
            robots=ROBOTS,
            floor={"kitchen_pass": PASS, "tables": [TABLE]},
            dispatch={"cook_seconds": 20, "min_battery": 30, "dock_below": 20, **dispatch},
            commands={"ack_timeout_s": 2, "max_attempts": 3, "ttl_s": 30},
        )
        self.out = Recorder(lambda: self.now)
        self.stats = Stats()
        self.sessions: dict[str, RobotSession] = {
            r.id: session_of(self.settings, r, T0) for r in self.settings.robots
        }
        self.links: dict[str, Link] = {}
        self.router = CommandRouter(self.sessions, self.out, self.settings.commands, self.stats)
        self.dispatcher = Dispatcher(
            self.sessions, self.router, self.out, self.settings, self.stats
        )

    def online(self, robot: str, **kw: Any) -> Link:
        link = self.links[robot] = online(self.sessions[robot], self.now, **kw)
        return link

    def offline(self, robot: str) -> None:
        s = self.sessions[robot]
        s.link, s.conn = None, ConnState.OFFLINE
        self.dispatcher.robot_offline(s, self.now)

    def report(self, robot: str, state: str, task: str | None = None) -> None:
        """The robot's state machine accepted ``state``: what Fleet._reported hands on."""
        s = self.sessions[robot]
        previous = s.state
        s.state, s.task = state, task if task is not None else s.task
        self.dispatcher.robot_state(s, previous, self.now)

    def ack(self, robot: str, cmd: Command, ok: bool = True, reason: str | None = None) -> None:
        self.router.acked(self.sessions[robot], Ack(robot=robot, id=cmd.id, ok=ok, reason=reason))

    def place(self, items: list[dict[str, Any]], order: str = "o1") -> str:
        ref = f"{int(self.now * 1000)}-0"
        self.dispatcher.command(
            self.record(CommandType.ORDER_PLACE, order=order, table=TABLE, items=items),
            ref,
            self.now,
        )
        return ref

    def record(self, type: str, **args: Any) -> CommandRecord:
        return CommandRecord(
            id=uuid.uuid4().hex, robot="", action=type.split(".")[1], ts=self.now, type=type,
            args=args, source="test",
        )  # fmt: skip

    def tick(self, seconds: float = 0.25) -> None:
        self.now += seconds
        for s in self.sessions.values():
            if len(s.pending):
                self.router.tick(s, self.now)
        self.dispatcher.tick(self.now)

    def statuses(self, order: str = "o1") -> list[str]:
        return [
            e.data["status"] for e in self.out.of(EventType.ORDER_STATUS)
            if e.data["order"] == order
        ]  # fmt: skip

    def saved(self, order: str = "o1") -> Order | None:
        raw = self.out.hashes.get(DISPATCH, {}).get(order)
        return None if raw is None else msgspec.json.decode(raw, type=Order)
