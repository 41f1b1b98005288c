"""The v1 message types (docs/protocol.md, section Messages).

Every message is a frozen msgspec Struct tagged by its ``type`` field, so one
decode both parses the JSON and validates every field. Field constraints live
here, once; code after the codec trusts the types.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from protocol.cameras import MAX_CAMERAS, CameraInfo
from protocol.vocabulary import CommandAction, ErrorCode, RobotKind

__all__ = [
    "GATEWAY_TO_ROBOT",
    "ROBOT_TO_GATEWAY",
    "Ack",
    "Camera",
    "Challenge",
    "Command",
    "Error",
    "Event",
    "GatewayMessage",
    "Heartbeat",
    "Hello",
    "Message",
    "Ping",
    "RobotId",
    "RobotMessage",
    "State",
    "Telemetry",
    "Welcome",
]

RobotId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Hex = Annotated[str, Meta(pattern=r"^[0-9a-f]{16,128}$")]
Name = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
Seq = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Finite = Annotated[float, Meta(ge=-1e9, le=1e9)]  # also rejects NaN and inf


class _Envelope(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every message carries (docs/protocol.md, section Envelope).

    Encoded in full (``v`` always goes out); a received message without ``v``
    is read as version 1.
    """

    v: int = 1
    robot: Annotated[str, Meta(pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})?$")] = (
        ""  # "" before hello
    )
    seq: Seq = 0
    ts: Annotated[float, Meta(ge=0, le=1e11)] = 0.0


# ---- gateway -> robot -------------------------------------------------------


class Challenge(_Envelope, frozen=True, kw_only=True, tag="challenge"):
    """First frame on every TCP connection: the nonce the hello must sign."""

    nonce: Hex
    gateway: str = ""


class Welcome(_Envelope, frozen=True, kw_only=True, tag="welcome"):
    """Hello accepted. ``proof`` lets the robot check it reached a gateway holding its key."""

    session: str
    proof: Hex
    heartbeat_s: float
    udp_port: int | None = None
    camera_port: int | None = None  # camera chunks over UDP go here (docs/protocol.md §11)


class Ping(_Envelope, frozen=True, kw_only=True, tag="ping"):
    """Liveness probe; the robot answers with a heartbeat."""


class Command(_Envelope, frozen=True, kw_only=True, tag="command"):
    id: Annotated[str, Meta(min_length=1, max_length=64)]
    action: CommandAction
    args: dict[str, Any] = {}
    attempt: Annotated[int, Meta(ge=1)] = 1


class Error(_Envelope, frozen=True, kw_only=True, tag="error"):
    code: ErrorCode
    message: str
    ref_seq: Seq | None = None


# ---- robot -> gateway -------------------------------------------------------


class Hello(_Envelope, frozen=True, kw_only=True, tag="hello"):
    kind: RobotKind
    cnonce: Hex
    proof: Hex
    firmware: Annotated[str, Meta(max_length=64)] = ""


class Heartbeat(_Envelope, frozen=True, kw_only=True, tag="heartbeat"):
    pass


class Telemetry(_Envelope, frozen=True, kw_only=True, tag="telemetry"):
    x: Finite
    y: Finite
    theta: Finite = 0.0
    battery: Annotated[float, Meta(ge=0, le=100)]
    speed: Finite = 0.0


class State(_Envelope, frozen=True, kw_only=True, tag="state"):
    """A reported operational state change; the gateway's machine may refuse it."""

    state: Name
    task: Annotated[str, Meta(max_length=64)] | None = None
    reason: Annotated[str, Meta(max_length=256)] | None = None


class Event(_Envelope, frozen=True, kw_only=True, tag="event"):
    name: Name
    level: Literal["info", "warning", "alarm"] = "info"
    data: dict[str, Any] = {}


class Ack(_Envelope, frozen=True, kw_only=True, tag="ack"):
    """Outcome of a command: ``ok`` false means the robot refused it (``reason``)."""

    id: Annotated[str, Meta(min_length=1, max_length=64)]
    ok: bool = True
    reason: Annotated[str, Meta(max_length=256)] | None = None
    data: dict[str, Any] = {}


class Camera(_Envelope, frozen=True, kw_only=True, tag="camera"):
    """The robot's cameras, all of them: each announcement replaces the one before
    (an empty list: it has none now). Frames travel as chunks (protocol/camera_chunks.py)."""

    cameras: Annotated[list[CameraInfo], Meta(max_length=MAX_CAMERAS)]


RobotMessage = Hello | Heartbeat | Telemetry | State | Event | Ack | Camera
GatewayMessage = Challenge | Welcome | Ping | Command | Error
Message = RobotMessage | GatewayMessage

ROBOT_TO_GATEWAY: Final = frozenset(
    {"hello", "heartbeat", "telemetry", "state", "event", "ack", "camera"}
)
GATEWAY_TO_ROBOT: Final = frozenset({"challenge", "welcome", "ping", "command", "error"})
