"""H.264 in MP4 through PyAV (``pip install robodine[video]``): segments a browser plays.

Optional: without PyAV the recorder writes MJPEG in AVI (web/recorder/avi.py).
Each JPEG is decoded and encoded again, which costs CPU the AVI path does not;
the files are smaller. Frames get presentation times from the gateway's clock, so a
gap in the frames plays as long as it lasted.
"""

from __future__ import annotations

import fractions
from pathlib import Path
from typing import Any

__all__ = ["Mp4Writer", "available"]


def available() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


class Mp4Writer:
    content_type = "video/mp4"
    extension = "mp4"

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        import av

        self.path = path
        self._av: Any = av
        self._out: Any = av.open(str(path), "w", format="mp4")
        self._stream: Any = self._out.add_stream("h264", rate=max(1, round(fps)))
        self._stream.width, self._stream.height = width - width % 2, height - height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.codec_context.time_base = fractions.Fraction(1, 1000)
        self._decoder: Any = av.CodecContext.create("mjpeg", "r")
        self._first: float | None = None
        self._last_pts = -1
        self.frames = 0
        self.bytes = 0

    def add(self, jpeg: bytes, at: float) -> None:
        packet = self._av.Packet(jpeg)
        for image in self._decoder.decode(packet):
            if self._first is None:
                self._first = at
            pts = max(self._last_pts + 1, round((at - self._first) * 1000))
            self._last_pts = pts
            frame = image.reformat(self._stream.width, self._stream.height, "yuv420p")
            frame.pts, frame.time_base = pts, fractions.Fraction(1, 1000)
            for out in self._stream.encode(frame):
                self._out.mux(out)
            self.frames += 1
            self.bytes += len(jpeg)

    def close(self) -> int:
        for out in self._stream.encode(None):
            self._out.mux(out)
        self._out.close()
        return self.path.stat().st_size

    def abort(self) -> None:
        try:
            self._out.close()
        finally:
            self.path.unlink(missing_ok=True)
