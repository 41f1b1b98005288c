"""JSON body <-> message, with an error code that says what was wrong.

The fast path is one msgspec decode into the tagged union. Only a body that
fails it is parsed a second time, to tell the robot *why* (version, type,
direction or field), so a bad robot costs more than a good one, never the reverse.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
import orjson

from protocol.errors import RemoteProtocolError
from protocol.messages import (
    GATEWAY_TO_ROBOT,
    ROBOT_TO_GATEWAY,
    Ack,
    Command,
    Event,
    GatewayMessage,
    RobotMessage,
)
from protocol.vocabulary import PROTOCOL_VERSION, ErrorCode, MessageType

__all__ = ["BodyDecoder", "encode", "gateway_decoder", "robot_decoder"]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()


def encode(msg: msgspec.Struct) -> bytes:
    return _encoder.encode(msg)


class _Header(msgspec.Struct):
    v: Any = None
    type: Any = None


_header_decoder = msgspec.json.Decoder(_Header)


class BodyDecoder(Generic[T]):
    """Decodes one JSON body into the message types one side may receive."""

    def __init__(self, union: Any, accepted: frozenset[str]) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(union)
        self._accepted = accepted
        # msgspec's decode alone: no version check, and a bare msgspec.DecodeError (or
        # ValidationError) without the diagnosis. For batch paths that check the rest
        # themselves and send whatever fails to ``decode``, which says why.
        self.unchecked = self._decoder.decode

    def decode(self, body: bytes) -> T:
        try:
            msg = self._decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise self._diagnose(body, exc) from None
        except RecursionError:  # nested past the interpreter's limit (a 64 KiB frame can be)
            raise _too_deep() from None
        if msg.v != PROTOCOL_VERSION:  # type: ignore[attr-defined]
            raise RemoteProtocolError(
                f"unsupported protocol version {msg.v!r}",  # type: ignore[attr-defined]
                code=ErrorCode.UNSUPPORTED_VERSION,
            )
        if type(msg) in _FREE_FORM:
            _storable(msg)
        return msg

    def _diagnose(self, body: bytes, exc: msgspec.DecodeError) -> RemoteProtocolError:
        try:
            head = _header_decoder.decode(body)
        except msgspec.DecodeError:
            return RemoteProtocolError(f"invalid JSON: {exc}", code=ErrorCode.BAD_MESSAGE)
        except RecursionError:
            return _too_deep()
        if head.v not in (None, PROTOCOL_VERSION):
            return RemoteProtocolError(
                f"unsupported protocol version {head.v!r}", code=ErrorCode.UNSUPPORTED_VERSION
            )
        if not isinstance(head.type, str) or head.type not in MessageType.__members__.values():
            return RemoteProtocolError(
                f"unknown message type {head.type!r}", code=ErrorCode.UNKNOWN_TYPE
            )
        if head.type not in self._accepted:
            return RemoteProtocolError(
                f"{head.type!r} is not sent in this direction", code=ErrorCode.UNEXPECTED
            )
        return RemoteProtocolError(f"invalid {head.type}: {exc}", code=ErrorCode.BAD_MESSAGE)


# Messages with a JSON object of the sender's own, which the streams keep as it is.
_FREE_FORM: dict[type, str] = {Event: "data", Ack: "data", Command: "args"}


def _storable(msg: Any) -> None:
    """The free-form object must be JSON the streams (orjson) can write: no integer beyond
    64 bits, no nesting past 254 levels. msgspec reads both, so without this check the
    message was accepted and then failed where it was written (found by tests/fuzz)."""
    name = _FREE_FORM[type(msg)]
    try:
        orjson.dumps(getattr(msg, name))
    except TypeError as exc:  # "Integer exceeds 64-bit range", "Recursion limit reached"
        raise RemoteProtocolError(
            f"invalid {msg.__struct_config__.tag}: {name}: {exc}", code=ErrorCode.BAD_MESSAGE
        ) from None


def _too_deep() -> RemoteProtocolError:
    return RemoteProtocolError("invalid JSON: nested too deeply", code=ErrorCode.BAD_MESSAGE)


def gateway_decoder() -> BodyDecoder[RobotMessage]:
    """What the gateway receives: messages robots send."""
    return BodyDecoder(RobotMessage, ROBOT_TO_GATEWAY)


def robot_decoder() -> BodyDecoder[GatewayMessage]:
    """What a robot (or the simulator) receives: messages the gateway sends."""
    return BodyDecoder(GatewayMessage, GATEWAY_TO_ROBOT)
