"""The recorder: every camera's frames from Redis, segments into the media store, an index in
SQL, retention by age and total size.

One task reads every camera stream and rd:events with one ``XREAD BLOCK``
(starting each camera at the oldest frame its capped stream still holds, so
even the first incident has seconds before it); frames go to each camera's
``CameraRecorder`` (web/recorder/segments.py), events at
``recorder.incident_levels`` that name a robot start an incident on its
cameras. Once a second the cameras (rd:cameras) and the record requests
(rd:record:{robot}:{camera}) are read again and quiet segments closed. A
closed segment goes to the publisher: its file streamed into the store
(content-addressed, like uploads), then its row in ``recordings``, then the
file removed. Retention runs every ``retention_every_s``.

No room (the store says full, or the spool's disk refuses a write): the
segment is given up, recording stops, an alarm ``recorder.store_full`` goes to
rd:events, and after ``recorder.retry_s`` it tries again; the first segment
that makes it is told as ``recorder.store_recovered``. Nothing of this touches
the live views, which never read from the recorder.
"""

from __future__ import annotations

import asyncio
import errno
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from protocol.streams import EventRecord, EventType, Level, to_fields
from robodine.backoff import Backoff
from robodine.media import MediaStore, StoreError, StoreFull
from robodine.redisio.keys import KEYS
from robodine.supervisor import Supervisor
from web.cameras.recordings import RecordingService
from web.db.recordings import Recording
from web.recorder.avi import AviWriter
from web.recorder.segments import CameraRecorder, ClosedSegment

log = structlog.get_logger("recorder")

READ_BLOCK_MS = 1000
HOUSEKEEPING_S = 1.0
READ_CHUNK = 1024 * 1024


class _Status(msgspec.Struct):
    width: int
    height: int
    fps: float


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Recorder:
    def __init__(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        store: MediaStore,
        redis: Redis,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.s = settings.recorder
        self.db = db
        self.store = store
        self.redis = redis  # replies as bytes (frames), blocking reads
        self.clock = clock
        self.spool = Path(self.s.spool_dir)
        if self.s.format == "mp4":
            from web.recorder.mp4 import Mp4Writer

            self._file_type: type = Mp4Writer
        else:
            self._file_type = AviWriter
        self.cameras: dict[str, CameraRecorder] = {}
        self._events_cursor = "$"
        self._closed: asyncio.Queue[ClosedSegment] = asyncio.Queue()
        self.full_until = 0.0  # no new segment before this (store or disk full)
        self._full_told = False
        self.published = 0
        self._tell: set[asyncio.Task[None]] = set()  # events on their way to rd:events
        self.idle = asyncio.Event()  # set while nothing waits to be published (tests)
        self.idle.set()
        self._supervisor = Supervisor(
            log,
            lost="recorder_redis_unavailable",
            recovered="recorder_redis_recovered",
            backoff=Backoff(0.2, 5.0),
            policy="no frames recorded",
        )

    # ---- running ---------------------------------------------------------------------

    async def run(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        for leftover in self.spool.glob("*.part"):  # a crash mid-segment leaves only these
            leftover.unlink(missing_ok=True)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._supervisor.run(self._read, errors=(RedisError, OSError)))
            tg.create_task(self._housekeeping())
            tg.create_task(self._publisher())
            tg.create_task(self._retention())

    async def close(self) -> None:
        """Close every open segment and publish them (called after ``run`` is cancelled)."""
        for cam in self.cameras.values():
            if cam.segment is not None:
                self._closed.put_nowait(cam.close())
        while not self._closed.empty():
            await self._publish(self._closed.get_nowait())

    async def _housekeeping(self) -> None:
        while True:
            try:
                await self.refresh()
            except RedisError as exc:
                log.debug("recorder_refresh_failed", error=str(exc))
            now = self.clock()
            for cam in self.cameras.values():
                for seg in cam.tick(now):
                    self._queue(seg)
            await asyncio.sleep(HOUSEKEEPING_S)

    async def refresh(self) -> None:
        """The cameras (rd:cameras) and their record requests, read again."""
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(KEYS.cameras))
        seen = set()
        for field, value in raw.items():
            key = field.decode()
            robot, _, camera = key.partition(":")
            try:
                st = msgspec.json.decode(value, type=_Status)
            except msgspec.DecodeError:
                continue
            seen.add(key)
            cam = self.cameras.get(key)
            if cam is None or (cam.width, cam.height, cam.fps) != (st.width, st.height, st.fps):
                if cam is not None and cam.segment is not None:
                    self._queue(cam.close())
                fresh = CameraRecorder(
                    robot, camera, st.width, st.height, st.fps, self.s, self._file_type
                )
                if cam is not None:
                    fresh.cursor = cam.cursor
                self.cameras[key] = fresh
        for gone in set(self.cameras) - seen:
            cam = self.cameras.pop(gone)
            if cam.segment is not None:
                self._queue(cam.close())
        if not self.cameras:
            return
        keys = list(self.cameras)
        until: list[Any] = await self.redis.mget([KEYS.record(*k.split(":", 1)) for k in keys])
        for key, value in zip(keys, until, strict=True):
            try:
                self.cameras[key].request_until = float(value) if value else 0.0
            except ValueError:
                self.cameras[key].request_until = 0.0

    async def _read(self) -> None:
        if self._events_cursor == "$":
            newest: Any = await self.redis.xrevrange(KEYS.events, count=1)
            self._events_cursor = newest[0][0].decode() if newest else "0-0"
        while True:
            streams: dict[Any, Any] = {KEYS.events: self._events_cursor}
            cams = {KEYS.camera(c.robot, c.camera): c for c in self.cameras.values()}
            streams.update({k: c.cursor for k, c in cams.items()})
            reply: Any = await self.redis.xread(streams, count=50, block=READ_BLOCK_MS)
            self._supervisor.ok()
            for stream, entries in sorted(reply or (), key=lambda r: r[0] != KEYS.events.encode()):
                name = stream.decode()
                last = entries[-1][0].decode()
                try:
                    if name == KEYS.events:
                        self._events_cursor = last
                        self._events(entries)
                    elif name in cams:
                        cams[name].cursor = last
                        self._frames(cams[name], entries)
                except Exception:  # a bug: logged, the entries skipped, the rest recorded
                    log.exception("recorder_entries_failed", stream=name, entries=len(entries))

    def _events(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        levels = {lv.encode() for lv in self.s.incident_levels}
        for _, fields in entries:
            robot = fields.get(b"robot", b"").decode()
            if not robot or fields.get(b"level") not in levels:
                continue
            if fields.get(b"type", b"").startswith(b"recorder."):
                continue  # our own alarms are not incidents
            eid, at = fields.get(b"eid", b"").decode(), float(fields.get(b"ts", b"0"))
            mine = [c for c in self.cameras.values() if c.robot == robot]
            for cam in mine:
                cam.incident_at(eid, at)
            if mine:
                log.info("incident", robot=robot, eid=eid, cameras=[c.camera for c in mine])

    def _frames(self, cam: CameraRecorder, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        now = self.clock()
        for _, fields in entries:
            try:
                jpeg, at = fields[b"jpeg"], float(fields[b"rx"])
            except (KeyError, ValueError):
                continue
            if now < self.full_until:  # no room: the frames only feed the seconds kept
                cam.keep(jpeg, at)
                continue
            try:
                closed = cam.frame(jpeg, at, now, self.spool)
            except OSError as exc:
                cam.abort()
                self._no_room(f"spool {self.spool}: {exc.strerror or exc}", exc.errno)
                continue
            for seg in closed:
                self._queue(seg)

    # ---- publishing ------------------------------------------------------------------

    def _queue(self, seg: ClosedSegment) -> None:
        self.idle.clear()
        self._closed.put_nowait(seg)

    async def _publisher(self) -> None:
        while True:
            seg = await self._closed.get()
            await self._publish(seg)
            if self._closed.empty():
                self.idle.set()

    async def _publish(self, seg: ClosedSegment) -> None:
        try:
            if seg.frames == 0:
                return
            try:
                blob = await self.store.put(_chunks(seg.path))
            except StoreFull as exc:
                self._no_room(str(exc), errno.ENOSPC)
                return
            except StoreError as exc:
                log.warning("recording_lost", robot=seg.robot, camera=seg.camera, error=str(exc))
                return
            row = Recording(
                id=uuid.uuid4().hex,
                robot=seg.robot,
                camera=seg.camera,
                started_at=_when(seg.started),
                ended_at=_when(seg.ended),
                frames=seg.frames,
                bytes=blob.size,
                format=seg.extension,
                content_type=seg.content_type,
                reason=seg.reason,
                incident=seg.incident,
                key=blob.key,
                sha256=blob.sha256,
                store=self.store.name,
            )
            async with self.db.begin() as s:
                s.add(row)
            self.published += 1
            log.info(
                "recording_saved",
                recording=row.id,
                robot=seg.robot,
                camera=seg.camera,
                reason=seg.reason,
                frames=seg.frames,
                bytes=blob.size,
                seconds=round(seg.ended - seg.started, 1),
            )
            if seg.incident:
                await self._event(
                    EventType.RECORDER_CLIP,
                    seg.robot,
                    Level.INFO,
                    {"recording": row.id, "camera": seg.camera, "incident": seg.incident},
                )
            if self._full_told:
                self._full_told = False
                await self._event(
                    EventType.RECORDER_STORE_RECOVERED, "", Level.INFO, {"recorder": self.s.name}
                )
        finally:
            seg.path.unlink(missing_ok=True)

    def _no_room(self, error: str, code: int | None) -> None:
        """Stop recording for ``retry_s``; tell it once per episode (an alarm event)."""
        self.full_until = self.clock() + self.s.retry_s
        for cam in self.cameras.values():
            cam.abort()
        if self._full_told:
            return
        self._full_told = True
        log.error(
            "recorder_store_full",
            error=error,
            errno=code,
            retry_s=self.s.retry_s,
            policy="recording stopped; live views unaffected",
        )
        task = asyncio.get_running_loop().create_task(
            self._event(
                EventType.RECORDER_STORE_FULL,
                "",
                Level.ALARM,
                {"recorder": self.s.name, "error": error},
            )
        )
        self._tell.add(task)
        task.add_done_callback(self._tell.discard)

    async def _event(self, type_: str, robot: str, level: Level, data: dict[str, Any]) -> None:
        rec = EventRecord(
            eid=uuid.uuid4().hex,
            type=type_,
            ts=self.clock(),
            robot=robot,
            level=level,
            src=self.s.name,
            data=data,
        )
        try:
            await self.redis.xadd(
                KEYS.events,
                cast(Any, to_fields(rec)),
                maxlen=self.settings.redis.events_maxlen,
                approximate=True,
            )
        except RedisError as exc:
            log.warning("recorder_event_lost", type=type_, error=str(exc))

    # ---- retention -------------------------------------------------------------------

    async def _retention(self) -> None:
        while True:
            await asyncio.sleep(self.s.retention_every_s)
            try:
                await self.retain()
            except (StoreError, OSError) as exc:
                log.warning("retention_failed", error=str(exc))
            except Exception as exc:  # the database away: next time
                log.warning("retention_failed", error=str(exc) or type(exc).__name__)

    async def retain(self) -> int:
        """Delete what is too old, then the oldest until the total fits (incident clips
        last); the number of recordings deleted."""
        now = self.clock()
        plain_before = _when(now - self.s.max_age_s)
        incident_before = _when(now - self.s.incident_max_age_s)
        async with self.db() as s:
            old = list(
                await s.scalars(
                    select(Recording).where(
                        ((Recording.reason != "incident") & (Recording.ended_at < plain_before))
                        | (Recording.ended_at < incident_before)
                    )
                )
            )
            total = int(await s.scalar(select(func.coalesce(func.sum(Recording.bytes), 0))) or 0)
        doomed = list(old)
        total -= sum(r.bytes for r in old)
        if total > self.s.max_bytes:
            gone = {r.id for r in old}
            async with self.db() as s:
                rows = await s.scalars(
                    select(Recording).order_by(
                        (Recording.reason == "incident").asc(), Recording.started_at.asc()
                    )
                )
                for r in rows:
                    if total <= self.s.max_bytes:
                        break
                    if r.id not in gone:
                        doomed.append(r)
                        total -= r.bytes
        for r in doomed:
            await self._delete(r)
        if doomed:
            log.info("recordings_deleted", count=len(doomed), total_bytes=total)
        return len(doomed)

    async def _delete(self, r: Recording) -> None:
        await RecordingService(self.db, self.store).delete(r.id)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, READ_CHUNK):
            yield chunk
    finally:
        f.close()


__all__ = ["Recorder"]
