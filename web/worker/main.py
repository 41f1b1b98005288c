"""The worker process: SAQ workers for jobs and webhook deliveries, two consumer groups.

One asyncio loop (uvloop) holds: the jobs worker (``jobs.concurrency``
jobs at once), the deliveries worker, the jobs history (rd:jobs -> SQL) and
the webhook fan-out (rd:events, rd:jobs -> deliveries). SIGTERM stops them:
a job still running is handed back to the queue at once (SAQ retries a
cancelled job), so another worker or the next start runs it again. A part
that ends with an unexpected error (a bug, not an outage: those each part
rides out) is logged with its traceback and ends the process with status 1,
so systemd starts a whole worker again instead of one that silently lacks a
part. sd_notify READY/WATCHDOG/STOPPING as the other daemons.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable
from typing import Any

import aiohttp
import structlog
from saq.job import Job
from saq.types import PartialTimersDict
from saq.worker import Worker

from config import Settings
from robodine.lifecycle import Notifier, run_until_signal
from robodine.media import open_store
from robodine.redisio.client import connect
from robodine.redisio.keys import KEYS
from web.consumer import GroupConsumer
from web.db.migrate import current_revision, head_revision
from web.db.session import create_engine, sessionmaker
from web.jobs.analysis import POLL_S
from web.jobs.history import GROUP as HISTORY_GROUP
from web.jobs.history import History
from web.jobs.queue import JobQueue
from web.jobs.registry import KINDS
from web.jobs.runtime import JobContext, saq_function
from web.webhooks.delivery import FUNCTION, GROUP, Fanout, Sender
from web.webhooks.targets import connector_kwargs

log = structlog.get_logger("worker")


class QuietWorker(Worker[Any]):
    """SAQ's worker without its own signal handlers: this process has one set for all."""

    SIGNALS = []


class WorkerNotReady(RuntimeError):
    pass


class WorkerFailed(RuntimeError):
    """A part of the worker ended with an unexpected error: the process exits so that its
    supervisor (systemd) starts it again, rather than running on without that part."""


async def serve(
    settings: Settings,
    stop: Awaitable[object],
    *,
    extra_functions: list[tuple[str, Any]] | None = None,
) -> None:
    s = settings.jobs
    wid = f"{s.name}-{os.getpid()}"
    if settings.logging.level != "debug":  # SAQ logs three INFO lines per job; ours suffice
        logging.getLogger("saq").setLevel(logging.WARNING)
    engine = create_engine(settings.database)
    db = sessionmaker(engine)
    current, head = await current_revision(engine), head_revision()
    if current != head:
        await engine.dispose()
        raise WorkerNotReady(
            f"database is at revision {current}, the code needs {head}: "
            "start `robodine web` (it migrates) or run `robodine db upgrade`"
        )
    store = await open_store(settings.media)
    # jobs block on it (the analysis job waits for its webhook with BLPOP)
    redis = connect(settings.redis, name=f"{wid}:jobs", block_ms=int(POLL_S * 1000), decode=True)
    queue = JobQueue.open(settings, name=f"{wid}:saq", blocking=True)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
    hooks_http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(**connector_kwargs(settings.webhooks))
    )

    def deps(job: Job) -> JobContext:
        return JobContext(settings, db, redis, store, http, job)

    sender = Sender(db, settings, hooks_http)

    async def deliver(ctx: dict[str, Any], *, delivery: str) -> dict[str, Any]:
        return await sender(ctx, delivery=delivery)  # a coroutine function, as SAQ checks

    functions: list[tuple[str, Any]] = [
        (k.name, saq_function(k, deps, s.heartbeat_s)) for k in KINDS.values()
    ] + list(extra_functions or [])
    timers: PartialTimersDict = {"sweep": s.sweep_s, "abort": 1, "schedule": 1, "worker_info": 10}
    jobs_worker = QuietWorker(
        queue.jobs, functions, id=wid, concurrency=s.concurrency, timers=timers, dequeue_timeout=2.0
    )
    hooks_worker = QuietWorker(
        queue.deliveries,
        [(FUNCTION, deliver)],
        id=f"{wid}-webhooks",
        concurrency=s.concurrency,
        timers=timers,
        dequeue_timeout=2.0,
    )
    history = History(db, queue)
    block = 1000

    def group_client() -> Any:
        return connect(settings.redis, name=f"{wid}:group", block_ms=block, decode=True)

    consumers = [
        GroupConsumer(
            group_client,
            [KEYS.jobs],
            HISTORY_GROUP,
            wid,
            history.handle,
            block_ms=block,
            start_id="0",
        ),
        GroupConsumer(
            group_client,
            [KEYS.events, KEYS.jobs],
            GROUP,
            wid,
            Fanout(db, queue, settings).handle,
            block_ms=block,
        ),
    ]
    tasks = [
        asyncio.create_task(jobs_worker.start(), name="saq-jobs"),
        asyncio.create_task(hooks_worker.start(), name="saq-webhooks"),
        asyncio.create_task(history.reconcile_forever(), name="jobs-reconcile"),
        *(asyncio.create_task(c.run(), name=f"group-{c.group}") for c in consumers),
    ]
    failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def watch(task: asyncio.Task[Any]) -> None:
        if task.cancelled() or failed.done() or (exc := task.exception()) is None:
            return
        log.error("worker_task_failed", task=task.get_name(), exc_info=exc)
        failed.set_result(f"{task.get_name()}: {exc!r}")

    for t in tasks:
        t.add_done_callback(watch)
    notifier = Notifier()
    watchdog = asyncio.create_task(notifier.run_watchdog(lambda: not failed.done()))
    log.info(
        "worker_started", id=wid, kinds=sorted(KINDS), concurrency=s.concurrency, store=store.name
    )
    notifier.ready("working")
    stopped: asyncio.Future[Any] = asyncio.ensure_future(stop)
    try:
        await asyncio.wait([stopped, failed], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        log.info("worker_stopping", id=wid)
        notifier.stopping()
        history.stop()
        for c in consumers:
            c.stop()
        await asyncio.gather(jobs_worker.stop(), hooks_worker.stop(), return_exceptions=True)
        for t in [*tasks, watchdog]:
            t.cancel()
        for t in [*tasks, watchdog]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await http.close()
        await hooks_http.close()
        await queue.close()
        await redis.aclose()
        await store.close()
        await engine.dispose()
        log.info("worker_stopped", id=wid)
    if failed.done():
        raise WorkerFailed(failed.result())


def run(settings: Settings) -> int:
    try:
        run_until_signal(lambda stop: serve(settings, stop))
    except WorkerNotReady as exc:
        log.error("worker_not_ready", error=str(exc))
        return 1
    except WorkerFailed:
        return 1  # logged where it failed
    return 0
