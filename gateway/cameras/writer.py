"""Whole camera frames into Redis: latest-wins per camera, on a connection of its own.

Frames never queue: each camera holds at most one frame not yet written, and a
newer one takes its place (the older is counted ``superseded``). So however
much video arrives, memory holds one frame per camera and a flush at most
``camera.flush_max_bytes``. The flushes go out on their own connection and
task, never in the stream writer's pipeline: events, snapshots and telemetry
are never packed behind a megabyte of JPEG (docs/streams.md, Cameras).

Each frame is one XADD to its camera's stream with an exact ``MAXLEN``
(``camera.stream_maxlen``; the approximate form trims whole macro nodes of a
hundred entries, and these entries are tens of kilobytes). While Redis is
away, the frame each camera holds is the one tried next; the others are
dropped and counted (``superseded``, ``redis_down``): a minute-old frame is
worth nothing to a live view. The outage is logged once each way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog

from config.settings import CameraSettings, RedisSettings
from gateway.cameras.assembler import Frame
from gateway.metrics import Stats
from gateway.streams.writer import OUTAGE_ERRORS
from protocol.camera_chunks import CameraDrop
from robodine.backoff import Backoff
from robodine.redisio.client import open_connection
from robodine.redisio.keys import KEYS
from robodine.redisio.resp import RespConnection
from robodine.supervisor import Supervisor

log = structlog.get_logger("gateway.camera_writer")


class CameraWriter:
    def __init__(
        self,
        redis: RedisSettings,
        settings: CameraSettings,
        stats: Stats,
        *,
        src: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.stats = stats
        self.src = src
        self._pending: dict[tuple[str, str], tuple[Frame, float]] = {}
        self._wake = asyncio.Event()
        self._conn: RespConnection | None = None
        self._supervisor = Supervisor(
            log,
            lost="camera_redis_unavailable",
            recovered="camera_redis_recovered",
            backoff=Backoff(0.05, 2.0),
            policy="camera frames dropped",
            clock=clock,
        )
        self.written = 0

    def frame(self, frame: Frame, rx: float) -> None:
        where = (frame.robot, frame.camera)
        if where in self._pending:
            self.stats.inc("camera_dropped", CameraDrop.SUPERSEDED)
        self._pending[where] = (frame, rx)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        try:
            await self._supervisor.run(
                self._flush_forever, errors=(*OUTAGE_ERRORS, TimeoutError), on_error=self._on_outage
            )
        finally:
            if self._conn is not None:
                self._conn.close()

    async def _flush_forever(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            await self._flush()
            self._supervisor.ok()

    async def _flush(self) -> None:
        if self._conn is None or not self._conn.usable:
            self._conn = await open_connection(self.redis, name=f"{self.src}:camera")
        commands: list[tuple[Any, ...]] = []
        size = 0
        maxlen = self.settings.stream_maxlen
        for where in list(self._pending):
            frame, rx = self._pending.pop(where)
            commands.append(
                (
                    "XADD",
                    KEYS.camera(frame.robot, frame.camera),
                    "MAXLEN",
                    maxlen,
                    "*",
                    "robot",
                    frame.robot,
                    "camera",
                    frame.camera,
                    "frame",
                    frame.frame,
                    "ts",
                    repr(frame.ts),
                    "rx",
                    repr(rx),
                    "jpeg",
                    frame.data,
                )
            )
            size += len(frame.data)
            if size >= self.settings.flush_max_bytes:
                break  # the rest go next time (a newer frame may replace one meanwhile)
        try:
            await self._conn.execute(commands)
        except BaseException:
            self.stats.inc("camera_dropped", CameraDrop.REDIS_DOWN, len(commands))
            raise
        self.written += len(commands)
        self.stats.inc("entries_written", "rd:camera", len(commands))

    async def _on_outage(self, exc: BaseException) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
