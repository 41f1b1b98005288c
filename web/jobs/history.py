"""The jobs' SQL history, kept level with rd:jobs by a consumer group in every worker.

Each rd:jobs entry moves its job's row on (status, progress, attempts,
result, times), once: the row remembers the newest entry it applied, so an
entry handed out twice (a worker crashed before its XACK) or out of order
(two workers of the group) changes nothing. A batch of entries is one
transaction with one read of its jobs' rows, so the history keeps up with
the queue by reading more per batch when it falls behind. ``reconcile`` catches what no
entry said: a row still open whose job SAQ no longer has (it was never
queued, or Redis lost it) fails with that reason; one SAQ finished while an
entry was lost is finished from SAQ's copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import orjson
import structlog
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.streams import from_fields
from robodine.redisio.streamid import StreamId
from web.consumer import Entry
from web.db.media import JobRow
from web.jobs.queue import JobQueue
from web.jobs.stream import TERMINAL, JobRecord, JobStatus, record_of

log = structlog.get_logger("web.jobs.history")
GROUP = "jobs-history"
RECONCILE_AFTER_S = 60.0


def _insert(s: AsyncSession) -> postgresql.Insert | sqlite.Insert:
    if s.get_bind().dialect.name == "postgresql":
        return postgresql.insert(JobRow)
    return sqlite.insert(JobRow)


def _newer(sid: str, last: str) -> bool:
    return not last or StreamId.parse(sid) > StreamId.parse(last)


def apply(row: JobRow, sid: str, rec: JobRecord) -> bool:
    if not _newer(sid, row.last_event) or row.status in TERMINAL:
        return False
    at = datetime.fromtimestamp(rec.ts, UTC)
    row.status = rec.status
    row.progress = rec.progress
    row.message = rec.message
    row.attempts = max(row.attempts, rec.attempt)
    row.error = rec.error or None
    if rec.status is JobStatus.RUNNING and row.started_at is None:
        row.started_at = at
    if rec.status in TERMINAL:
        row.finished_at = at
        if rec.data:
            row.result = orjson.dumps(rec.data).decode()
    row.last_event = sid
    return True


class History:
    def __init__(self, db: async_sessionmaker[AsyncSession], queue: JobQueue) -> None:
        self.db = db
        self.queue = queue
        self._stopping = False

    async def handle(self, stream: str, entries: Sequence[Entry]) -> None:
        """A batch in one transaction: its jobs' rows read in one query, locked in id order
        (two workers' batches never wait on each other in a cycle), moved on in memory."""
        recs: list[tuple[str, JobRecord]] = []
        for sid, fields in entries:
            try:
                recs.append((sid, from_fields(JobRecord, fields)))
            except (msgspec.ValidationError, ValueError) as exc:
                log.warning("stream_entry_invalid", stream=stream, id=sid, error=str(exc))
        if not recs:
            return
        ids = sorted({rec.job for _, rec in recs})
        async with self.db.begin() as s:
            rows = await self._locked(s, ids)
            if missing := [i for i in ids if i not in rows]:
                # queued by something other than the API (tests, bench); another worker's
                # batch may be making the same row: the second insert does nothing
                kinds = {rec.job: rec.kind for _, rec in recs}
                await s.execute(
                    _insert(s)
                    .values(
                        [
                            {"id": i, "kind": kinds[i], "status": JobStatus.QUEUED, "input": "{}"}
                            for i in missing
                        ]
                    )
                    .on_conflict_do_nothing(index_elements=["id"])
                )
                rows.update(await self._locked(s, missing))
            for sid, rec in recs:
                apply(rows[rec.job], sid, rec)

    @staticmethod
    async def _locked(s: AsyncSession, ids: list[str]) -> dict[str, JobRow]:
        found = await s.scalars(
            select(JobRow).where(JobRow.id.in_(ids)).order_by(JobRow.id).with_for_update()
        )
        return {row.id: row for row in found}

    def stop(self) -> None:
        self._stopping = True

    async def reconcile_forever(self, every_s: float = 30.0) -> None:
        while not self._stopping:
            try:
                await self.reconcile()
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("jobs_reconcile_failed", error=str(exc))
            await asyncio.sleep(every_s)

    async def reconcile(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=RECONCILE_AFTER_S)
        async with self.db() as s:
            rows = list(
                await s.scalars(
                    select(JobRow)
                    .where(
                        JobRow.status.not_in([str(t) for t in TERMINAL]), JobRow.created_at < cutoff
                    )
                    .limit(500)
                )
            )
        if not rows:
            return 0
        live = await self.queue.jobs.jobs(r.id for r in rows)
        fixed = 0
        async with self.db.begin() as s:
            for r, job in zip(rows, live, strict=True):
                row = await s.get(JobRow, r.id, with_for_update=True)
                if row is None or row.status in TERMINAL:
                    continue
                if job is None:
                    row.status = JobStatus.FAILED
                    row.error = "lost: the queue has no such job (never queued, or Redis lost it)"
                    row.finished_at = datetime.now(UTC)
                    fixed += 1
                else:
                    rec = record_of(job, job.completed / 1000 or datetime.now(UTC).timestamp())
                    if rec.status in TERMINAL:
                        row.last_event = ""  # SAQ's copy is the truth now
                        apply(row, "0-1", rec)
                        fixed += 1
        if fixed:
            log.info("jobs_reconciled", count=fixed)
        return fixed
