"""VDA 5050 JSON bytes <-> typed messages, and MQTT publications of them, in every version.

Messages are always the 2.1 models; the bytes are in the version the header
says (``version``), through that version's ``Dialect`` (``versions``): 2.1
decodes straight into the models, 2.0 and 1.1 through their transforms.
Every decode failure is a ``RemoteProtocolError`` whose message names the
message kind and the field (msgspec's path, e.g. "at `$.nodes[0].sequenceId`"):
BAD_MESSAGE for bad JSON or fields, UNSUPPORTED_VERSION for a version we do
not speak (or not the one expected), FRAME_TOO_LARGE above ``MAX_PAYLOAD``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NoReturn, TypeVar, cast

import msgspec

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.mqtt_topics import Publication
from protocol.vda5050.dialect import Dialect
from protocol.vda5050.enums import INTERFACE_NAME, ConnectionState, Subtopic
from protocol.vda5050.factsheet import Factsheet
from protocol.vda5050.headers import Header
from protocol.vda5050.messages import Connection, InstantActions, Order, Visualization
from protocol.vda5050.state import State
from protocol.vda5050.topics import AgvId, VdaTopic
from protocol.vda5050.versions import LATEST, SPOKEN, default_for_major, dialect_for
from protocol.vocabulary import ErrorCode

__all__ = [
    "MAX_PAYLOAD",
    "MESSAGE_TYPES",
    "VdaMessage",
    "connection_last_will",
    "connection_message",
    "connection_state_of",
    "decode",
    "decode_connection",
    "decode_factsheet",
    "decode_for_topic",
    "decode_instant_actions",
    "decode_order",
    "decode_state",
    "decode_visualization",
    "encode",
    "header_version",
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


class _Peek(msgspec.Struct):
    version: str | None = None


_peek = msgspec.json.Decoder(_Peek)


class _PeekConnection(msgspec.Struct, rename="camel"):
    connection_state: ConnectionState | None = None


_peek_connection = msgspec.json.Decoder(_PeekConnection)


def connection_state_of(payload: bytes) -> ConnectionState | None:
    """A ``connection`` message's state in any version, even one we do not speak: whether
    such an AGV is there. None if it cannot be read."""
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        return _peek_connection.decode(payload).connection_state
    except msgspec.MsgspecError:
        return None


def _dialect_of(msg: VdaMessage) -> Dialect:
    if msg.version is None:
        return LATEST
    dialect = dialect_for(msg.version)
    if dialect is None:
        raise LocalProtocolError(f"VDA 5050 {msg.version!r} is not a version we speak ({SPOKEN})")
    return dialect


def encode(msg: VdaMessage) -> bytes:
    """``msg`` in the version its header names (2.1 without one)."""
    dialect = _dialect_of(msg)
    if dialect.native:
        return _encoder.encode(msg)
    doc = msgspec.to_builtins(msg)
    return _encoder.encode(dialect.to_wire(subtopic_of(msg), doc))


def subtopic_of(msg: VdaMessage) -> Subtopic:
    try:
        return _SUBTOPIC_OF[type(msg)]
    except KeyError:
        raise LocalProtocolError(f"{type(msg).__name__} is not a VDA 5050 message") from None


def _check_size(subtopic: Subtopic, payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD:
        raise RemoteProtocolError(
            f"VDA 5050 {subtopic.value} of {len(payload)} bytes exceeds {MAX_PAYLOAD}",
            code=ErrorCode.FRAME_TOO_LARGE,
        )


def header_version(payload: bytes, subtopic: Subtopic = Subtopic.STATE) -> str | None:
    """The header's ``version`` without decoding the rest (None if absent)."""
    _check_size(subtopic, payload)
    try:
        return _peek.decode(payload).version
    except msgspec.ValidationError as exc:
        raise RemoteProtocolError(f"invalid VDA 5050 {subtopic.value}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"VDA 5050 {subtopic.value} is not valid JSON: {exc}") from None


def _unsupported(subtopic: Subtopic, version: str, expected: str | None = None) -> NoReturn:
    want = f"expected {expected}.x" if expected else f"we speak {SPOKEN}"
    raise RemoteProtocolError(
        f"VDA 5050 {subtopic.value} has version {version!r}, {want}",
        code=ErrorCode.UNSUPPORTED_VERSION,
    )


def decode(subtopic: Subtopic, payload: bytes, *, version: str | None = None) -> VdaMessage:
    """Decode a message of the kind ``subtopic`` carries, in ``version`` (default: the one
    its header names, else 2.1); a header naming another version line is refused."""
    if version is None:
        version = header_version(payload, subtopic)
    dialect = LATEST if version is None else dialect_for(version)
    if dialect is None:
        _unsupported(subtopic, str(version))
    try:
        dialect.check_subtopic(subtopic)
        if dialect.native:
            msg = _DECODERS[subtopic].decode(payload)
        else:
            doc = msgspec.json.decode(payload)
            if not isinstance(doc, dict):
                raise msgspec.ValidationError(f"Expected `object`, got `{type(doc).__name__}`")
            msg = msgspec.convert(dialect.to_model(subtopic, doc), MESSAGE_TYPES[subtopic])
    except msgspec.ValidationError as exc:
        raise RemoteProtocolError(f"invalid VDA 5050 {subtopic.value}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"VDA 5050 {subtopic.value} is not valid JSON: {exc}") from None
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(
            f"invalid VDA 5050 {subtopic.value}: {exc.message}", code=exc.code
        ) from None
    if msg.version is not None and not dialect.speaks(msg.version):
        _unsupported(subtopic, msg.version, dialect.line)
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


def decode_for_topic(topic: VdaTopic, payload: bytes, *, version: str | None = None) -> VdaMessage:
    """Decode and check that the message belongs on ``topic`` (BAD_MESSAGE if not).

    The broker's ACL vouches for the topic, not for the payload: an AGV that
    reports under another AGV's serial number is refused, never believed; so is
    a header whose version is of another major version than the topic's level.
    Visualization may omit its header; absent fields are accepted, and its
    version is then ``version`` or the newest line of the topic's major version.
    """
    if version is None:
        version = header_version(payload, topic.subtopic)
    if version is None:
        fallback = default_for_major(topic.major)
        if fallback is None:
            _unsupported(topic.subtopic, topic.major)
        version = fallback.version
    dialect = dialect_for(version)
    if dialect is not None and dialect.major != topic.major:
        raise RemoteProtocolError(
            f"VDA 5050 {topic.subtopic.value} of version {version!r} on a {topic.major} topic"
        )
    msg = decode(topic.subtopic, payload, version=version)
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
    dialect, sub = _dialect_of(msg), subtopic_of(msg)
    topic = VdaTopic(AgvId(msg.manufacturer, msg.serial_number), sub, interface, dialect.major)
    delivery = dialect.delivery.get(sub)
    if delivery is None:
        raise LocalProtocolError(f"VDA 5050 {dialect.line} has no {sub.value} topic")
    return Publication(topic.value, encode(msg), delivery.qos, delivery.retain)


def connection_message(header: Header, state: ConnectionState) -> Connection:
    return Connection(**header.fields(), connection_state=state)


def connection_last_will(header: Header, *, interface: str = INTERFACE_NAME) -> Publication:
    """An AGV's will (6.14): retained CONNECTIONBROKEN; its header is stale by design."""
    return publication(
        connection_message(header, ConnectionState.CONNECTIONBROKEN), interface=interface
    )
