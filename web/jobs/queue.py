"""The job queue: SAQ (saq on PyPI) on the same Redis, with every change put on rd:jobs.

SAQ keeps each job as one key and moves job ids between lists with Lua
scripts and BLMOVE; a worker heartbeats its jobs, and any worker's sweep
finds an active job whose heartbeat stopped (its worker died) and queues it
again, once (docs/jobs.md has the measured comparison that chose it).

``RobodineQueue.notify`` is where SAQ announces a stored change of a job
(update, retry, finish); it also appends the change to rd:jobs in the same
MULTI, skipping heartbeats that change nothing a client can see.

SAQ names its keys from the queue's name (``saq:{queue}:queued``, the job
``saq:job:{queue}:{key}``) and a job's abort flag from its key alone
(``saq:abort:{key}``), and its enqueue script and abort MULTI use them
together. Under a hash-tag prefix (``redis.key_prefix = "{rd}"``, Redis
Cluster) the queue's name starts with the tag and ``TaggedJob`` puts it into
the abort key too, so all of SAQ's keys share the slot of ours
(docs/scaling.md, Redis Cluster). Under ``rd`` every name is what it was.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from saq.job import ABORT_ID_PREFIX, TERMINAL_STATUSES, Job
from saq.job import Status as SaqStatus
from saq.queue.redis import RedisQueue

from config import Settings
from protocol.streams import to_fields
from robodine.redisio.keys import KEYS, configure
from robodine.redisio.sentinel import redis_from_url
from web.jobs.stream import SWEPT, record_of

_KEEPALIVE = {
    opt: val
    for name, val in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
    if (opt := getattr(socket, name, None)) is not None
}


def queue_client(settings: Settings, *, name: str, blocking: bool) -> Redis:
    """SAQ's own client: bytes replies (SAQ decodes itself), no silent retries.

    A worker's client blocks (BLMOVE, SAQ's pub/sub listener waits with no
    timeout), so it has no socket timeout but TCP keepalive instead; the web
    tier's fails fast.
    """
    configure(settings.redis.key_prefix)
    return redis_from_url(  # redis+sentinel:// too
        settings.redis.url,
        socket_timeout=None if blocking else 5.0,
        socket_connect_timeout=settings.redis.connect_timeout_s,
        socket_keepalive=blocking,
        socket_keepalive_options=_KEEPALIVE if blocking else None,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        client_name=name,
        protocol=2,
        decode_responses=False,
    )


def _dumps(d: Mapping[Any, Any]) -> str:
    return orjson.dumps(d).decode()


class TaggedJob(Job):
    """A SAQ job whose abort key carries the namespace's hash tag (module docstring)."""

    @property
    def abort_id(self) -> str:
        return f"{ABORT_ID_PREFIX}{KEYS.tag}{self.key}"


class SweepSafeQueue(RedisQueue):
    """SAQ's Redis queue whose sweep never touches a job a live worker holds; its jobs are
    ``TaggedJob``s, read back as such."""

    def __init__(self, redis: Redis, name: str) -> None:
        super().__init__(
            redis, name=name, dump=_dumps, load=orjson.loads, swept_error_message=SWEPT
        )

    def deserialize(
        self, payload: dict[str, Any] | str | bytes | None, status: SaqStatus | str | None = None
    ) -> Job | None:
        job = super().deserialize(payload, status)
        if job is None:
            return None
        job.__class__ = TaggedJob  # the same fields; only the abort key's name differs
        return job

    # -- the sweep, made safe against a worker that is alive --------------------------
    # SAQ's sweep aborts every job in its active list that is not ACTIVE, or whose
    # heartbeat is late, then waits for it to end and queues it again. A job a worker
    # has just moved to the list but not yet marked ACTIVE (a few milliseconds) looks
    # the same, and so a job it went on to complete was queued a second time (seen in
    # tests with a 1 s sweep). These guards re-read the job first: a sweep only
    # touches a job that is really lost, and never queues one that has ended.

    async def _lost(self, key: str) -> bool:
        for _ in range(3):
            stored = await self.job(key)
            if stored is None or stored.status in TERMINAL_STATUSES:
                return False
            if stored.status is SaqStatus.ACTIVE:
                return stored.stuck
            if stored.status is SaqStatus.ABORTING:
                return True
            await asyncio.sleep(0.5)  # queued but in the active list: being picked up
        return True

    async def _ended(self, key: str) -> bool:
        stored = await self.job(key)
        if stored is None:
            return True
        if stored.status is SaqStatus.ACTIVE:
            return not stored.stuck  # a live worker has it
        return stored.status in (SaqStatus.COMPLETE, SaqStatus.FAILED) or (
            stored.status is SaqStatus.ABORTED and stored.error != SWEPT
        )

    async def abort(self, job: Job, error: str, ttl: float = 5) -> None:
        if error == SWEPT and not await self._lost(job.key):
            return
        await super().abort(job, error, ttl)

    async def retry(self, job: Job, error: str | None) -> None:
        if error == SWEPT and await self._ended(job.key):
            return
        await super().retry(job, error)

    async def finish(
        self,
        job: Job,
        status: SaqStatus,
        *,
        result: Any = None,
        error: str | None = None,
        **kwargs: Any,
    ) -> None:
        if error == SWEPT and await self._ended(job.key):
            return
        await super().finish(job, status, result=result, error=error, **kwargs)


class RobodineQueue(SweepSafeQueue):
    """SAQ's Redis queue that also writes each visible change of a job to rd:jobs."""

    def __init__(self, redis: Redis, name: str, retention_s: int) -> None:
        super().__init__(redis, name)
        self.retention_ms = retention_s * 1000
        self._seen: dict[str, tuple[Any, ...]] = {}
        # SAQ announces no enqueue: "queued" goes on rd:jobs just before the job is in the
        # queue, so no worker's "running" can come before it.
        self.register_before_enqueue(self.notify)

    async def notify(self, job: Job) -> None:
        rec = record_of(job, time.time())
        seen = (rec.status, rec.progress, rec.message, rec.attempt, rec.error)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.publish(job.id, job.status)  # what SAQ's own listeners wait for
            if self._seen.get(job.key) != seen:
                minid = int(rec.ts * 1000) - self.retention_ms
                pipe.xadd(KEYS.jobs, to_fields(rec), minid=str(minid), approximate=True)  # type: ignore[arg-type]
            await pipe.execute()
        if job.status in TERMINAL_STATUSES:
            self._seen.pop(job.key, None)
        else:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[job.key] = seen


class JobQueue:
    """What the web tier and the worker do with the queue: submit, look up, cancel."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        s = settings.jobs
        self.settings = settings
        self.redis = redis
        name = configure(settings.redis.key_prefix).saq_queue(s.queue)  # "{rd}robodine"
        self.jobs = RobodineQueue(redis, name, s.stream_retention_s)
        # Outbound webhook deliveries: the same library, a queue of their own (not on rd:jobs).
        self.deliveries = SweepSafeQueue(redis, f"{name}-webhooks")

    @classmethod
    def open(cls, settings: Settings, *, name: str, blocking: bool = False) -> JobQueue:
        return cls(settings, queue_client(settings, name=name, blocking=blocking))

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    async def submit(
        self,
        job_id: str,
        kind: str,
        data: dict[str, Any],
        *,
        timeout_s: int,
        retries: int | None = None,
    ) -> Job:
        s = self.settings.jobs
        job = TaggedJob(
            function=kind,
            kwargs={"input": data},
            key=job_id,
            timeout=timeout_s,
            heartbeat=s.heartbeat_s,
            retries=s.retries if retries is None else retries,
            retry_delay=s.retry_delay_s,
            retry_backoff=s.retry_max_delay_s or True,
            ttl=s.keep_finished_s,
        )
        await self.jobs.enqueue(job)  # "queued" on rd:jobs first (RobodineQueue)
        return job

    async def live(self, job_id: str) -> Job | None:
        return await self.jobs.job(job_id)

    async def cancel(self, job_id: str, reason: str) -> Job | None:
        """Abort a queued or running job; None when SAQ no longer has it."""
        job = await self.jobs.job(job_id)
        if job is None or job.status in TERMINAL_STATUSES:
            return job
        was_active = job.status is SaqStatus.ACTIVE
        await self.jobs.abort(job, reason)
        after = await self.jobs.job(job_id)
        if after is not None and not was_active and after.status is SaqStatus.ABORTING:
            # Waiting for a retry (scheduled, not in the queued list): no worker holds it,
            # so nobody else would finish the abort.
            await self.jobs.finish(after, SaqStatus.ABORTED, error=reason)
        elif after is not None and after.status is SaqStatus.ABORTING:
            await self.jobs.notify(after)  # "cancelling" on rd:jobs; the worker ends it
        return await self.jobs.job(job_id)

    async def close(self) -> None:
        await self.redis.aclose()
