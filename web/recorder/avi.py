"""MJPEG in AVI: the segment container that needs nothing beyond the standard library.

An AVI 1.0 file (RIFF, Microsoft's "AVI RIFF File Reference"): one video
stream of fourcc ``MJPG``, each frame a ``00dc`` chunk holding the JPEG as the
robot sent it (no decoding, no re-encoding), and an ``idx1`` index at the end
so players can seek. VLC, ffmpeg/ffplay, mpv and Windows play it. AVI's frame
rate is constant: a segment plays at the camera's announced rate, so a gap in
the frames plays shorter than it lasted; the recording's start and end
(``recordings`` in SQL) are the gateway's clock. The writer appends frames to
a file and fixes the sizes in the headers when it closes (segments stay far
below AVI 1.0's 1 GiB limit).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

__all__ = ["AviWriter", "read_avi_frames"]

_AVIF_HASINDEX = 0x10
_AVIIF_KEYFRAME = 0x10
_HDRL_SIZE = 4 + (8 + 56) + (8 + 4 + (8 + 56) + (8 + 40))  # 'hdrl' + avih + LIST strl
_MOVI_AT = 12 + 8 + _HDRL_SIZE  # offset of the movi LIST header


class AviWriter:
    content_type = "video/x-msvideo"
    extension = "avi"

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        self.path = path
        self.width, self.height, self.fps = width, height, fps
        self._f: BinaryIO = path.open("wb")
        self._index: list[tuple[int, int]] = []  # (offset from 'movi', length) per frame
        self._max_frame = 0
        self._f.write(self._headers())
        self._f.write(b"LIST" + struct.pack("<I", 0) + b"movi")
        self._movi_pos = 4  # next chunk's offset, counted from the 'movi' fourcc
        self.bytes = 0  # JPEG bytes written

    @property
    def frames(self) -> int:
        return len(self._index)

    def add(self, jpeg: bytes, at: float = 0.0) -> None:
        """One frame (``at``, its time, is not kept: AVI's rate is constant)."""
        n = len(jpeg)
        pad = n & 1
        self._f.write(b"00dc" + struct.pack("<I", n) + jpeg + b"\0" * pad)
        self._index.append((self._movi_pos, n))
        self._movi_pos += 8 + n + pad
        self._max_frame = max(self._max_frame, n)
        self.bytes += n

    def close(self) -> int:
        """Write the index, fix the sizes; the file's size."""
        f = self._f
        idx = b"".join(
            b"00dc" + struct.pack("<III", _AVIIF_KEYFRAME, off, n) for off, n in self._index
        )
        f.write(b"idx1" + struct.pack("<I", len(idx)) + idx)
        end = f.tell()
        f.seek(0)
        f.write(self._headers(total=end))
        f.seek(_MOVI_AT + 4)
        f.write(struct.pack("<I", self._movi_pos))  # 'movi' fourcc + chunks
        f.flush()
        f.close()
        return end

    def abort(self) -> None:
        self._f.close()
        self.path.unlink(missing_ok=True)

    def _headers(self, total: int = 0) -> bytes:
        scale, rate = 1000, max(1, round(self.fps * 1000))
        frames = len(self._index)
        usec = round(1_000_000 * scale / rate)
        avih = struct.pack(
            "<IIIIIIIIII4I",
            usec,
            self._max_frame * max(1, round(self.fps)),
            0,
            _AVIF_HASINDEX,
            frames,
            0,
            1,
            self._max_frame,
            self.width,
            self.height,
            0,
            0,
            0,
            0,
        )
        strh = (
            b"vids"
            + b"MJPG"
            + struct.pack(
                "<IHHIIIIIIiI", 0, 0, 0, 0, scale, rate, 0, frames, self._max_frame, -1, 0
            )
            + struct.pack("<hhhh", 0, 0, self.width, self.height)
        )
        strf = struct.pack(
            "<IiiHH4sIiiII",
            40,
            self.width,
            self.height,
            1,
            24,
            b"MJPG",
            self.width * self.height * 3,
            0,
            0,
            0,
            0,
        )
        strl = b"strl" + b"strh" + struct.pack("<I", len(strh)) + strh
        strl += b"strf" + struct.pack("<I", len(strf)) + strf
        hdrl = b"hdrl" + b"avih" + struct.pack("<I", len(avih)) + avih
        hdrl += b"LIST" + struct.pack("<I", len(strl)) + strl
        assert len(hdrl) == _HDRL_SIZE
        return (
            b"RIFF"
            + struct.pack("<I", max(0, total - 8))
            + b"AVI "
            + b"LIST"
            + struct.pack("<I", len(hdrl))
            + hdrl
        )


def read_avi_frames(data: bytes) -> list[bytes]:
    """The JPEGs of an AVI written by ``AviWriter``, found through its ``idx1`` index
    (what a player does to seek; tests check the file with it)."""
    if data[:4] != b"RIFF" or data[8:12] != b"AVI ":
        raise ValueError("not an AVI file")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 != len(data):
        raise ValueError("RIFF size does not match the file")
    pos, movi, idx = 12, -1, b""
    while pos + 8 <= len(data):
        fourcc = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        if fourcc == b"LIST" and data[pos + 8 : pos + 12] == b"movi":
            movi = pos + 8
        elif fourcc == b"idx1":
            idx = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    if movi < 0:
        raise ValueError("no movi list")
    frames = []
    for i in range(0, len(idx), 16):
        ckid, _flags, off, n = struct.unpack_from("<4sIII", idx, i)
        at = movi + off
        if ckid != b"00dc" or data[at : at + 4] != b"00dc":
            raise ValueError(f"index entry {i // 16} does not point at a frame")
        frames.append(data[at + 8 : at + 8 + n])
    return frames
