"""VDA 5050 2.1 enumerations as StrEnums (all enumerations are UPPERCASE, section 6.1.3)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "INTERFACE_NAME",
    "MAJOR_VERSION",
    "VERSION",
    "ActionScope",
    "ActionStatus",
    "BlockingType",
    "ConnectionState",
    "CorridorRefPoint",
    "EStop",
    "ErrorLevel",
    "InfoLevel",
    "MapStatus",
    "OperatingMode",
    "Subtopic",
]

VERSION: Final = "2.1.0"  # what we write in every header's ``version``
MAJOR_VERSION: Final = "v2"  # the topic level (section 6.3)
INTERFACE_NAME: Final = "uagv"  # the suggested interfaceName for a local broker (section 6.3)


class Subtopic(StrEnum):
    """The last topic level (section 6.5)."""

    ORDER = "order"
    INSTANT_ACTIONS = "instantActions"
    STATE = "state"
    VISUALIZATION = "visualization"
    CONNECTION = "connection"
    FACTSHEET = "factsheet"


class BlockingType(StrEnum):
    """Section 6.12: NONE drives and runs in parallel, SOFT stops driving, HARD runs alone."""

    NONE = "NONE"
    SOFT = "SOFT"
    HARD = "HARD"


class ActionStatus(StrEnum):
    """Section 6.11. PAUSED is in the text but missing from the 2.1.0 state.schema."""

    WAITING = "WAITING"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


class ErrorLevel(StrEnum):
    WARNING = "WARNING"  # self-resolving, the AGV can still run
    FATAL = "FATAL"  # needs a human (section 6.10.5)


class InfoLevel(StrEnum):
    INFO = "INFO"
    DEBUG = "DEBUG"


class EStop(StrEnum):
    """How an active e-stop must be acknowledged; NONE means no e-stop."""

    AUTOACK = "AUTOACK"
    MANUAL = "MANUAL"
    REMOTE = "REMOTE"
    NONE = "NONE"


class OperatingMode(StrEnum):
    """Section 6.10.6, Table 1: master control drives the AGV only in the first two."""

    AUTOMATIC = "AUTOMATIC"
    SEMIAUTOMATIC = "SEMIAUTOMATIC"
    MANUAL = "MANUAL"
    SERVICE = "SERVICE"
    TEACHIN = "TEACHIN"


class ConnectionState(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"  # went offline in a coordinated way
    CONNECTIONBROKEN = "CONNECTIONBROKEN"  # the broker's last will: unexpected loss


class MapStatus(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class CorridorRefPoint(StrEnum):
    KINEMATICCENTER = "KINEMATICCENTER"
    CONTOUR = "CONTOUR"


class ActionScope(StrEnum):
    """Factsheet ``agvActions[].actionScopes``: where an action type may be used."""

    INSTANT = "INSTANT"
    NODE = "NODE"
    EDGE = "EDGE"
