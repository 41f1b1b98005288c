"""/api/video-streams: every camera and its state, live views, snapshots, record requests."""

from __future__ import annotations

import time
from typing import Any, cast

import msgspec
import structlog
from aiohttp import web

from protocol.cameras import camera_key
from robodine.redisio.keys import KEYS
from web.cameras import live
from web.cameras.context import CAMERA_REDIS, stop_viewers
from web.cameras.schemas import (
    RecordIn,
    RecordOut,
    VideoStreamList,
    VideoStreamOut,
    VideoStreamPath,
)
from web.http.api import Routes
from web.http.problems import Problem, not_found
from web.keys import REDIS, USER
from web.security import ALL_ROLES, WRITERS, iso

log = structlog.get_logger("web.cameras")


def _setup(app: web.Application) -> None:
    app.on_shutdown.append(stop_viewers)


routes = Routes(
    "video-streams",
    "Robot cameras as the gateway reports them (docs/protocol.md §11): state, live views "
    "(MJPEG for an `<img>`, WebSocket with binary frames), the newest frame, recording on "
    "demand (staff, admin).",
    setup=_setup,
)


class _Status(msgspec.Struct, kw_only=True):
    """An rd:cameras value (gateway/cameras/hub.py CameraStatus) as the web reads it."""

    robot: str
    camera: str
    width: int
    height: int
    fps: float
    state: str
    frames: int = 0
    dropped: int = 0
    bytes: int = 0
    last_frame: float | None = None


_decode = msgspec.json.Decoder(_Status).decode


def _out(key: str, raw: str) -> VideoStreamOut | None:
    try:
        s = _decode(raw)
    except msgspec.DecodeError as exc:
        log.warning("camera_status_invalid", camera=key, error=str(exc))
        return None
    base = f"/api/video-streams/{key}"
    return msgspec.convert(
        {
            **msgspec.structs.asdict(s),
            "id": key,
            "state": s.state if s.state in ("live", "stale", "off") else "off",
            "last_frame": s.last_frame,
            "live": f"{base}/live",
            "websocket": f"/ws/video-streams/{key}",
            "snapshot": f"{base}/snapshot.jpg",
        },
        VideoStreamOut,
        strict=False,
    )


@routes.route(
    "GET",
    "/api/video-streams",
    summary="Every camera: robot, state, frame rate, last frame",
    roles=ALL_ROLES,
    response=VideoStreamList,
    errors=(401, 503),
)
async def list_video_streams(request: web.Request) -> VideoStreamList:
    """Every camera a robot announced, sorted by id (`robot:camera`). `state`: `live` (frames
    arriving), `stale` (none for `camera.stale_after_s`), `off` (none for
    `camera.off_after_s`, or its robot offline)."""
    raw = cast(dict[str, str], await request.app[REDIS].hgetall(KEYS.cameras))
    items = [_out(k, v) for k, v in sorted(raw.items())]
    return VideoStreamList(items=[i for i in items if i is not None])


@routes.route(
    "GET",
    "/api/video-streams/{stream_id}",
    summary="One camera",
    roles=ALL_ROLES,
    params=VideoStreamPath,
    response=VideoStreamOut,
    errors=(401, 404, 503),
)
async def get_video_stream(request: web.Request, params: VideoStreamPath) -> VideoStreamOut:
    """One camera by `robot:camera`, as in the list; 404 while no robot announced it (or
    its status in Redis is unreadable)."""
    raw = cast(str | None, await request.app[REDIS].hget(KEYS.cameras, params.stream_id))
    out = _out(params.stream_id, raw) if raw is not None else None
    if out is None:
        raise not_found("video stream", params.stream_id)
    return out


@routes.route(
    "GET",
    "/api/video-streams/{stream_id}/snapshot.jpg",
    summary="The camera's newest frame",
    roles=ALL_ROLES,
    params=VideoStreamPath,
    token_query=True,
    response_type="image/jpeg",
    errors=(401, 404, 503),
)
async def video_snapshot(request: web.Request, params: VideoStreamPath) -> web.Response:
    """`image/jpeg`, never cached; `X-Frame-Timestamp` is the capture time (robot clock).
    404 `no_frame` while the camera has sent none (or none in the last few seconds that
    Redis keeps). `?token=` works for `<img src>`."""
    robot, camera = params.stream_id.split(":", 1)
    newest: Any = await request.app[CAMERA_REDIS].xrevrange(KEYS.camera(robot, camera), count=1)
    if not newest:
        if not await request.app[REDIS].hexists(KEYS.cameras, params.stream_id):
            raise not_found("video stream", params.stream_id)
        raise Problem(404, "no_frame", f"{params.stream_id} has no frame yet")
    fields = newest[0][1]
    return web.Response(
        body=fields[b"jpeg"],
        headers={
            "Content-Type": "image/jpeg",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Timestamp": fields[b"ts"].decode(),
            "X-Frame-Id": fields[b"frame"].decode(),
        },
    )


@routes.route(
    "GET",
    "/api/video-streams/{stream_id}/live",
    summary="Live MJPEG (multipart/x-mixed-replace): works in an <img> tag",
    roles=ALL_ROLES,
    params=VideoStreamPath,
    token_query=True,
    raw=True,
    response_type="multipart/x-mixed-replace",
    errors=(401, 403, 404, 429, 503),
)
async def video_live(request: web.Request) -> web.StreamResponse:
    """One part per frame (`Content-Type: image/jpeg`, `Content-Length`, `X-Frame-Id`),
    boundary `robodine-frame`. A slow client gets the newest frame each time it is ready,
    never a backlog. Origin is checked as for every feed; the view counts against the feed
    limits and ends when its token expires or is revoked."""
    return await live.mjpeg(request)


@routes.route(
    "GET",
    "/ws/video-streams/{stream_id}",
    summary="Live frames over WebSocket, one binary message (a JPEG) each",
    roles=ALL_ROLES,
    params=VideoStreamPath,
    token_query=True,
    raw=True,
    status=101,
    errors=(401, 403, 404, 429, 503),
)
async def video_socket(request: web.Request) -> web.StreamResponse:
    """First a text frame `{"type":"hello","stream":...}`, then each frame as a binary
    message. The client may send `{"type":"ping"}` (answered `{"type":"pong"}`); anything
    else closes with 1003. Close codes as for the topic sockets: 4001 token expired or
    revoked, 4008 too slow, 1001 server going away."""
    return await live.socket(request)


@routes.route(
    "POST",
    "/api/video-streams/{stream_id}/record",
    summary="Record this camera (or all of its robot's) for N minutes",
    roles=WRITERS,
    params=VideoStreamPath,
    body=RecordIn,
    response=RecordOut,
    status=202,
    errors=(401, 403, 404, 503),
)
async def record_video_stream(
    request: web.Request, params: VideoStreamPath, body: RecordIn
) -> RecordOut:
    """The recorder (`robodine recorder`) writes segments of these cameras until `until`;
    asking again extends or shortens it. The recordings appear in `GET /api/recordings`
    with `reason` `request`."""
    redis = request.app[REDIS]
    if not await redis.hexists(KEYS.cameras, params.stream_id):
        raise not_found("video stream", params.stream_id)
    robot = params.stream_id.split(":", 1)[0]
    keys = [params.stream_id]
    if body.all_cameras:
        names = cast(list[str], await redis.hkeys(KEYS.cameras))
        keys = sorted(k for k in names if k.startswith(f"{robot}:"))
    until = time.time() + body.minutes * 60
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        r, c = key.split(":", 1)
        pipe.set(KEYS.record(r, c), repr(until), ex=int(body.minutes * 60) + 5)
    await pipe.execute()
    log.info("recording_requested", cameras=keys, minutes=body.minutes, user=request[USER].username)
    return msgspec.convert(
        {"cameras": [camera_key(*k.split(":", 1)) for k in keys], "until": iso(until)},
        RecordOut,
        strict=False,
    )
