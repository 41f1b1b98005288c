"""VDA 5050 JSON bytes <-> typed messages, and MQTT publications of them.

Every decode failure is a ``RemoteProtocolError`` whose message names the
message kind and the field (msgspec's path, e.g. "at `$.nodes[0].sequenceId`"):
BAD_MESSAGE for bad JSON or fields, UNSUPPORTED_VERSION for a header whose
major version is not 2, FRAME_TOO_LARGE above ``MAX_PAYLOAD``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar, cast

import msgspec

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.kinds import ErrorCode
from protocol.mqtt_topics import Publication
from protocol.vda5050.factsheet import Factsheet
from protocol.vda5050.headers import Header
from protocol.vda5050.kinds import INTERFACE_NAME, ConnectionState, Subtopic
from protocol.vda5050.messages import Connection, InstantActions, Order, Visualization
from protocol.vda5050.state import State
from protocol.vda5050.topics import AgvId, VdaTopic

__all__ = [
    "MAX_PAYLOAD",
    "MESSAGE_TYPES",
    "VdaMessage",
    "connection_last_will",
    "connection_message",
    "decode",
    "decode_connection",
    "decode_factsheet",
    "decode_for_topic",
    "decode_instant_actions",
    "decode_order",
    "decode_state",
    "decode_visualization",
    "encode",
    "publication",
    "subtopic_of",
]

MAX_PAYLOAD: Final = 1 << 20  # a restaurant order is a few KiB; 1 MiB is generous

VdaMessage = Order | InstantActions | State | Connection | Visualization | Factsheet
M = TypeVar("M", bound=msgspec.Struct)

MESSAGE_TYPES: Final[Mapping[Subtopic, type[Any]]] = {
    Subtopic.ORDER: Order,
    Subtopic.INSTANT_ACTIONS: InstantActions,
    Subtopic.STATE: State,
    Subtopic.CONNECTION: Connection,
    Subtopic.VISUALIZATION: Visualization,
    Subtopic.FACTSHEET: Factsheet,
}
_SUBTOPIC_OF: Final[Mapping[type[Any], Subtopic]] = {t: s for s, t in MESSAGE_TYPES.items()}
_DECODERS: Final[Mapping[Subtopic, msgspec.json.Decoder[Any]]] = {
    s: msgspec.json.Decoder(t) for s, t in MESSAGE_TYPES.items()
}
_encoder = msgspec.json.Encoder()


def encode(msg: VdaMessage) -> bytes:
    return _encoder.encode(msg)


def subtopic_of(msg: VdaMessage) -> Subtopic:
    try:
        return _SUBTOPIC_OF[type(msg)]
    except KeyError:
        raise LocalProtocolError(f"{type(msg).__name__} is not a VDA 5050 message") from None


def decode(subtopic: Subtopic, payload: bytes) -> VdaMessage:
    """Decode a message of the kind ``subtopic`` carries; check the major version."""
    if len(payload) > MAX_PAYLOAD:
        raise RemoteProtocolError(
            f"VDA 5050 {subtopic.value} of {len(payload)} bytes exceeds {MAX_PAYLOAD}",
            code=ErrorCode.FRAME_TOO_LARGE,
        )
    try:
        msg = _DECODERS[subtopic].decode(payload)
    except msgspec.ValidationError as exc:
        raise RemoteProtocolError(f"invalid VDA 5050 {subtopic.value}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"VDA 5050 {subtopic.value} is not valid JSON: {exc}") from None
    version = msg.version
    if version is not None and version.split(".", 1)[0] != "2":
        raise RemoteProtocolError(
            f"VDA 5050 {subtopic.value} has version {version!r}, we speak 2.x",
            code=ErrorCode.UNSUPPORTED_VERSION,
        )
    return cast(VdaMessage, msg)


def _typed(subtopic: Subtopic, payload: bytes, kind: type[M]) -> M:
    return cast(M, decode(subtopic, payload))


def decode_order(payload: bytes) -> Order:
    return _typed(Subtopic.ORDER, payload, Order)


def decode_instant_actions(payload: bytes) -> InstantActions:
    return _typed(Subtopic.INSTANT_ACTIONS, payload, InstantActions)


def decode_state(payload: bytes) -> State:
    return _typed(Subtopic.STATE, payload, State)


def decode_connection(payload: bytes) -> Connection:
    return _typed(Subtopic.CONNECTION, payload, Connection)


def decode_visualization(payload: bytes) -> Visualization:
    return _typed(Subtopic.VISUALIZATION, payload, Visualization)


def decode_factsheet(payload: bytes) -> Factsheet:
    return _typed(Subtopic.FACTSHEET, payload, Factsheet)


def decode_for_topic(topic: VdaTopic, payload: bytes) -> VdaMessage:
    """Decode and check the header names the topic's AGV (BAD_MESSAGE if not).

    The broker's ACL vouches for the topic, not for the payload: an AGV that
    reports under another AGV's serial number is refused, never believed.
    Visualization may omit manufacturer and serialNumber; absent is accepted.
    """
    msg = decode(topic.subtopic, payload)
    agv = topic.agv
    for wire, got, want in (
        ("manufacturer", msg.manufacturer, agv.manufacturer),
        ("serialNumber", msg.serial_number, agv.serial_number),
    ):
        if got is not None and got != want:
            raise RemoteProtocolError(
                f"VDA 5050 {topic.subtopic.value} {wire} {got!r} does not match topic {want!r}"
            )
    return msg


def publication(msg: VdaMessage, *, interface: str = INTERFACE_NAME) -> Publication:
    """Topic, payload, QoS and retain for ``msg``, addressed by its own header."""
    if msg.manufacturer is None or msg.serial_number is None:
        raise LocalProtocolError("a message to publish needs manufacturer and serialNumber")
    topic = VdaTopic(AgvId(msg.manufacturer, msg.serial_number), subtopic_of(msg), interface)
    delivery = topic.delivery
    return Publication(topic.value, encode(msg), delivery.qos, delivery.retain)


def connection_message(header: Header, state: ConnectionState) -> Connection:
    return Connection(**header.fields(), connection_state=state)


def connection_last_will(header: Header, *, interface: str = INTERFACE_NAME) -> Publication:
    """An AGV's will (6.14): retained CONNECTIONBROKEN; its header is stale by design."""
    return publication(
        connection_message(header, ConnectionState.CONNECTIONBROKEN), interface=interface
    )
