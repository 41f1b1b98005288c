"""Recordings: the SQL index the recorder writes, and the files under /videos."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from robodine.media import MediaStore
from web.cameras.schemas import RecordingOut, RecordingsQuery
from web.db.blobs import still_named
from web.db.recordings import Recording
from web.http.problems import not_found


def video_name(r: Recording) -> str:
    return f"{r.id}.{r.format}"


def recording_out(r: Recording) -> RecordingOut:
    return RecordingOut(
        id=r.id,
        robot=r.robot,
        camera=r.camera,
        started_at=r.started_at,
        ended_at=r.ended_at,
        frames=r.frames,
        bytes=r.bytes,
        format=r.format,
        content_type=r.content_type,
        reason=r.reason,
        incident=r.incident,
        store=r.store,
        url=f"/videos/{video_name(r)}",
    )


class RecordingService:
    def __init__(self, db: async_sessionmaker[AsyncSession], store: MediaStore) -> None:
        self.db = db
        self.store = store

    async def page(self, q: RecordingsQuery) -> tuple[list[RecordingOut], int]:
        stmt = select(Recording)
        if q.robot is not None:
            stmt = stmt.where(Recording.robot == q.robot)
        if q.camera is not None:
            stmt = stmt.where(Recording.camera == q.camera)
        if q.reason is not None:
            stmt = stmt.where(Recording.reason == q.reason)
        if q.since is not None:
            stmt = stmt.where(Recording.ended_at > q.since)
        if q.until is not None:
            stmt = stmt.where(Recording.started_at < q.until)
        async with self.db() as s:
            total = int(await s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = await s.scalars(
                stmt.order_by(Recording.started_at.desc(), Recording.id)
                .limit(q.limit)
                .offset(q.offset)
            )
            return [recording_out(r) for r in rows], total

    async def row(self, recording_id: str) -> Recording:
        async with self.db() as s:
            r = await s.get(Recording, recording_id)
        if r is None:
            raise not_found("recording", recording_id)
        return r

    async def delete(self, recording_id: str) -> None:
        async with self.db.begin() as s:
            r = await s.get(Recording, recording_id)
            if r is None:
                raise not_found("recording", recording_id)
            await s.delete(r)
            await s.flush()
            shared = await still_named(s, r.sha256)
            key = r.key
        if not shared:
            await self.store.delete(key)
