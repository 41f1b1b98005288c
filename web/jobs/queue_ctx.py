"""cleanup_ctx: the web tier's handle on the job queue (submit, read, cancel; it runs none)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from web.jobs.queue import JobQueue
from web.keys import JOBS, SETTINGS


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    s = app[SETTINGS]
    app[JOBS] = JobQueue.open(s, name=f"{s.web.name}:jobs")
    yield
    await app[JOBS].close()
