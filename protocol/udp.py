"""Signed UDP telemetry datagrams (docs/protocol.md, section UDP).

Layout::

    "RD" 0x01 | n (1 byte) | robot id (n bytes, ASCII) | JSON telemetry | HMAC-SHA256 (32 bytes)

The tag covers every byte before it. The robot id sits in clear in front of
the body so the key is found, and the tag checked, before any JSON is parsed:
a forged flood costs one HMAC per datagram and nothing more.

Datagrams never raise: ``decode`` returns the message or a ``Dropped`` with a
reason, because dropping and counting is the whole policy for UDP.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import msgspec

from protocol import auth
from protocol.messages import Telemetry

__all__ = ["MAGIC", "DatagramDecoder", "DropReason", "Dropped", "ReplayWindow", "encode_datagram"]

MAGIC: Final = b"RD\x01"
_MIN_SIZE: Final = len(MAGIC) + 1 + 1 + 2 + auth.TAG_SIZE
_encoder = msgspec.json.Encoder()


class DropReason(StrEnum):
    MALFORMED = "malformed"  # too short, wrong magic, bad id length
    TOO_LARGE = "too_large"
    UNKNOWN_ROBOT = "unknown_robot"
    BAD_SIGNATURE = "bad_signature"
    BAD_MESSAGE = "bad_message"  # signed, but the body is not valid telemetry
    ROBOT_MISMATCH = "robot_mismatch"  # body names another robot than the header
    REPLAYED = "replayed"  # seq not above the last accepted one
    RATE_LIMITED = "rate_limited"  # set by the gateway, not by this codec


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: DropReason
    robot: str | None = None


def encode_datagram(msg: Telemetry, key: bytes) -> bytes:
    robot = msg.robot.encode("ascii")
    signed = MAGIC + bytes((len(robot),)) + robot + _encoder.encode(msg)
    return signed + auth.sign(key, signed)


class ReplayWindow:
    """Accept a sequence number only above the last accepted one.

    Telemetry is latest-wins, so a late datagram is as useless as a replayed
    one: both are dropped (DESIGN.md). ``reset`` is for a robot that proved
    itself again in a TCP hello and restarted its counter.
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = -1

    def accept(self, seq: int) -> bool:
        if seq <= self.last:
            return False
        self.last = seq
        return True


class _Datagram(Telemetry, frozen=True, kw_only=True, tag="telemetry"):
    """Telemetry whose ``robot`` skips the RobotId pattern: ``decode`` requires it to
    equal the header's id, a known robot's, and the regex was half the decode's cost.
    Its fields equal a Telemetry's, but msgspec's ``==`` also compares the class."""

    robot: str = ""


_IPAD: Final = bytes(b ^ 0x36 for b in range(256))
_OPAD: Final = bytes(b ^ 0x5C for b in range(256))


class _Signer:
    """``auth.verify`` for one key, with the key's two HMAC pads hashed once (RFC 2104):
    two of the six SHA-256 blocks a datagram's tag costs."""

    __slots__ = ("_inner", "_outer", "key")

    def __init__(self, key: bytes) -> None:
        self.key = key
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def verify(self, data: bytes, tag: bytes) -> bool:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return hmac.compare_digest(outer.digest(), tag)


class DatagramDecoder:
    def __init__(self, key_for: Callable[[str], bytes | None], max_size: int = 1400) -> None:
        self._key_for = key_for
        self.max_size = max_size
        self._decoder = msgspec.json.Decoder(_Datagram)
        self._windows: dict[str, ReplayWindow] = {}
        self._signers: dict[str, _Signer] = {}  # rebuilt when key_for returns another key

    def reset(self, robot: str) -> None:
        self._windows.pop(robot, None)
        self._signers.pop(robot, None)

    def decode(self, data: bytes) -> Telemetry | Dropped:
        size = len(data)
        if size > self.max_size:
            return Dropped(DropReason.TOO_LARGE)
        if size < _MIN_SIZE or not data.startswith(MAGIC):
            return Dropped(DropReason.MALFORMED)
        n = data[3]
        body_start = 4 + n
        tag_start = size - auth.TAG_SIZE
        if n == 0 or body_start >= tag_start:
            return Dropped(DropReason.MALFORMED)
        try:
            robot = data[4:body_start].decode("ascii")
        except UnicodeDecodeError:
            return Dropped(DropReason.MALFORMED)
        key = self._key_for(robot)
        if key is None:
            return Dropped(DropReason.UNKNOWN_ROBOT, robot)
        signer = self._signers.get(robot)
        if signer is None or signer.key is not key:
            signer = self._signers[robot] = _Signer(key)
        if not signer.verify(data[:tag_start], data[tag_start:]):
            return Dropped(DropReason.BAD_SIGNATURE, robot)
        try:
            msg = self._decoder.decode(data[body_start:tag_start])
        except msgspec.DecodeError:
            return Dropped(DropReason.BAD_MESSAGE, robot)
        if msg.robot != robot or msg.v != 1:
            return Dropped(
                DropReason.ROBOT_MISMATCH if msg.v == 1 else DropReason.BAD_MESSAGE, robot
            )
        window = self._windows.get(robot)
        if window is None:
            window = self._windows[robot] = ReplayWindow()
        if not window.accept(msg.seq):
            return Dropped(DropReason.REPLAYED, robot)
        return msg
