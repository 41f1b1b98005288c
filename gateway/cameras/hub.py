"""The gateway's cameras: announcements, chunks in, frames out, state and counters.

Transports call in (the camera UDP socket with a run of datagrams, a TCP link
with one chunk, the fleet with a ``camera`` message, a hello, a robot gone
offline, the tick); nothing here awaits. Whole frames go to the frame sink
(``gateway.cameras.writer.CameraWriter``: latest-wins per camera, on a Redis
connection of its own, so video never waits in line with events or
telemetry). What a camera is doing goes where the dashboard reads it: its
entry in the hash rd:cameras and the ``cameras`` field of its robot's
snapshot, written when its state changes and at most once a second while its
counters move (docs/streams.md, Cameras).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Protocol

import msgspec
import structlog

from config.settings import CameraSettings
from gateway.cameras.assembler import Frame, FrameAssembler
from gateway.fleet.port import FleetOutput
from gateway.metrics import Stats
from protocol.camera_chunks import CameraDrop, Chunk, ChunkDecoder, Dropped
from protocol.cameras import CameraInfo, camera_key
from protocol.ratelimit import TokenBucket
from robodine.redisio.keys import KEYS

log = structlog.get_logger("gateway.cameras")

DROP_LOG_EVERY_S = 60.0  # per robot: drops counted each, logged at most this often
COUNTERS_EVERY_S = 1.0  # a camera's counters go to Redis at most this often


class CameraState(StrEnum):
    LIVE = "live"  # a whole frame within camera.stale_after_s
    STALE = "stale"  # announced, but no whole frame for stale_after_s
    OFF = "off"  # none for off_after_s, or its robot is offline


class FrameSink(Protocol):
    def frame(self, frame: Frame, rx: float) -> None:
        """A whole frame, received at ``rx`` (latest-wins: it may be dropped, counted)."""
        ...


class CameraStatus(msgspec.Struct, kw_only=True):
    """One camera as rd:cameras and the robot snapshot hold it (docs/streams.md, Cameras)."""

    robot: str
    camera: str
    width: int
    height: int
    fps: float  # as announced
    state: str
    frames: int = 0  # whole frames taken since the gateway started
    dropped: int = 0  # chunks and frames of it dropped
    bytes: int = 0  # bytes of whole frames taken
    last_frame: float | None = None  # gateway clock of the newest whole frame
    announced: float = 0.0


class _Camera:
    __slots__ = ("bucket", "changed", "status", "written_at")

    def __init__(self, robot: str, info: CameraInfo, now: float, max_fps: float) -> None:
        self.status = CameraStatus(
            robot=robot,
            camera=info.id,
            width=info.width,
            height=info.height,
            fps=info.fps,
            state=CameraState.STALE,
            announced=now,
        )
        self.bucket = TokenBucket(max_fps, max_fps, now)
        self.changed = True  # not yet written as it is
        self.written_at = 0.0


_encode = msgspec.json.Encoder().encode


class Cameras:
    def __init__(
        self,
        settings: CameraSettings,
        output: FleetOutput,
        sink: FrameSink,
        stats: Stats,
        key_for: Callable[[str], bytes | None],
        heard: Callable[[str, float], None] = lambda robot, now: None,
    ) -> None:
        self.settings = settings
        self.heard = heard  # a signed chunk is the robot heard, as any valid message
        self.output = output
        self.sink = sink
        self.stats = stats
        self.robots: dict[str, dict[str, _Camera]] = {}
        self.decoder = ChunkDecoder(
            key_for,
            announced=self._announced,
            max_chunk=settings.max_datagram_bytes if settings.enabled else 0,
            max_frame=settings.max_frame_bytes,
        )
        self.tcp_decoder = ChunkDecoder(  # TCP frames may be larger than a datagram
            key_for, announced=self._announced, max_chunk=2**31, max_frame=settings.max_frame_bytes
        )
        self.assembler = FrameAssembler(
            settings.assembly_bytes, settings.frame_timeout_s, self._frame_dropped
        )
        self._log_at: dict[str, float] = {}  # robot -> when its drops may be logged again
        self._unlogged: dict[str, Counter[str]] = {}

    def _announced(self, robot: str, camera: str) -> bool:
        cams = self.robots.get(robot)
        return cams is not None and camera in cams

    # ---- what robots say -----------------------------------------------------------

    def announce(self, robot: str, cameras: Sequence[CameraInfo], now: float) -> None:
        """The robot's cameras now: new ones start stale, gone ones leave rd:cameras.
        With cameras disabled none is taken, so every chunk is an unknown camera's."""
        if not self.settings.enabled:
            cameras = ()
        old = self.robots.get(robot, {})
        new: dict[str, _Camera] = {}
        for info in cameras:
            cam = old.get(info.id)
            if cam is None or (cam.status.width, cam.status.height, cam.status.fps) != (
                info.width,
                info.height,
                info.fps,
            ):
                fresh = _Camera(robot, info, now, self.settings.max_fps)
                if cam is not None:  # counters go on across a change of resolution
                    s, f = cam.status, fresh.status
                    f.frames, f.dropped, f.bytes, f.last_frame = (
                        s.frames,
                        s.dropped,
                        s.bytes,
                        s.last_frame,
                    )
                cam = fresh
            new[info.id] = cam
        for gone in old.keys() - new.keys():
            self.output.hash_put(KEYS.cameras, camera_key(robot, gone), None)
        self.robots[robot] = new
        log.info("cameras_announced", robot=robot, cameras=sorted(new))
        self._tick_robot(robot, now, force=True)

    def hello(self, robot: str) -> None:
        """A new hello: the robot may count from 0 again; its half frames are void."""
        self.decoder.reset(robot)
        self.tcp_decoder.reset(robot)
        self.assembler.forget(robot)

    def offline(self, robot: str, now: float) -> None:
        cams = self.robots.get(robot)
        if cams:
            self.assembler.forget(robot)
            for cam in cams.values():
                self._set_state(cam, CameraState.OFF)
            self._tick_robot(robot, now)

    def datagram_run(self, datagrams: Sequence[bytes], now: float) -> None:
        """The camera socket's datagrams of one loop iteration, each checked on its own."""
        decode, take = self.decoder.decode, self._take
        chunks = 0
        for data in datagrams:
            got = decode(data)
            if type(got) is Chunk:
                chunks += 1
                take(got, now)
            else:
                self._dropped(got.robot or "", "", got.reason, now)  # type: ignore[union-attr]
        if chunks:
            self.stats.inc("camera_chunks", "udp", chunks)

    def tcp_chunk(self, robot: str, data: bytes, now: float) -> None:
        """One chunk from a robot's TCP link: it must name that robot."""
        got = self.tcp_decoder.decode(data)
        if isinstance(got, Dropped):
            self._dropped(robot, "", got.reason, now)
        elif got.robot != robot:
            self._dropped(robot, "", CameraDrop.ROBOT_MISMATCH, now)
        else:
            self.stats.inc("camera_chunks", "tcp")
            self._take(got, now)

    def _take(self, chunk: Chunk, now: float) -> None:
        self.heard(chunk.robot, now)
        frame = self.assembler.add(chunk, now)
        if frame is None:
            return
        cam = self.robots[frame.robot][frame.camera]
        if not cam.bucket.allow(now):
            self._dropped(frame.robot, frame.camera, CameraDrop.RATE_LIMITED, now)
            return
        s = cam.status
        s.frames += 1
        s.bytes += len(frame.data)
        s.last_frame = now
        cam.changed = True
        if s.state != CameraState.LIVE:
            self._set_state(cam, CameraState.LIVE)
            self._write(cam, now)
        key = camera_key(frame.robot, frame.camera)
        self.stats.inc("camera_frames", key)
        self.stats.inc("camera_bytes", key, len(frame.data))
        self.sink.frame(frame, now)

    # ---- drops -----------------------------------------------------------------------

    def _frame_dropped(self, robot: str, camera: str, reason: CameraDrop) -> None:
        self._dropped(robot, camera, reason, None)

    def _dropped(self, robot: str, camera: str, reason: CameraDrop, now: float | None) -> None:
        """Counted each; logged at most once per robot per ``DROP_LOG_EVERY_S`` (on the
        tick when ``now`` is not known here)."""
        self.stats.inc("camera_dropped", reason)
        cam = self.robots.get(robot, {}).get(camera) if camera else None
        if cam is not None:  # a frame of a known camera (a chunk's drop names none)
            cam.status.dropped += 1
            cam.changed = True
            self.stats.inc("camera_frames_dropped", camera_key(robot, camera))
        self._unlogged.setdefault(robot, Counter())[reason.value] += 1
        if now is not None:
            self._log_drops(robot, now)

    def _log_drops(self, robot: str, now: float) -> None:
        if now < self._log_at.get(robot, 0.0):
            return
        reasons = self._unlogged.pop(robot, None)
        if not reasons:
            return
        self._log_at[robot] = now + DROP_LOG_EVERY_S
        log.warning(
            "camera_chunks_dropped",
            robot=robot or None,
            reasons=dict(reasons),
            every_s=DROP_LOG_EVERY_S,
        )

    # ---- state -----------------------------------------------------------------------

    def _set_state(self, cam: _Camera, state: CameraState) -> None:
        if cam.status.state != state:
            cam.status.state = state
            cam.changed = True
            log.info("camera_state", robot=cam.status.robot, camera=cam.status.camera, state=state)

    def tick(self, now: float) -> None:
        """Silence -> stale -> off, half frames expired, counters written, drops logged.
        Call about four times a second."""
        self.assembler.expire(now)
        by_state: Counter[str] = Counter()
        for robot in self.robots:
            self._tick_robot(robot, now)
            for cam in self.robots[robot].values():
                by_state[cam.status.state] += 1
        for robot in list(self._unlogged):
            self._log_drops(robot, now)
        for state in CameraState:
            self.stats.set("cameras", state, by_state[state])
        self.stats.set("camera_assembly_bytes", "", self.assembler.held)

    def _tick_robot(self, robot: str, now: float, *, force: bool = False) -> None:
        cams = self.robots.get(robot, {})
        due = force
        for cam in cams.values():
            s = cam.status
            silent = now - (s.last_frame if s.last_frame is not None else s.announced)
            if s.state != CameraState.OFF and silent > self.settings.off_after_s:
                self._set_state(cam, CameraState.OFF)
            elif s.state == CameraState.LIVE and silent > self.settings.stale_after_s:
                self._set_state(cam, CameraState.STALE)
            if cam.changed and (now - cam.written_at >= COUNTERS_EVERY_S or force):
                self._write(cam, now)
                due = True
        if due:
            self._snapshot(robot)

    def _write(self, cam: _Camera, now: float) -> None:
        cam.changed = False
        cam.written_at = now
        s = cam.status
        self.output.hash_put(KEYS.cameras, camera_key(s.robot, s.camera), _encode(s).decode())
        self._snapshot(s.robot)

    def _snapshot(self, robot: str) -> None:
        cams = self.robots.get(robot, {})
        payload: dict[str, Any] = {c: cam.status for c, cam in sorted(cams.items())}
        self.output.snapshot(robot, cameras=_encode(payload).decode())


class DiscardFrames:
    """A frame sink for a fleet without cameras (unit tests, cameras disabled)."""

    def frame(self, frame: Frame, rx: float) -> None:
        return
