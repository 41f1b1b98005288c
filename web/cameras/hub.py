"""Live camera frames fanned out in one web process: one Redis reader per watched camera.

The first viewer of a camera starts a reader task (its own client, ``XREAD
BLOCK`` on rd:camera:{robot}:{camera}); the last one leaving stops it. Each
new frame is read once and offered to every viewer of the process, so many
viewers of a camera cost one Redis read per frame, not one each. A viewer
holds one frame slot, latest-wins: a slow viewer gets the newest frame when it
is ready for one, never a queue of old ones. A reader that cannot reach Redis
tries again with backoff (the outage logged once each way); its viewers see
no frames meanwhile and keep their connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from redis.exceptions import RedisError

from config import Settings
from protocol.streams import camera_stream
from robodine.backoff import Backoff
from robodine.redisio.client import connect
from robodine.supervisor import Supervisor

log = structlog.get_logger("web.cameras")

READ_BLOCK_MS = 1000


@dataclass(slots=True)
class LiveFrame:
    """One frame as every viewer of the process gets it; the bytes each view writes are
    built once per frame, not once per viewer (a 40 KB copy each)."""

    id: str  # stream id
    frame: int
    ts: float
    jpeg: bytes
    _part: bytes | None = None
    _wire: bytes | None = None

    def mjpeg_part(self, boundary: str) -> bytes:
        if self._part is None:
            self._part = (
                (
                    f"--{boundary}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(self.jpeg)}\r\nX-Frame-Id: {self.frame}\r\n\r\n"
                ).encode()
                + self.jpeg
                + b"\r\n"
            )
        return self._part

    def ws_wire(self) -> bytes:
        """The whole WebSocket message (a server's binary frame: FIN, opcode 2, unmasked)."""
        if self._wire is None:
            n = len(self.jpeg)
            if n < 126:
                head = bytes((0x82, n))
            elif n < 65536:
                head = bytes((0x82, 126)) + n.to_bytes(2, "big")
            else:
                head = bytes((0x82, 127)) + n.to_bytes(8, "big")
            self._wire = head + self.jpeg
        return self._wire


class Viewer:
    """One viewer's slot: the newest frame it has not taken yet."""

    __slots__ = ("_event", "frame", "skipped")

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.frame: LiveFrame | None = None
        self.skipped = 0  # frames replaced before the viewer took them (it was slow)

    def offer(self, frame: LiveFrame) -> None:
        if self._event.is_set():
            self.skipped += 1
        self.frame = frame
        self._event.set()

    async def next(self, timeout: float) -> LiveFrame | None:
        """The newest frame once there is one, or None after ``timeout``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        if not self._event.is_set():
            return None
        self._event.clear()
        return self.frame


class _Camera:
    def __init__(self, key: str, stream: str) -> None:
        self.key = key
        self.stream = stream
        self.viewers: set[Viewer] = set()
        self.task: asyncio.Task[None] | None = None
        self.latest: LiveFrame | None = None
        self.reads = 0  # XREADs that brought frames


class CameraHub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cameras: dict[str, _Camera] = {}
        self._stopping: set[asyncio.Task[None]] = set()  # readers cancelled, not yet done
        self.closing = False  # the server is shutting down: viewers end

    def watching(self, key: str) -> int:
        cam = self._cameras.get(key)
        return len(cam.viewers) if cam is not None else 0

    def reads(self, key: str) -> int:
        cam = self._cameras.get(key)
        return cam.reads if cam is not None else 0

    @contextlib.asynccontextmanager
    async def watch(self, robot: str, camera: str) -> AsyncIterator[Viewer]:
        """A viewer of the camera for as long as the block runs (its newest frame first)."""
        key = f"{robot}:{camera}"
        cam = self._cameras.get(key)
        if cam is None:
            cam = self._cameras[key] = _Camera(key, camera_stream(robot, camera))
        viewer = Viewer()
        cam.viewers.add(viewer)
        if cam.latest is not None:
            viewer.offer(cam.latest)
        if cam.task is None:
            cam.task = asyncio.create_task(self._read(cam), name=f"camera-{key}")
        try:
            yield viewer
        finally:
            cam.viewers.discard(viewer)
            if not cam.viewers:
                task, cam.task = cam.task, None
                del self._cameras[key]
                if task is not None:  # not awaited here: ``close`` waits for the last ones
                    task.cancel()
                    self._stopping.add(task)
                    task.add_done_callback(self._stopping.discard)

    async def close(self) -> None:
        tasks = [c.task for c in self._cameras.values() if c.task is not None]
        tasks += self._stopping
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._cameras.clear()

    async def _read(self, cam: _Camera) -> None:
        client = connect(
            self.settings.redis, name=f"{self.settings.web.name}:camera", block_ms=READ_BLOCK_MS
        )
        supervisor = Supervisor(
            log,
            lost="camera_read_failed",
            recovered="camera_read_recovered",
            backoff=Backoff(0.1, 5.0),
            context={"camera": cam.key},
        )
        cursor = "$"

        async def step() -> None:
            nonlocal cursor
            if cursor == "$":  # a new reader starts from the newest frame there is
                newest: Any = await client.xrevrange(cam.stream, count=1)
                if newest:
                    cursor = newest[0][0].decode()
                    self._offer(cam, newest[0])
            while True:
                reply: Any = await client.xread({cam.stream: cursor}, count=8, block=READ_BLOCK_MS)
                supervisor.ok()
                if reply:
                    entries = reply[0][1]
                    cursor = entries[-1][0].decode()
                    cam.reads += 1
                    self._offer(cam, entries[-1])  # latest-wins: only the newest matters

        try:
            await supervisor.run(step, errors=(RedisError, OSError))
        finally:
            await client.aclose()

    def _offer(self, cam: _Camera, entry: tuple[bytes, dict[bytes, bytes]]) -> None:
        sid, fields = entry
        try:
            frame = LiveFrame(
                sid.decode(), int(fields[b"frame"]), float(fields[b"ts"]), fields[b"jpeg"]
            )
        except (KeyError, ValueError):
            log.warning("camera_entry_invalid", camera=cam.key, id=sid.decode())
            return
        cam.latest = frame
        for viewer in cam.viewers:
            viewer.offer(frame)
