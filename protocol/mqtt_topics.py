"""Our v1 MQTT topic layout, presence and payload checks, sans-IO.

Layout (docs/protocol.md, section MQTT)::

    robodine/v1/robots/{robot_id}/{channel}

Robots publish ``telemetry``, ``state``, ``event``, ``ack`` and ``presence``;
the gateway publishes ``command``. Payloads are the same JSON messages as on
TCP, decoded by ``protocol.envelope``; ``presence`` is the plain text
``online`` (retained) or ``offline`` (retained, and the robot's last will).

Values here are frozen and validated in ``__post_init__`` (aiomqtt ``Topic``
style): a topic we build wrongly is a ``LocalProtocolError``; a topic or a
payload a peer sent wrongly is a ``RemoteProtocolError`` with a code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal, get_args

from protocol.envelope import encode, gateway_decoder, robot_decoder
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.messages import Ack, Command, Event, RobotId, State, Telemetry
from protocol.vocabulary import ErrorCode

__all__ = [
    "DELIVERY",
    "GATEWAY_CHANNELS",
    "MAX_TOPIC_LENGTH",
    "ROBOT_CHANNELS",
    "TOPIC_ROOT",
    "Channel",
    "ChannelMessage",
    "Delivery",
    "Inbound",
    "InboundDecoder",
    "Presence",
    "Publication",
    "RobotTopic",
    "Subscription",
    "check_level",
    "decode_command",
    "gateway_subscriptions",
    "last_will",
    "parse_presence",
    "presence_publication",
    "publication_for",
    "robot_subscriptions",
]

TOPIC_ROOT: Final = "robodine/v1/robots"
MAX_TOPIC_LENGTH: Final = 65535  # MQTT 3.1.1 section 1.5.3: a UTF-8 string of at most 64 KiB
_ROBOT_ID: Final = re.compile(get_args(RobotId)[1].pattern)
_FORBIDDEN_IN_LEVEL: Final = frozenset("/+#\x00")

QoS = Literal[0, 1, 2]


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    STATE = "state"
    EVENT = "event"
    ACK = "ack"
    PRESENCE = "presence"
    COMMAND = "command"


ROBOT_CHANNELS: Final = frozenset(
    {Channel.TELEMETRY, Channel.STATE, Channel.EVENT, Channel.ACK, Channel.PRESENCE}
)
GATEWAY_CHANNELS: Final = frozenset({Channel.COMMAND})


class Presence(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How messages on one channel are published: QoS level and retain flag."""

    qos: QoS
    retain: bool = False


# Telemetry is latest-wins (like UDP), so a lost sample costs nothing: QoS 0.
# Everything that changes what the gateway believes goes QoS 1. Presence is
# retained so a gateway that (re)subscribes learns every robot's presence at once.
DELIVERY: Final[Mapping[Channel, Delivery]] = {
    Channel.TELEMETRY: Delivery(0),
    Channel.STATE: Delivery(1),
    Channel.EVENT: Delivery(1),
    Channel.ACK: Delivery(1),
    Channel.PRESENCE: Delivery(1, retain=True),
    Channel.COMMAND: Delivery(1),
}


def check_level(value: object, what: str) -> str | None:
    """Why ``value`` cannot be one topic level, or None if it can.

    We refuse empty levels; ``/`` splits levels, ``+`` and ``#`` are
    wildcards, NUL is illegal, and a leading ``$`` is reserved for broker
    topics (MQTT 3.1.1 section 4.7).
    """
    if not isinstance(value, str) or not value:
        return f"{what} must be a non-empty string, got {value!r}"
    if _FORBIDDEN_IN_LEVEL.intersection(value) or value.startswith("$"):
        return f"{what} {value!r} contains a character forbidden in a topic level (/ + # $ NUL)"
    return None


def _is_robot_id(value: object) -> bool:
    return isinstance(value, str) and _ROBOT_ID.match(value) is not None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A topic filter to subscribe to, with the QoS to ask for."""

    topic_filter: str
    qos: QoS

    def __post_init__(self) -> None:
        levels = self.topic_filter.split("/")
        if (
            not self.topic_filter
            or len(self.topic_filter) > MAX_TOPIC_LENGTH
            or any(("+" in lv or "#" in lv) and len(lv) > 1 for lv in levels)
            or "#" in levels[:-1]
        ):
            raise LocalProtocolError(f"invalid topic filter {self.topic_filter!r}")
        if self.qos not in (0, 1, 2):
            raise LocalProtocolError(f"invalid QoS {self.qos!r}")


@dataclass(frozen=True, slots=True)
class Publication:
    """One message to publish (or to set as last will): maps 1:1 to aiomqtt."""

    topic: str
    payload: bytes
    qos: QoS
    retain: bool = False

    def __post_init__(self) -> None:
        if not self.topic or len(self.topic) > MAX_TOPIC_LENGTH or set("+#") & set(self.topic):
            raise LocalProtocolError(f"invalid topic to publish {self.topic!r}")
        if self.qos not in (0, 1, 2):
            raise LocalProtocolError(f"invalid QoS {self.qos!r}")


@dataclass(frozen=True, slots=True)
class RobotTopic:
    """``robodine/v1/robots/{robot}/{channel}``, validated on construction."""

    robot: str
    channel: Channel

    def __post_init__(self) -> None:
        if not _is_robot_id(self.robot):
            raise LocalProtocolError(f"invalid robot id {self.robot!r}")
        if not isinstance(self.channel, Channel):
            raise LocalProtocolError(f"invalid channel {self.channel!r}")

    @property
    def value(self) -> str:
        return f"{TOPIC_ROOT}/{self.robot}/{self.channel.value}"

    def __str__(self) -> str:
        return self.value

    @property
    def delivery(self) -> Delivery:
        return DELIVERY[self.channel]

    @classmethod
    def parse(cls, topic: str, *, accept: frozenset[Channel] = ROBOT_CHANNELS) -> RobotTopic:
        """Read a received topic; ``accept`` is what this side may receive.

        Raises ``RemoteProtocolError``: BAD_MESSAGE for a topic outside our
        layout or with a bad robot id, UNKNOWN_TYPE for an unknown channel,
        UNEXPECTED for a channel sent in the wrong direction.
        """
        topic = str(topic)  # also takes an aiomqtt Topic
        prefix = TOPIC_ROOT + "/"
        if not topic.startswith(prefix):
            raise RemoteProtocolError(f"topic {topic!r} is not under {prefix!r}")
        rest = topic[len(prefix) :].split("/")
        if len(rest) != 2:
            raise RemoteProtocolError(
                f"topic {topic!r} must be {TOPIC_ROOT}/{{robot_id}}/{{channel}}"
            )
        robot, channel = rest
        if not _ROBOT_ID.match(robot):
            raise RemoteProtocolError(f"invalid robot id {robot!r} in topic {topic!r}")
        try:
            kind = Channel(channel)
        except ValueError:
            raise RemoteProtocolError(
                f"unknown channel {channel!r} in topic {topic!r}", code=ErrorCode.UNKNOWN_TYPE
            ) from None
        if kind not in accept:
            raise RemoteProtocolError(
                f"channel {channel!r} is not accepted in this direction",
                code=ErrorCode.UNEXPECTED,
            )
        return cls(robot, kind)


def gateway_subscriptions() -> tuple[Subscription, ...]:
    """One filter per robot channel, never ``+/+``: that would echo our own commands."""
    return tuple(
        Subscription(f"{TOPIC_ROOT}/+/{ch.value}", DELIVERY[ch].qos)
        for ch in sorted(ROBOT_CHANNELS)
    )


def robot_subscriptions(robot: str) -> tuple[Subscription, ...]:
    """What one robot (or the simulator acting as it) subscribes to."""
    topic = RobotTopic(robot, Channel.COMMAND)
    return (Subscription(topic.value, topic.delivery.qos),)


# ---- presence -----------------------------------------------------------------


def presence_publication(robot: str, presence: Presence) -> Publication:
    topic = RobotTopic(robot, Channel.PRESENCE)
    return Publication(topic.value, presence.value.encode(), topic.delivery.qos, retain=True)


def last_will(robot: str) -> Publication:
    """The will a robot sets on connect: the broker publishes ``offline`` if it vanishes."""
    return presence_publication(robot, Presence.OFFLINE)


def parse_presence(payload: bytes) -> Presence:
    try:
        return Presence(payload.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise RemoteProtocolError(
            f"presence payload must be 'online' or 'offline', got {payload[:32]!r}"
        ) from None


# ---- payloads -------------------------------------------------------------------

ChannelMessage = Telemetry | State | Event | Ack
_CHANNEL_OF: Final[Mapping[type, Channel]] = {
    Telemetry: Channel.TELEMETRY,
    State: Channel.STATE,
    Event: Channel.EVENT,
    Ack: Channel.ACK,
    Command: Channel.COMMAND,
}


def publication_for(msg: ChannelMessage | Command) -> Publication:
    """The topic, payload and flags to publish ``msg`` with; the topic robot is ``msg.robot``."""
    channel = _CHANNEL_OF.get(type(msg))
    if channel is None:
        raise LocalProtocolError(f"{type(msg).__name__} is not sent over MQTT")
    topic = RobotTopic(msg.robot, channel)
    delivery = topic.delivery
    return Publication(topic.value, encode(msg), delivery.qos, delivery.retain)


def _type_name(msg: object) -> str:
    return str(type(msg).__struct_config__.tag)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One decoded robot -> gateway MQTT message."""

    topic: RobotTopic
    message: ChannelMessage | Presence

    @property
    def robot(self) -> str:
        return self.topic.robot


_MAX_REMEMBERED_TOPICS: Final = 20_000  # 5 channels x 4,000 robots; refilled after a clear


class InboundDecoder:
    """Gateway side: (topic, payload) -> ``Inbound``, or ``RemoteProtocolError``.

    The payload must be the message type its channel names, and its ``robot``
    must be the topic's robot: the broker's ACL authenticates the topic, so a
    payload naming another robot is refused (BAD_MESSAGE), never believed.
    """

    def __init__(self, max_size: int = 65536) -> None:
        self._decoder = gateway_decoder()
        self.max_size = max_size  # as the TCP frame limit: a robot message is a few hundred bytes
        self._topics: dict[str, RobotTopic] = {}
        # The payload decode of ``message`` without its checks (``BodyDecoder.unchecked``):
        # a batch path checks version, type and robot itself and sends any message that
        # fails or raises to ``message``, for the error that says why.
        self.decode_unchecked = self._decoder.unchecked

    def topic(self, topic: str) -> RobotTopic:
        """``RobotTopic.parse``, remembered: a fleet uses a few topics per robot, over and over,
        and parsing one cost more than decoding its payload."""
        parsed = self._topics.get(topic)
        if parsed is None:
            parsed = RobotTopic.parse(topic)
            if len(self._topics) >= _MAX_REMEMBERED_TOPICS:
                self._topics.clear()
            self._topics[topic] = parsed
        return parsed

    def decode(self, topic: str, payload: bytes) -> Inbound:
        return Inbound(self.topic(topic), self.message(topic, payload))

    def message(self, topic: str, payload: bytes) -> ChannelMessage | Presence:
        """``decode(...).message``, without building the ``Inbound`` (the gateway's hot path)."""
        parsed = self.topic(topic)
        if len(payload) > self.max_size:
            raise RemoteProtocolError(
                f"payload of {len(payload)} bytes exceeds {self.max_size}",
                code=ErrorCode.FRAME_TOO_LARGE,
            )
        if parsed.channel is Channel.PRESENCE:
            return parse_presence(payload)
        msg = self._decoder.decode(payload)
        if _CHANNEL_OF.get(type(msg)) is not parsed.channel:
            raise RemoteProtocolError(
                f"a {_type_name(msg)!r} message on the {parsed.channel.value!r} channel"
            )
        if msg.robot != parsed.robot:
            raise RemoteProtocolError(
                f"payload robot {msg.robot!r} does not match topic robot {parsed.robot!r}"
            )
        return msg  # type: ignore[return-value]


_robot_side = robot_decoder()


def decode_command(topic: str, payload: bytes) -> Command:
    """Robot side (the simulator): a command addressed to the topic's robot."""
    parsed = RobotTopic.parse(topic, accept=GATEWAY_CHANNELS)
    msg = _robot_side.decode(payload)
    if not isinstance(msg, Command):
        raise RemoteProtocolError(f"a {_type_name(msg)!r} message on the 'command' channel")
    if msg.robot != parsed.robot:
        raise RemoteProtocolError(
            f"payload robot {msg.robot!r} does not match topic robot {parsed.robot!r}"
        )
    return msg
