"""Wire vocabularies as StrEnums, so a typo fails at import, not on a robot."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "PROTOCOL_VERSION",
    "CommandAction",
    "CookingState",
    "ErrorCode",
    "MessageType",
    "RobotKind",
    "ServingState",
]

PROTOCOL_VERSION = 1


class MessageType(StrEnum):
    # gateway -> robot
    CHALLENGE = "challenge"
    WELCOME = "welcome"
    PING = "ping"
    COMMAND = "command"
    ERROR = "error"
    # robot -> gateway
    HELLO = "hello"
    HEARTBEAT = "heartbeat"
    TELEMETRY = "telemetry"
    STATE = "state"
    EVENT = "event"
    ACK = "ack"
    CAMERA = "camera"


class RobotKind(StrEnum):
    SERVING = "serving"
    COOKING = "cooking"


# Operational states robots report (docs/protocol.md §8). Which moves are
# allowed is the gateway's business: gateway/fleet/states.py.
class ServingState(StrEnum):
    IDLE = "idle"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    AT_TABLE = "at_table"
    RETURNING = "returning"
    CHARGING = "charging"
    ERROR = "error"
    ESTOP = "estop"


class CookingState(StrEnum):
    IDLE = "idle"
    COOKING = "cooking"
    READY = "ready"
    ERROR = "error"
    ESTOP = "estop"


class CommandAction(StrEnum):
    GOTO = "goto"  # args: x, y (and optional table / target name)
    DOCK = "dock"
    COOK = "cook"  # args: recipe, order, item
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    ESTOP = "estop"
    RELEASE = "release"  # clear an e-stop or an error
    PICKUP_DONE = "pickup_done"  # staff confirmed the guest took the dish


class ErrorCode(StrEnum):
    """Codes in ``error`` messages (docs/protocol.md, section Errors)."""

    BAD_MESSAGE = "bad_message"  # not JSON, wrong field types, missing fields
    FRAME_TOO_LARGE = "frame_too_large"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_TYPE = "unknown_type"
    UNEXPECTED = "unexpected"  # valid message at the wrong time (e.g. telemetry before hello)
    AUTH_FAILED = "auth_failed"
    UNKNOWN_ROBOT = "unknown_robot"
    RATE_LIMITED = "rate_limited"
    ILLEGAL_TRANSITION = "illegal_transition"
    REPLACED = "replaced"  # a newer connection of the same robot took over
    SHUTTING_DOWN = "shutting_down"
    TIMEOUT = "timeout"  # the robot was silent for too long
    HELD_ELSEWHERE = "held_elsewhere"  # another gateway of the site holds the robot (cluster)


# Which robot kind can carry out which action (docs/protocol.md, section Commands);
# the gateway fails any other command before it reaches the robot.
ACTIONS_BY_KIND: dict[RobotKind, frozenset[CommandAction]] = {
    RobotKind.SERVING: frozenset(
        {
            CommandAction.GOTO,
            CommandAction.DOCK,
            CommandAction.CANCEL,
            CommandAction.PAUSE,
            CommandAction.RESUME,
            CommandAction.ESTOP,
            CommandAction.RELEASE,
            CommandAction.PICKUP_DONE,
        }
    ),
    RobotKind.COOKING: frozenset(
        {
            CommandAction.COOK,
            CommandAction.CANCEL,
            CommandAction.PAUSE,
            CommandAction.RESUME,
            CommandAction.ESTOP,
            CommandAction.RELEASE,
        }
    ),
}
__all__ += ["ACTIONS_BY_KIND"]
