"""``jobs``: the newest jobs (SQL with SAQ's live state), then every change from rd:jobs.

Frames carry a job's whole visible state (status, progress, message), so a
frame seen twice is harmless and the snapshot may overlap the replay: the
cursor is read before the snapshot, never after. ``job=<id>`` (repeatable)
follows single jobs; it is what ``GET /api/jobs/{id}/events`` serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final

import msgspec
from msgspec import Struct

from protocol.streams import from_fields
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import Entry
from robodine.redisio.streamid import StreamId
from web.feeds.frames import Frame, Snapshot, frame
from web.feeds.subscription import Delivery, Filter
from web.feeds.topic import Start, Topic, TopicContext, log, resume_or_snapshot
from web.http.schemas import Query, doc
from web.jobs.queue import JobQueue
from web.jobs.schemas import JobId, JobOut, JobsQuery
from web.jobs.service import JobService
from web.jobs.stream import JobRecord

SNAPSHOT_JOBS: Final = 100


class JobFrame(Struct, tag_field="type", tag="job", kw_only=True):
    """A job changed: queued, started, progressed, retried, finished."""

    id: Annotated[str, doc("the rd:jobs id: resume with `since`")]
    job: Annotated[str, doc("the job's id")]
    kind: Annotated[str, doc("its kind")]
    status: Annotated[str, doc("its status now")]
    progress: Annotated[float, doc("0 to 1")]
    message: Annotated[str, doc("what it is doing")]
    attempt: Annotated[int, doc("which attempt")]
    error: Annotated[str, doc("why it failed, if it did")]
    ts: Annotated[float, doc("when, epoch seconds")]
    result: Annotated[dict[str, Any] | None, doc("once completed")] = None


class JobsParams(Query):
    job: Annotated[list[JobId], doc("only these jobs (repeat or commas)")] = []


class JobsTopic(Topic):
    name = "jobs"
    stream = KEYS.named("jobs")
    delivery = Delivery.RELIABLE
    summary = (
        "Background jobs: the newest first, then every change (queued, running with "
        "progress, retried, completed, failed, cancelled). Filter: job (ids)."
    )
    params = JobsParams
    frame_types = JobFrame | Snapshot[JobOut]

    def make_filter(self, params: Any) -> Filter:
        return Filter.make(keys=params.job)

    async def start(self, ctx: TopicContext, flt: Filter, since: StreamId | None) -> Start:
        info, resumable = await resume_or_snapshot(ctx, self.stream, since)
        if resumable:
            assert since is not None
            return Start(since, None, resumed=True)
        service = JobService(ctx.db, JobQueue(ctx.settings, ctx.redis), ctx.settings)
        if flt.keys:
            items = []
            for job_id in sorted(flt.keys):
                try:
                    items.append(await service.get(job_id))
                except Exception as exc:  # an unknown id: nothing to show for it
                    if getattr(exc, "status", None) != 404:
                        raise
        else:
            items, _ = await service.page(JobsQuery(limit=SNAPSHOT_JOBS))
        snap = Snapshot[JobOut](
            topic=self.name, id=str(info.last), reset=since is not None, items=items
        )
        return Start(info.last, frame(snap, id=info.last), resumed=False)

    async def frames(self, ctx: TopicContext, entries: Sequence[Entry]) -> list[Frame]:
        out = []
        for sid, fields in entries:
            try:
                rec = from_fields(JobRecord, fields)
            except (msgspec.ValidationError, ValueError) as exc:
                log.warning("stream_entry_invalid", stream=self.stream, id=sid, error=str(exc))
                continue
            f = JobFrame(
                id=sid,
                job=rec.job,
                kind=rec.kind,
                status=str(rec.status),
                progress=rec.progress,
                message=rec.message,
                attempt=rec.attempt,
                error=rec.error,
                ts=rec.ts,
                result=rec.data or None,
            )
            out.append(frame(f, id=StreamId.parse(sid), key=rec.job))
        return out
