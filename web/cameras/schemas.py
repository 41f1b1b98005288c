"""Answer, path and body models of /api/video-streams and /api/recordings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from web.http.schemas import AwareDatetime, Offset, Query, Request, RobotId, doc

StreamKey = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[a-z0-9][a-z0-9_-]{0,31}$",
        description="`robot:camera`, e.g. `serve-1:front`",
    ),
]
CameraId = Annotated[
    str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="a camera's name on its robot")
]
RecordingId = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]


class VideoStreamOut(Struct, kw_only=True):
    id: Annotated[str, doc("`robot:camera`", "serve-1:front")]
    robot: Annotated[str, doc("the robot the camera is on", "serve-1")]
    camera: Annotated[str, doc("the camera's name on its robot", "front")]
    width: Annotated[int, doc("frame width in pixels, as the robot announced it", 640)]
    height: Annotated[int, doc("frame height in pixels, as the robot announced it", 480)]
    fps: Annotated[float, doc("frames per second, as the robot announced it", 10.0)]
    state: Annotated[
        Literal["live", "stale", "off"],
        doc(
            "`live`: frames arriving; `stale`: none for `camera.stale_after_s`; `off`: none "
            "for `camera.off_after_s`, or its robot offline",
            "live",
        ),
    ]
    frames: Annotated[int, doc("whole frames the gateway took since it started")]
    dropped: Annotated[
        int, doc("chunks and frames of this camera the gateway dropped (incomplete or overrun)")
    ]
    bytes: Annotated[int, doc("bytes of the whole frames the gateway took since it started")]
    last_frame: Annotated[
        datetime | None, doc("gateway clock of the newest whole frame; null before the first")
    ]
    live: Annotated[
        str,
        doc(
            "GET: multipart/x-mixed-replace MJPEG (works in an `<img>`, with `?token=`)",
            "/api/video-streams/serve-1:front/live",
        ),
    ]
    websocket: Annotated[
        str,
        doc(
            "the same frames, one binary WebSocket message each", "/ws/video-streams/serve-1:front"
        ),
    ]
    snapshot: Annotated[
        str,
        doc("GET: the newest frame as image/jpeg", "/api/video-streams/serve-1:front/snapshot.jpg"),
    ]


class VideoStreamList(Struct, kw_only=True):
    items: Annotated[list[VideoStreamOut], doc("every camera, sorted by id")]


class VideoStreamPath(Query):
    stream_id: StreamKey


class RecordIn(Request):
    """Record this camera (or, with `all_cameras`, every camera of its robot) for a while."""

    minutes: Annotated[
        float,
        Meta(
            gt=0,
            le=240,
            description="how long to record from now (asking again replaces the end)",
            examples=[10],
        ),
    ]
    all_cameras: Annotated[bool, doc("record every camera of this camera's robot")] = False


class RecordOut(Struct, kw_only=True):
    cameras: Annotated[list[str], doc("`robot:camera` ids now recorded", ["serve-1:front"])]
    until: Annotated[datetime, doc("when the recording of them stops")]


class RecordingOut(Struct, kw_only=True):
    id: Annotated[str, doc("the recording's id, 32 hex digits")]
    robot: Annotated[str, doc("the robot whose camera it is", "serve-1")]
    camera: Annotated[str, doc("the camera's name on its robot", "front")]
    started_at: Annotated[datetime, doc("time of its first frame")]
    ended_at: Annotated[datetime, doc("time of its last frame")]
    frames: Annotated[int, doc("frames in the file")]
    bytes: Annotated[int, doc("the file's size")]
    format: Annotated[str, doc("`avi` (MJPEG) or `mp4` (H.264, with PyAV)", "avi")]
    content_type: Annotated[str, doc("the file's media type", "video/x-msvideo")]
    reason: Annotated[
        str, doc("why it was kept: `continuous`, `request` or `incident`", "continuous")
    ]
    incident: Annotated[str, doc("the rd:events id of the alarm it was kept for, or empty")]
    store: Annotated[str, doc("where the file is: `local` or `s3`", "local")]
    url: Annotated[str, doc("GET it (auth; Range requests; S3: a redirect)", "/videos/<id>.avi")]


class RecordingList(Struct, kw_only=True):
    items: Annotated[list[RecordingOut], doc("this page, newest first")]
    total: Annotated[int, doc("recordings that match, over all pages")]


class RecordingsQuery(Query):
    robot: RobotId | None = None
    camera: Annotated[CameraId | None, doc("only this camera (by name)")] = None
    reason: Annotated[
        Literal["continuous", "request", "incident"] | None, doc("only those kept for this")
    ] = None
    since: Annotated[AwareDatetime | None, doc("only recordings that end after this")] = None
    until: Annotated[AwareDatetime | None, doc("only recordings that start before this")] = None
    limit: Annotated[int, Meta(ge=1, le=500, description="rows per page")] = 100
    offset: Offset = 0


class RecordingPath(Query):
    recording_id: RecordingId
