"""Jobs for the API: a row in SQL from the moment one is queued, its live state from SAQ.

SQL is the history (every job, kept after Redis forgets it); SAQ's own copy
in Redis is fresher while the job runs, so a read prefers it and falls back
to SQL once SAQ has expired it (``jobs.keep_finished_s``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from redis.exceptions import RedisError
from saq.job import Job
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from web.db.media import JobRow
from web.http.problems import Problem, field_of, not_found
from web.jobs.queue import JobQueue
from web.jobs.registry import KINDS
from web.jobs.schemas import JobIn, JobOut, JobsQuery
from web.jobs.stream import TERMINAL, JobStatus, reason, status_of


def _at(ts_ms: int) -> datetime | None:
    return datetime.fromtimestamp(ts_ms / 1000, UTC) if ts_ms else None


def job_out(row: JobRow, live: Job | None = None) -> JobOut:
    out = JobOut(
        id=row.id,
        kind=row.kind,
        status=row.status,  # type: ignore[arg-type]
        progress=row.progress,
        message=row.message,
        attempts=row.attempts,
        input=orjson.loads(row.input),
        result=orjson.loads(row.result) if row.result else None,
        error=row.error,
        created_by=row.created_by,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        events=f"/api/jobs/{row.id}/events",
    )
    if live is None:
        return out
    status = status_of(live)
    return msgspec.structs.replace(
        out,
        status=str(status),
        progress=round(float(live.progress or 0.0), 4),
        message=str(live.meta.get("message", out.message)),
        attempts=live.attempts,
        result=live.result
        if status is JobStatus.COMPLETED and isinstance(live.result, dict)
        else out.result,
        error=reason(live) or out.error,
        started_at=_at(live.started) or out.started_at,
        finished_at=_at(live.completed) if status in TERMINAL else None,
    )


def unavailable(exc: Exception) -> Problem:
    return Problem(503, "queue_unavailable", f"the job queue (Redis) is unavailable: {exc}")


class JobService:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], queue: JobQueue, settings: Settings
    ) -> None:
        self.db = db
        self.queue = queue
        self.settings = settings

    def check(self, body: JobIn) -> tuple[str, dict[str, Any]]:
        """(kind, input as JSON) or a 422 naming the field."""
        k = KINDS.get(body.kind)
        if k is None:
            raise Problem(
                422,
                "unknown_job_kind",
                f"no job kind {body.kind!r}",
                field="kind",
                extra={"kinds": sorted(KINDS)},
            )
        try:
            parsed = msgspec.convert(body.input, k.input, strict=False)
        except msgspec.ValidationError as exc:
            field, msg = field_of(exc, "input")
            raise Problem(
                422, "invalid_field", f"input: {msg}", field=field, extra={"in": "body"}
            ) from None
        return k.name, msgspec.to_builtins(parsed)

    async def submit(self, body: JobIn, user: str) -> JobOut:
        kind, data = self.check(body)
        job_id = JobQueue.new_id()
        row = JobRow(
            id=job_id,
            kind=kind,
            status=JobStatus.QUEUED,
            input=orjson.dumps(data).decode(),
            created_by=user,
        )
        async with self.db.begin() as s:
            s.add(row)
        try:
            job = await self.queue.submit(
                job_id, kind, data, timeout_s=KINDS[kind].timeout_s(self.settings)
            )
        except (RedisError, OSError) as exc:
            async with self.db.begin() as s:  # never queued: it must not look queued
                await s.delete(await s.get(JobRow, job_id))
            raise unavailable(exc) from None
        return job_out(row, job)

    async def _row(self, s: AsyncSession, job_id: str) -> JobRow:
        row = await s.get(JobRow, job_id)
        if row is None:
            raise not_found("job", job_id)
        return row

    async def get(self, job_id: str) -> JobOut:
        async with self.db() as s:
            row = await self._row(s, job_id)
        try:
            live = await self.queue.live(job_id)
        except (RedisError, OSError):
            live = None  # SQL's copy is a little behind, but it is an answer
        return job_out(row, live)

    async def page(self, q: JobsQuery) -> tuple[list[JobOut], int]:
        stmt = select(JobRow)
        if q.status:
            stmt = stmt.where(JobRow.status.in_(q.status))
        if q.kind:
            stmt = stmt.where(JobRow.kind == q.kind)
        async with self.db() as s:
            total = int(await s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = list(
                await s.scalars(
                    stmt.order_by(JobRow.created_at.desc(), JobRow.id)
                    .limit(q.limit)
                    .offset(q.offset)
                )
            )
        live: list[Job | None] = [None] * len(rows)
        active = [i for i, r in enumerate(rows) if r.status not in TERMINAL]
        if active:
            try:
                found = await self.queue.jobs.jobs(rows[i].id for i in active)
                for i, j in zip(active, found, strict=True):
                    live[i] = j
            except (RedisError, OSError):
                pass
        return [job_out(r, j) for r, j in zip(rows, live, strict=True)], total

    async def cancel(self, job_id: str, user: str) -> JobOut:
        async with self.db() as s:
            row = await self._row(s, job_id)
        if row.status in TERMINAL:
            raise Problem(409, "job_finished", f"job {job_id} is {row.status} already")
        try:
            live = await self.queue.cancel(job_id, f"cancelled by {user}")
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from None
        if live is not None and status_of(live) in (JobStatus.COMPLETED, JobStatus.FAILED):
            raise Problem(409, "job_finished", f"job {job_id} is {status_of(live)} already")
        return job_out(row, live)
