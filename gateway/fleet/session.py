"""One robot as the gateway sees it: identity, link, state machines, pending commands."""

from __future__ import annotations

from typing import Protocol

from config.settings import CommandSettings, RobotConfig
from gateway.fleet.states import ConnState
from protocol.acks import PendingCommands
from protocol.messages import GatewayMessage
from protocol.ratelimit import TokenBucket
from protocol.vocabulary import ErrorCode, RobotKind


class Link(Protocol):
    """A live connection to a robot, as the fleet needs it (TCP today, MQTT next)."""

    transport: str
    # (stale_after, offline_after) seconds of silence for robots on this link,
    # or None for the gateway's defaults. A VDA 5050 AGV reports every 30 s and
    # goes offline only through its connection topic (docs/vda5050.md).
    silence_limits: tuple[float, float] | None

    def send(self, msg: GatewayMessage) -> None: ...

    def close(self, code: ErrorCode, reason: str) -> None: ...


class RobotSession:
    __slots__ = (
        "battery",
        "bucket",
        "conn",
        "docking",
        "expected_until",
        "firmware",
        "id",
        "key",
        "kind",
        "last_seen",
        "link",
        "name",
        "pending",
        "state",
        "task",
        "transport",
        "x",
        "y",
    )

    def __init__(self, robot: RobotConfig, commands: CommandSettings, bucket: TokenBucket) -> None:
        self.id = robot.id
        self.kind: RobotKind = robot.kind
        self.name = robot.name or robot.id
        self.key = robot.key_bytes
        self.conn = ConnState.OFFLINE
        self.state: str | None = None  # operational; None until the robot reports one
        self.task = ""
        self.link: Link | None = None
        self.transport = ""
        self.firmware = ""
        self.last_seen = 0.0
        self.pending = PendingCommands(commands.ack_timeout_s, commands.max_attempts)
        self.bucket = bucket
        self.x = self.y = 0.0  # last reported position, for the dispatcher
        self.battery: float | None = None
        self.docking = False  # sent to a dock by the dispatcher, not back yet
        # Connected to the previous gateway when it went away: until this time, a command
        # for it waits for it to reconnect rather than failing (Fleet.expect_back).
        self.expected_until = 0.0
