"""Per camera: whether to record, the seconds kept for an incident, the open segment (pure
but for the segment file itself).

A camera is recorded while one of three reasons holds, the strongest naming
the segment: an incident (an alarm event on its robot: until
``incident_after_s`` after it, starting with the ``incident_before_s`` seconds
before it, which are kept in memory for this), a staff request (until the time
``POST /api/video-streams/{id}/record`` set), or ``recorder.continuous``. A
segment ends after ``segment_s``, when its reason changes or ends, or when its
camera stops sending; the recorder then publishes it (web/recorder/recorder.py).
"""

from __future__ import annotations

import builtins
import secrets
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from config.settings import RecorderSettings

__all__ = ["CameraRecorder", "ClosedSegment", "SegmentFile"]

GONE_AFTER_S = 5.0  # a camera silent this long has its segment closed


class SegmentFile(Protocol):
    content_type: str
    extension: str
    frames: int
    bytes: int

    def add(self, jpeg: builtins.bytes, at: float) -> None: ...

    def close(self) -> int: ...

    def abort(self) -> None: ...


@dataclass(frozen=True)
class ClosedSegment:
    robot: str
    camera: str
    path: Path
    started: float
    ended: float
    frames: int
    size: int  # of the file
    reason: str
    incident: str
    content_type: str
    extension: str


class _Open:
    __slots__ = ("ended", "file", "incident", "path", "reason", "started")

    def __init__(self, file: SegmentFile, path: Path, reason: str, incident: str, at: float):
        self.file, self.path, self.reason, self.incident = file, path, reason, incident
        self.started = self.ended = at


class CameraRecorder:
    def __init__(
        self,
        robot: str,
        camera: str,
        width: int,
        height: int,
        fps: float,
        settings: RecorderSettings,
        make_file: type,
    ) -> None:
        self.robot, self.camera = robot, camera
        self.width, self.height, self.fps = width, height, fps
        self.settings = settings
        self._make_file = make_file
        self.preroll: deque[tuple[float, bytes]] = deque()
        self._preroll_bytes = 0
        self.segment: _Open | None = None
        self.request_until = 0.0
        self.incident_until = 0.0
        self.incident = ""  # eid of the newest incident
        self._incident_started = 0.0  # when that incident began (event time)
        self.last_frame = 0.0
        self.cursor = "0-0"  # the camera stream's id read up to (the recorder's XREAD)

    def reason(self, now: float) -> str | None:
        if now < self.incident_until:
            return "incident"
        if now < self.request_until:
            return "request"
        return "continuous" if self.settings.continuous else None

    def incident_at(self, eid: str, at: float) -> None:
        """An alarm on the robot at ``at``: record from ``incident_before_s`` before it."""
        self.incident_until = max(self.incident_until, at + self.settings.incident_after_s)
        if eid != self.incident and (not self.segment or self.segment.reason != "incident"):
            self.incident = eid
            self._incident_started = at

    def frame(self, jpeg: bytes, at: float, now: float, spool: Path) -> list[ClosedSegment]:
        """Take one frame received at ``at`` (gateway clock); the segments this closed."""
        closed: list[ClosedSegment] = []
        self.last_frame = at
        self._keep(jpeg, at)
        reason = self.reason(now)
        seg = self.segment
        if seg is not None and (
            reason != seg.reason or at - seg.started >= self.settings.segment_s
        ):
            closed.append(self.close())
            seg = None
        if reason is None:
            return closed
        if seg is None:
            seg = self._open(reason, at, spool)
            if reason == "incident":  # the seconds before it, from memory
                since = self._incident_started - self.settings.incident_before_s
                for t, old in list(self.preroll)[:-1]:
                    if t >= since:
                        seg.file.add(old, t)
                        seg.started = min(seg.started, t)
        seg.file.add(jpeg, at)
        seg.ended = at
        return closed

    def tick(self, now: float) -> list[ClosedSegment]:
        """A segment whose reason ended, or whose camera went quiet, is closed."""
        seg = self.segment
        if seg is None:
            return []
        if self.reason(now) != seg.reason or now - self.last_frame > GONE_AFTER_S:
            return [self.close()]
        return []

    def close(self) -> ClosedSegment:
        seg = self.segment
        assert seg is not None
        self.segment = None
        frames = seg.file.frames
        size = seg.file.close()
        return ClosedSegment(
            self.robot,
            self.camera,
            seg.path,
            seg.started,
            seg.ended,
            frames,
            size,
            seg.reason,
            seg.incident,
            seg.file.content_type,
            seg.file.extension,
        )

    def abort(self) -> None:
        """The disk refused a write: the open segment is given up."""
        if self.segment is not None:
            self.segment.file.abort()
            self.segment = None

    def _open(self, reason: str, at: float, spool: Path) -> _Open:
        path = spool / f"{self.robot}.{self.camera}.{secrets.token_hex(6)}.part"
        file = self._make_file(path, self.width, self.height, self.fps)
        self.segment = _Open(file, path, reason, self.incident if reason == "incident" else "", at)
        return self.segment

    def keep(self, jpeg: bytes, at: float) -> None:
        """A frame that is not recorded (no room): only kept for an incident's seconds before."""
        self.abort()
        self.last_frame = at
        self._keep(jpeg, at)

    def _keep(self, jpeg: bytes, at: float) -> None:
        """The last ``incident_before_s`` seconds, within ``preroll_max_bytes``."""
        s = self.settings
        self.preroll.append((at, jpeg))
        self._preroll_bytes += len(jpeg)
        while self.preroll and (
            self.preroll[0][0] < at - s.incident_before_s
            or self._preroll_bytes > s.preroll_max_bytes
        ):
            self._preroll_bytes -= len(self.preroll.popleft()[1])
