"""VDA 5050 MQTT topics: ``uagv/{major}/{manufacturer}/{serialNumber}/{subtopic}``.

Section 6.3 suggests this layout for a local broker; ``interface`` is
configurable for integrators that need another first level; ``major`` is the
major version, ``v2`` for 2.x, ``v1`` for 1.x. QoS and retain per subtopic in
2.x, as the standard prescribes them (1.1 differs: ``v1_1``):

- 6.2: QoS 0 ("Best Effort") for ``order``, ``instantActions``, ``state``,
  ``factsheet`` and ``visualization``; QoS 1 for ``connection``.
- 6.14: every ``connection`` message is retained; the AGV's last will is a
  ``connection`` message with CONNECTIONBROKEN.
- 6.15: every ``factsheet`` message is retained.

QoS 0 for orders means an order can be lost: master control learns what the
AGV accepted from ``state`` (orderId/orderUpdateId) and resends; an AGV
ignores a repeated (orderId, orderUpdateId) pair (6.6.4.3), so resending is safe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.mqtt_topics import Delivery, Subscription, check_level
from protocol.vda5050.dialect import DELIVERY_2X
from protocol.vda5050.enums import INTERFACE_NAME, MAJOR_VERSION, Subtopic
from protocol.vocabulary import ErrorCode

__all__ = [
    "AGV_PUBLISHES",
    "DELIVERY",
    "MASTER_PUBLISHES",
    "SPOKEN_MAJORS",
    "AgvId",
    "VdaTopic",
    "agv_subscriptions",
    "master_subscriptions",
]

# Section 6.3: serialNumber is A-Z a-z 0-9 _ . : -
_SERIAL: Final = re.compile(r"^[A-Za-z0-9_.:-]+$")
_MAJOR: Final = re.compile(r"^v[0-9]{1,4}$")
SPOKEN_MAJORS: Final = frozenset({"v1", "v2"})

DELIVERY: Final[Mapping[Subtopic, Delivery]] = DELIVERY_2X

MASTER_PUBLISHES: Final = frozenset({Subtopic.ORDER, Subtopic.INSTANT_ACTIONS})
AGV_PUBLISHES: Final = frozenset(
    {Subtopic.STATE, Subtopic.VISUALIZATION, Subtopic.CONNECTION, Subtopic.FACTSHEET}
)


def _serial_problem(serial: object) -> str | None:
    if not isinstance(serial, str) or not _SERIAL.match(serial):
        return f"serialNumber {serial!r} must be 1+ of A-Z a-z 0-9 _ . : - (VDA 5050 6.3)"
    return None


@dataclass(frozen=True, slots=True)
class AgvId:
    """Who an AGV is in VDA 5050: its manufacturer and serial number."""

    manufacturer: str
    serial_number: str

    def __post_init__(self) -> None:
        problem = check_level(self.manufacturer, "manufacturer") or _serial_problem(
            self.serial_number
        )
        if problem:
            raise LocalProtocolError(problem)


@dataclass(frozen=True, slots=True)
class VdaTopic:
    agv: AgvId
    subtopic: Subtopic
    interface: str = INTERFACE_NAME
    major: str = MAJOR_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.subtopic, Subtopic):
            raise LocalProtocolError(f"invalid subtopic {self.subtopic!r}")
        problem = check_level(self.interface, "interface name")
        if problem:
            raise LocalProtocolError(problem)
        if not _MAJOR.match(self.major):
            raise LocalProtocolError(f"major version {self.major!r} must be v and a number")

    @property
    def value(self) -> str:
        a, sub = self.agv, self.subtopic.value
        return f"{self.interface}/{self.major}/{a.manufacturer}/{a.serial_number}/{sub}"

    def __str__(self) -> str:
        return self.value

    @property
    def delivery(self) -> Delivery:
        """QoS and retain of 2.x (a 1.1 topic's are its dialect's)."""
        return DELIVERY[self.subtopic]

    @classmethod
    def parse(
        cls,
        topic: str,
        *,
        accept: frozenset[Subtopic] = AGV_PUBLISHES,
        interface: str = INTERFACE_NAME,
        majors: frozenset[str] | None = SPOKEN_MAJORS,
    ) -> VdaTopic:
        """Read a received topic. ``accept`` is what this side may receive; ``majors`` the
        major versions (None: any ``v<n>``, for a caller that tells unknown versions itself).

        RemoteProtocolError codes: BAD_MESSAGE for a topic outside the layout,
        UNSUPPORTED_VERSION for another major version, UNKNOWN_TYPE for an
        unknown subtopic, UNEXPECTED for a subtopic sent in the wrong direction.
        """
        topic = str(topic)  # also takes an aiomqtt Topic
        levels = topic.split("/")
        if len(levels) != 5 or levels[0] != interface:
            raise RemoteProtocolError(
                f"topic {topic!r} must be {interface}/{MAJOR_VERSION}/"
                "{manufacturer}/{serialNumber}/{subtopic}"
            )
        _, major, manufacturer, serial, sub = levels
        if not _MAJOR.match(major) or (majors is not None and major not in majors):
            spoken = " and ".join(sorted(majors or SPOKEN_MAJORS))
            raise RemoteProtocolError(
                f"topic {topic!r} is for VDA 5050 {major!r}, we speak {spoken}",
                code=ErrorCode.UNSUPPORTED_VERSION,
            )
        problem = check_level(manufacturer, "manufacturer") or _serial_problem(serial)
        if problem:
            raise RemoteProtocolError(f"{problem} in topic {topic!r}")
        try:
            kind = Subtopic(sub)
        except ValueError:
            raise RemoteProtocolError(
                f"unknown VDA 5050 subtopic {sub!r} in topic {topic!r}",
                code=ErrorCode.UNKNOWN_TYPE,
            ) from None
        if kind not in accept:
            raise RemoteProtocolError(
                f"subtopic {sub!r} is not accepted in this direction", code=ErrorCode.UNEXPECTED
            )
        return cls(AgvId(manufacturer, serial), kind, interface, major)


def master_subscriptions(interface: str = INTERFACE_NAME) -> tuple[Subscription, ...]:
    """Master control (the gateway): every AGV's state, connection, visualization, factsheet,
    under every major version (``+``), so an AGV of a version we do not speak is told, not
    unheard."""
    return tuple(
        Subscription(f"{interface}/+/+/+/{sub.value}", DELIVERY[sub].qos)
        for sub in sorted(AGV_PUBLISHES)
    )


def agv_subscriptions(
    agv: AgvId, interface: str = INTERFACE_NAME, major: str = MAJOR_VERSION
) -> tuple[Subscription, ...]:
    """One AGV (the simulator): its own order and instantActions."""
    return tuple(
        Subscription(VdaTopic(agv, sub, interface, major).value, DELIVERY[sub].qos)
        for sub in sorted(MASTER_PUBLISHES)
    )
