"""TCP framing: 4-byte big-endian length, then that many bytes of JSON.

``FrameDecoder`` is h11-shaped: ``receive_data`` bytes in, ``next_frame`` out
until it says ``NEED_DATA``. A length above ``max_frame`` is rejected from the
header alone, before any of its body is buffered; the decoder then *skips*
that many bytes, so the stream stays in sync and one bad frame costs one error,
not the connection (docs/protocol.md, section Framing).
"""

from __future__ import annotations

import struct
from enum import Enum
from typing import Final, Literal

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.vocabulary import ErrorCode

__all__ = ["DEFAULT_MAX_FRAME", "HEADER_SIZE", "NEED_DATA", "FrameDecoder", "encode_frame"]

HEADER_SIZE: Final = 4
# Telemetry and commands are a few hundred bytes; 64 KiB leaves room for a
# verbose event while keeping one connection's buffer small (h11 uses 16 KiB).
DEFAULT_MAX_FRAME: Final = 64 * 1024

_header = struct.Struct(">I")


class _NeedData(Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = _NeedData.NEED_DATA


def encode_frame(body: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    if not 0 < len(body) <= max_frame:
        raise LocalProtocolError(f"frame body of {len(body)} bytes is outside 1..{max_frame}")
    return _header.pack(len(body)) + body


class FrameDecoder:
    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._skip = 0  # bytes of a rejected frame still to discard
        self.eof = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the socket; ``b""`` means the peer closed."""
        if not data:
            self.eof = True
            return
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._buf += data

    def next_frame(self) -> bytes | Literal[_NeedData.NEED_DATA]:
        """Return one frame body, or NEED_DATA.

        Raises RemoteProtocolError for an empty or oversized frame; the frame
        is consumed, so calling again continues with the next one.
        """
        if self._skip or len(self._buf) < HEADER_SIZE:
            return self._at_eof()
        (length,) = _header.unpack_from(self._buf)
        if length == 0:
            del self._buf[:HEADER_SIZE]
            raise RemoteProtocolError("empty frame", code=ErrorCode.BAD_MESSAGE)
        if length > self.max_frame:
            del self._buf[:HEADER_SIZE]
            in_buffer = min(length, len(self._buf))
            del self._buf[:in_buffer]
            self._skip = length - in_buffer
            raise RemoteProtocolError(
                f"frame of {length} bytes exceeds the limit of {self.max_frame}",
                code=ErrorCode.FRAME_TOO_LARGE,
            )
        end = HEADER_SIZE + length
        if len(self._buf) < end:
            return self._at_eof()
        body = bytes(self._buf[HEADER_SIZE:end])
        del self._buf[:end]
        return body

    def _at_eof(self) -> Literal[_NeedData.NEED_DATA]:
        if self.eof and (self._buf or self._skip):
            self._buf.clear()
            self._skip = 0
            raise RemoteProtocolError(
                "connection closed inside a frame", code=ErrorCode.BAD_MESSAGE
            )
        return NEED_DATA
