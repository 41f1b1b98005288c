"""The fleet's output port in memory, and robot links that keep what they were sent.

Unit tests of the dispatcher and the command router plug these in where the
gateway plugs in the stream writer and a TCP connection, drive time through
``now``, and read back what was decided.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from config import Settings
from config.settings import RobotConfig
from gateway.fleet.port import FleetOutput
from gateway.fleet.session import RobotSession
from gateway.fleet.states import ConnState
from protocol.messages import Command, GatewayMessage, Telemetry
from protocol.ratelimit import TokenBucket
from protocol.streams import Level
from protocol.vocabulary import ErrorCode


@dataclass(frozen=True)
class Recorded:
    type: str
    robot: str
    level: Level
    data: dict[str, Any]
    ack: str | None
    ts: float
    eid: str


class Recorder:
    """Everything the fleet said, in order: events, snapshots, hashes, telemetry."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.events: list[Recorded] = []
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.telemetry: list[tuple[Telemetry, str, float]] = []
        self._eids = itertools.count(1)

    def event(
        self,
        type: str,
        robot: str = "",
        *,
        level: Level = Level.INFO,
        data: dict[str, Any] | None = None,
        ack: str | None = None,
    ) -> str:
        eid = f"e{next(self._eids)}"
        self.events.append(Recorded(type, robot, level, dict(data or {}), ack, self.clock(), eid))
        return eid

    def snapshot(self, robot: str, **fields: Any) -> None:
        self.snapshots.setdefault(robot, {}).update(fields)

    def telemetry_run(self, msgs: Sequence[Telemetry], transport: str, rx: float) -> None:
        self.telemetry += [(m, transport, rx) for m in msgs]

    def hash_put(self, key: str, field: str, value: str | None) -> None:
        h = self.hashes.setdefault(key, {})
        if value is None:
            h.pop(field, None)
        else:
            h[field] = value

    def of(self, type: str) -> list[Recorded]:
        return [e for e in self.events if e.type == type]

    def since(self, mark: int) -> list[Recorded]:
        return self.events[mark:]


_: type[FleetOutput] = Recorder  # mypy checks that the recorder implements the port


@dataclass
class Link:
    """A robot's connection as the fleet sees it; keeps every message sent on it."""

    transport: str = "tcp"
    silence_limits: tuple[float, float] | None = None
    sent: list[GatewayMessage] = field(default_factory=list)
    closed: tuple[ErrorCode, str] | None = None

    def send(self, msg: GatewayMessage) -> None:
        self.sent.append(msg)

    def close(self, code: ErrorCode, reason: str) -> None:
        self.closed = (code, reason)

    def commands(self) -> list[Command]:
        return [m for m in self.sent if isinstance(m, Command)]

    def take(self) -> list[Command]:
        """The commands sent since the last take."""
        out = self.commands()
        self.sent.clear()
        return out


def session_of(settings: Settings, robot: RobotConfig, now: float) -> RobotSession:
    g = settings.gateway
    return RobotSession(
        robot, settings.commands, TokenBucket(g.telemetry_rate_per_s, g.telemetry_burst, now)
    )


def online(
    session: RobotSession,
    now: float,
    *,
    state: str = "idle",
    battery: float = 80.0,
    x: float = 0.0,
    y: float = 0.0,
) -> Link:
    """Connect a session as the fleet would after a hello and its first reports."""
    link = Link()
    session.link, session.conn, session.transport = link, ConnState.ONLINE, "tcp"
    session.state, session.battery, session.x, session.y = state, battery, x, y
    session.last_seen = now
    return link
