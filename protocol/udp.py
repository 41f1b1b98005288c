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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from hmac import compare_digest
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
_TAG: Final = auth.TAG_SIZE


class _Sender:
    """What the decoder keeps per robot id seen in a header: the key it was last given
    for it with the key's two HMAC pads hashed once (RFC 2104: two of the six SHA-256
    blocks a datagram's tag costs), and the robot's replay window."""

    __slots__ = ("inner", "key", "outer", "robot", "window")

    def __init__(self, robot: str, key: bytes) -> None:
        self.robot = robot
        self.key = key
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self.inner = hashlib.sha256(block.translate(_IPAD))
        self.outer = hashlib.sha256(block.translate(_OPAD))
        self.window = ReplayWindow()


class DatagramDecoder:
    """Datagram -> ``Telemetry`` or ``Dropped``, keeping each robot's replay window.

    ``key_for`` is asked for the robot's key on every datagram (a new key counts at
    once); ``reset`` forgets a robot's window (a new hello, a registry change).
    """

    def __init__(self, key_for: Callable[[str], bytes | None], max_size: int = 1400) -> None:
        self._key_for = key_for
        self.max_size = max_size
        self._decoder = msgspec.json.Decoder(_Datagram)
        self._senders: dict[bytes, _Sender] = {}  # header id (length byte + id) -> sender

    def reset(self, robot: str) -> None:
        header = robot.encode("ascii", "ignore")
        if len(header) == len(robot) < 256:  # else no header can name it
            self._senders.pop(bytes((len(header),)) + header, None)

    def decode(self, data: bytes) -> Telemetry | Dropped:
        good, dropped = self.decode_run((data,))
        return good[0] if good else dropped[0]

    def decode_run(self, datagrams: Iterable[bytes]) -> tuple[list[Telemetry], list[Dropped]]:
        """Each datagram checked on its own, in order (the replay window sees them in
        the order given): the telemetry that passed, and a ``Dropped`` per other one.

        One loop for a burst of datagrams, the checks inline: the Python around the
        HMAC and the JSON decode was as much again as they are.
        """
        good: list[Telemetry] = []
        dropped: list[Dropped] = []
        senders = self._senders
        key_for = self._key_for
        decode = self._decoder.decode
        max_size = self.max_size
        for data in datagrams:
            size = len(data)
            if size > max_size:
                dropped.append(Dropped(DropReason.TOO_LARGE))
                continue
            if size < _MIN_SIZE or not data.startswith(MAGIC):
                dropped.append(Dropped(DropReason.MALFORMED))
                continue
            body_start = 4 + data[3]
            tag_start = size - _TAG
            if body_start == 4 or body_start >= tag_start:
                dropped.append(Dropped(DropReason.MALFORMED))
                continue
            header = data[3:body_start]
            sender = senders.get(header)
            if sender is None:
                try:
                    robot = header[1:].decode("ascii")
                except UnicodeDecodeError:
                    dropped.append(Dropped(DropReason.MALFORMED))
                    continue
                key = key_for(robot)
                if key is None:
                    dropped.append(Dropped(DropReason.UNKNOWN_ROBOT, robot))
                    continue
                sender = senders[header] = _Sender(robot, key)
            else:
                robot = sender.robot
                key = key_for(robot)
                if key is not sender.key:
                    if key is None:
                        dropped.append(Dropped(DropReason.UNKNOWN_ROBOT, robot))
                        continue
                    window = sender.window  # a new key, the same robot: its window stays
                    sender = senders[header] = _Sender(robot, key)
                    sender.window = window
            inner = sender.inner.copy()
            inner.update(data[:tag_start])
            outer = sender.outer.copy()
            outer.update(inner.digest())
            if not compare_digest(outer.digest(), data[tag_start:]):
                dropped.append(Dropped(DropReason.BAD_SIGNATURE, robot))
                continue
            try:
                msg = decode(data[body_start:tag_start])
            except msgspec.DecodeError:
                dropped.append(Dropped(DropReason.BAD_MESSAGE, robot))
                continue
            if msg.robot != robot or msg.v != 1:
                dropped.append(
                    Dropped(
                        DropReason.ROBOT_MISMATCH if msg.v == 1 else DropReason.BAD_MESSAGE, robot
                    )
                )
                continue
            if not sender.window.accept(msg.seq):
                dropped.append(Dropped(DropReason.REPLAYED, robot))
                continue
            good.append(msg)
        return good, dropped
