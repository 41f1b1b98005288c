"""Live camera frames fanned out in one web process: one Redis reader for every camera.

The first viewer of any camera starts the process's one reader task (its own
client, one connection): a single ``XREAD BLOCK`` over the streams of every
watched camera (rd:camera:{robot}:{camera}), so a thousand views of two hundred
cameras hold one Redis connection, never one per camera and never one of the
shared pool the REST requests use. A camera's first viewer makes the reader
start again at once (``CLIENT UNBLOCK`` from a second, small control client)
with that camera's stream in the read; the last viewer of the last camera
stops it. Each new frame is read once and offered to every viewer of the
process, so many viewers of a camera cost one Redis read per frame, not one
each. A viewer holds one frame slot, latest-wins: a slow viewer gets the newest
frame when it is ready for one, never a queue of old ones. A reader that cannot
reach Redis tries again with backoff (the outage logged once each way); viewers
see no frames meanwhile and keep their connection.

Opening a view checks that the camera exists on the shared client; at most
``VIEW_LOOKUPS`` of those checks run at once (``lookups``), the rest wait their
turn, so a burst of views opened together cannot take the shared pool from the
REST requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from config import Settings
from robodine.backoff import Backoff
from robodine.redisio.client import connect
from robodine.redisio.keys import KEYS
from robodine.supervisor import Supervisor

log = structlog.get_logger("web.cameras")

READ_BLOCK_MS = 1000
VIEW_LOOKUPS = 8  # Redis calls of views being opened, at once, on the shared client


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
        self.cursor: str | None = None  # the last stream id read; None: not read yet
        self.latest: LiveFrame | None = None
        self.reads = 0  # XREADs that brought frames


class CameraHub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cameras: dict[str, _Camera] = {}
        self._reader: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[Any]] = set()  # tasks cancelled or running on
        self._blocked: int | None = None  # the reader's client id while its XREAD blocks
        self._control: Redis | None = None  # CLIENT UNBLOCK of the reader
        self.lookups = asyncio.Semaphore(VIEW_LOOKUPS)
        self.closing = False  # the server is shutting down: viewers end

    def watching(self, key: str) -> int:
        cam = self._cameras.get(key)
        return len(cam.viewers) if cam is not None else 0

    def reads(self, key: str) -> int:
        cam = self._cameras.get(key)
        return cam.reads if cam is not None else 0

    @property
    def readers(self) -> int:
        """Reader tasks running (0 or 1, however many cameras are watched)."""
        return 0 if self._reader is None or self._reader.done() else 1

    @contextlib.asynccontextmanager
    async def watch(self, robot: str, camera: str) -> AsyncIterator[Viewer]:
        """A viewer of the camera for as long as the block runs (its newest frame first)."""
        key = f"{robot}:{camera}"
        cam = self._cameras.get(key)
        if cam is None:
            cam = self._cameras[key] = _Camera(key, KEYS.camera(robot, camera))
            self._wake()  # the blocked XREAD does not name this stream yet
        viewer = Viewer()
        cam.viewers.add(viewer)
        if cam.latest is not None:
            viewer.offer(cam.latest)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="camera-reader")
        try:
            yield viewer
        finally:
            cam.viewers.discard(viewer)
            if not cam.viewers and self._cameras.get(key) is cam:
                del self._cameras[key]  # the next XREAD leaves its stream out
                if not self._cameras and self._reader is not None:
                    task, self._reader = self._reader, None
                    self._background(task)  # not awaited here: ``close`` waits for it
                    task.cancel()

    async def close(self) -> None:
        tasks = list(self._stopping)
        if self._reader is not None:
            tasks.append(self._reader)
            self._reader = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._cameras.clear()
        if self._control is not None:
            await self._control.aclose()
            self._control = None

    def _background(self, task: asyncio.Task[Any]) -> None:
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _wake(self) -> None:
        """Make the blocked XREAD return now, so the next one names every watched stream."""
        if self._blocked is None:
            return
        if self._control is None:
            self._control = connect(
                self.settings.redis, name=f"{self.settings.web.name}:camera-control"
            )
        self._background(asyncio.create_task(self._unblock(self._control, self._blocked)))

    async def _unblock(self, control: Redis, client_id: int) -> None:
        with contextlib.suppress(RedisError, OSError):  # the reader's 1 s BLOCK ends anyway
            await control.client_unblock(client_id)

    async def _read(self) -> None:
        client = connect(
            self.settings.redis, name=f"{self.settings.web.name}:camera", block_ms=READ_BLOCK_MS
        )
        supervisor = Supervisor(
            log,
            lost="camera_read_failed",
            recovered="camera_read_recovered",
            backoff=Backoff(0.1, 5.0),
        )

        async def step() -> None:
            client_id = int(await client.client_id())
            while True:
                cams = list(self._cameras.values())
                for cam in cams:
                    if cam.cursor is None:  # a new camera starts from its newest frame
                        newest: Any = await client.xrevrange(cam.stream, count=1)
                        cam.cursor = newest[0][0].decode() if newest else "0-0"
                        if newest:
                            self._offer(cam, newest[0])
                if not cams:
                    await asyncio.sleep(READ_BLOCK_MS / 1000)
                    continue
                by_stream = {cam.stream: cam for cam in cams}
                self._blocked = client_id
                try:
                    reply: Any = await client.xread(
                        {cam.stream: cam.cursor or "$" for cam in cams},
                        count=8,
                        block=READ_BLOCK_MS,
                    )
                finally:
                    self._blocked = None
                supervisor.ok()
                for name, entries in reply or ():
                    got = by_stream.get(name.decode())
                    if got is None or not entries:
                        continue
                    got.cursor = entries[-1][0].decode()
                    if self._cameras.get(got.key) is got:
                        got.reads += 1
                        self._offer(got, entries[-1])  # latest-wins: only the newest matters

        try:
            await supervisor.run(step, errors=(RedisError, OSError))
        finally:
            self._blocked = None
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
