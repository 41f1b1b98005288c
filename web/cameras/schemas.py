"""Answer, path and body models of /api/video-streams and /api/recordings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from web.http.schemas import AwareDatetime, Offset, Query, Request, RobotId

StreamKey = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[a-z0-9][a-z0-9_-]{0,31}$",
        description="`robot:camera`, e.g. `serve-1:front`",
    ),
]
CameraId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
RecordingId = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]


class VideoStreamOut(Struct, kw_only=True):
    id: str  # robot:camera
    robot: str
    camera: str
    width: int
    height: int
    fps: float  # as the robot announced it
    state: Literal["live", "stale", "off"]
    frames: int  # whole frames the gateway took since it started
    dropped: int
    bytes: int
    last_frame: datetime | None  # gateway clock of the newest whole frame
    live: str  # GET: multipart/x-mixed-replace MJPEG (works in an <img>, ?token=)
    websocket: str  # the same frames, one binary WebSocket message each
    snapshot: str  # GET: the newest frame as image/jpeg


class VideoStreamList(Struct, kw_only=True):
    items: list[VideoStreamOut]


class VideoStreamPath(Query):
    stream_id: StreamKey


class RecordIn(Request):
    """Record this camera (or, with `all_cameras`, every camera of its robot) for a while."""

    minutes: Annotated[float, Meta(gt=0, le=240)]
    all_cameras: bool = False


class RecordOut(Struct, kw_only=True):
    cameras: list[str]  # robot:camera ids now recorded
    until: datetime


class RecordingOut(Struct, kw_only=True):
    id: str
    robot: str
    camera: str
    started_at: datetime
    ended_at: datetime
    frames: int
    bytes: int
    format: str  # avi (MJPEG) | mp4 (H.264, with PyAV)
    content_type: str
    reason: str  # continuous | request | incident
    incident: str  # the rd:events eid of the alarm it was kept for, or ""
    store: str  # local | s3
    url: str  # GET it (auth; Range requests; S3: a redirect)


class RecordingList(Struct, kw_only=True):
    items: list[RecordingOut]
    total: int


class RecordingsQuery(Query):
    robot: RobotId | None = None
    camera: CameraId | None = None
    reason: Literal["continuous", "request", "incident"] | None = None
    since: AwareDatetime | None = None  # recordings that end after this
    until: AwareDatetime | None = None  # ... and start before this
    limit: Annotated[int, Meta(ge=1, le=500)] = 100
    offset: Offset = 0


class RecordingPath(Query):
    recording_id: RecordingId
