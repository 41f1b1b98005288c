"""Signed camera chunks: one JPEG frame split into datagrams (docs/protocol.md §11).

Layout of one chunk (all integers big-endian)::

    "RC" 0x01 | n | robot id | m | camera id | seq u64 | frame u32 | index u16 | count u16
    | size u32 | ts f64 | payload | HMAC-SHA256 (32 bytes)

The tag covers every byte before it. As for telemetry datagrams, the robot id
is in clear so the key is found and the tag checked before anything else is
believed. ``seq`` strictly increases per (robot, camera): a chunk at or below
the last accepted one is dropped as replayed (a late chunk is as useless to a
live view as a replayed one). A frame is ``count`` chunks of one ``frame`` id,
their payloads in ``index`` order; ``size`` is the whole frame's length.

The same bytes are a camera frame over TCP: a frame body that starts with the
magic is a chunk, not JSON (docs/protocol.md §3).

Decoding never raises: a chunk or a ``Dropped`` with its reason.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from protocol import auth
from protocol.cameras import is_camera_id
from protocol.errors import LocalProtocolError
from protocol.udp import ReplayWindow

__all__ = [
    "CHUNK_MAGIC",
    "DEFAULT_MAX_CHUNK",
    "MAX_CHUNKS",
    "CameraDrop",
    "CameraSender",
    "Chunk",
    "ChunkDecoder",
    "Dropped",
    "RawChunk",
    "encode_chunks",
    "is_chunk",
]

CHUNK_MAGIC: Final = b"RC\x01"
DEFAULT_MAX_CHUNK: Final = 1400  # a datagram that fits an Ethernet MTU with its headers
MAX_CHUNKS: Final = 4096  # chunks of one frame at most
_fixed = struct.Struct(">QIHHId")  # seq, frame, index, count, size, ts
_TAG: Final = auth.TAG_SIZE
_MIN_SIZE: Final = len(CHUNK_MAGIC) + 2 + 2 + _fixed.size + _TAG  # 1-byte ids, empty payload


class CameraDrop(StrEnum):
    """Why a chunk or a frame was dropped (``robodine_gateway_camera_dropped_total``)."""

    MALFORMED = "malformed"  # too short, wrong magic, bad ids or counts
    TOO_LARGE = "too_large"  # the chunk, or the frame size it states
    UNKNOWN_ROBOT = "unknown_robot"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"  # seq not above the camera's last accepted one
    ROBOT_MISMATCH = "robot_mismatch"  # over TCP: the chunk names another robot (gateway)
    UNKNOWN_CAMERA = "unknown_camera"  # not announced by the robot (gateway)
    INCOMPLETE = "incomplete"  # a frame that never completed (gateway)
    INCONSISTENT = "inconsistent"  # chunks of one frame that disagree (gateway)
    NOT_JPEG = "not_jpeg"  # assembled, but not a whole JPEG (gateway)
    OVER_BUDGET = "over_budget"  # evicted: assembly memory full (gateway)
    SUPERSEDED = "superseded"  # a newer frame of the camera took its place unwritten (gateway)
    RATE_LIMITED = "rate_limited"  # whole frames above camera.max_fps (gateway)
    REDIS_DOWN = "redis_down"  # (gateway)


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: CameraDrop
    robot: str | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    robot: str
    camera: str
    seq: int
    frame: int
    index: int
    count: int
    size: int  # bytes of the whole frame
    ts: float  # capture time, robot clock
    payload: bytes


def is_chunk(body: bytes) -> bool:
    return body[:3] == CHUNK_MAGIC


@dataclass(frozen=True, slots=True)
class RawChunk:
    """A TCP frame that is a camera chunk: checked by the gateway's ``ChunkDecoder``."""

    data: bytes


def _header(robot: bytes, camera: bytes) -> bytes:
    return CHUNK_MAGIC + bytes((len(robot),)) + robot + bytes((len(camera),)) + camera


def encode_chunks(
    robot: str,
    camera: str,
    key: bytes,
    *,
    frame: int,
    data: bytes,
    ts: float,
    seq: int,
    max_chunk: int = DEFAULT_MAX_CHUNK,
) -> list[bytes]:
    """The chunks of one frame, ``seq`` counting up from the given one."""
    rid, cid = robot.encode("ascii"), camera.encode("ascii")
    if not 0 < len(rid) < 65 or not is_camera_id(camera):
        raise LocalProtocolError(f"bad robot or camera id: {robot!r}, {camera!r}")
    head = _header(rid, cid)
    room = max_chunk - len(head) - _fixed.size - _TAG
    if room < 1:
        raise LocalProtocolError(f"max_chunk {max_chunk} leaves no room for a payload")
    count = max(1, -(-len(data) // room))
    if count > MAX_CHUNKS or len(data) >= 2**32:
        raise LocalProtocolError(f"a frame of {len(data)} bytes needs too many chunks")
    out = []
    for index in range(count):
        part = data[index * room : (index + 1) * room]
        signed = head + _fixed.pack(seq + index, frame, index, count, len(data), ts) + part
        out.append(signed + hmac.digest(key, signed, hashlib.sha256))
    return out


class CameraSender:
    """A robot's side: frame ids and the chunk ``seq`` per camera (simulator, vendors)."""

    def __init__(self, robot: str, key: bytes, max_chunk: int = DEFAULT_MAX_CHUNK) -> None:
        self.robot, self.key, self.max_chunk = robot, key, max_chunk
        self._next: dict[str, tuple[int, int]] = {}  # camera -> (next frame id, next seq)

    def restart(self) -> None:
        """After a new hello the gateway forgets the windows: counting may start again."""
        self._next.clear()

    def frame(self, camera: str, data: bytes, ts: float) -> list[bytes]:
        frame, seq = self._next.get(camera, (0, 0))
        chunks = encode_chunks(
            self.robot,
            camera,
            self.key,
            frame=frame,
            data=data,
            ts=ts,
            seq=seq,
            max_chunk=self.max_chunk,
        )
        self._next[camera] = ((frame + 1) % 2**32, seq + len(chunks))
        return chunks


class ChunkDecoder:
    """Chunk bytes -> ``Chunk`` or ``Dropped``, keeping a replay window per (robot, camera).

    ``key_for`` is asked for the robot's key on every chunk (a new key counts at
    once); ``announced(robot, camera)`` says whether the robot announced that camera
    (the gateway's answer; a window is kept only for those), ``reset`` forgets a
    robot's windows (a new hello).
    """

    def __init__(
        self,
        key_for: Callable[[str], bytes | None],
        *,
        announced: Callable[[str, str], bool] | None = None,
        max_chunk: int = DEFAULT_MAX_CHUNK,
        max_frame: int = 1024 * 1024,
    ) -> None:
        self._key_for = key_for
        self._announced = announced
        self.max_chunk = max_chunk
        self.max_frame = max_frame
        self._windows: dict[tuple[str, str], ReplayWindow] = {}

    def reset(self, robot: str) -> None:
        for key in [k for k in self._windows if k[0] == robot]:
            del self._windows[key]

    def decode(self, data: bytes) -> Chunk | Dropped:
        size = len(data)
        if size > self.max_chunk:
            return Dropped(CameraDrop.TOO_LARGE)
        if size < _MIN_SIZE or not data.startswith(CHUNK_MAGIC):
            return Dropped(CameraDrop.MALFORMED)
        n = data[3]
        cam_at = 4 + n
        if n == 0 or n > 64 or cam_at >= size:
            return Dropped(CameraDrop.MALFORMED)
        m = data[cam_at]
        fixed_at = cam_at + 1 + m
        tag_at = size - _TAG
        if m == 0 or fixed_at + _fixed.size > tag_at:
            return Dropped(CameraDrop.MALFORMED)
        try:
            robot = data[4:cam_at].decode("ascii")
            camera = data[cam_at + 1 : fixed_at].decode("ascii")
        except UnicodeDecodeError:
            return Dropped(CameraDrop.MALFORMED)
        key = self._key_for(robot)
        if key is None:
            return Dropped(CameraDrop.UNKNOWN_ROBOT, robot)
        if not hmac.compare_digest(
            hmac.digest(key, memoryview(data)[:tag_at], hashlib.sha256), data[tag_at:]
        ):
            return Dropped(CameraDrop.BAD_SIGNATURE, robot)
        seq, frame, index, count, total, ts = _fixed.unpack_from(data, fixed_at)
        if not is_camera_id(camera) or not index < count <= MAX_CHUNKS or not math.isfinite(ts):
            return Dropped(CameraDrop.MALFORMED, robot)
        if total > self.max_frame:
            return Dropped(CameraDrop.TOO_LARGE, robot)
        if self._announced is not None and not self._announced(robot, camera):
            return Dropped(CameraDrop.UNKNOWN_CAMERA, robot)
        window = self._windows.get((robot, camera))
        if window is None:
            window = self._windows[robot, camera] = ReplayWindow()
        if not window.accept(seq):
            return Dropped(CameraDrop.REPLAYED, robot)
        return Chunk(
            robot,
            camera,
            seq,
            frame,
            index,
            count,
            total,
            ts,
            data[fixed_at + _fixed.size : tag_at],
        )
