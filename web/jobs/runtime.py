"""What a job kind is and how SAQ runs one: a name, an input model, a timeout, a function.

A kind's function gets a ``JobContext`` (settings, database, Redis, media
store, HTTP client, progress) and its validated input, and returns the
job's result (a JSON object). ``JobFailed`` says why it failed in words;
``permanent=True`` means trying again cannot help (bad input, a missing
upload), so no retry is spent on it. Any other exception is retried with
backoff up to ``jobs.retries`` attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import structlog
from redis.asyncio import Redis
from saq.job import Job
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from robodine.media import MediaStore, StoreError
from web.uploads.service import UploadService

log = structlog.get_logger("web.jobs")


class JobFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass
class JobContext:
    settings: Settings
    db: async_sessionmaker[AsyncSession]
    redis: Redis  # str replies
    store: MediaStore
    http: aiohttp.ClientSession
    job: Job

    @property
    def id(self) -> str:
        return self.job.key

    @property
    def attempt(self) -> int:
        return self.job.attempts

    @property
    def uploads(self) -> UploadService:
        return UploadService(self.db, self.store)

    async def progress(self, fraction: float, message: str = "") -> None:
        """Store the progress with the job (it also goes on rd:jobs); a heartbeat too."""
        await self.job.update(
            progress=max(0.0, min(1.0, fraction)), meta={"message": message[:200]}
        )


Run = Callable[[JobContext, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Kind:
    name: str
    summary: str
    input: type[msgspec.Struct]
    run: Run
    timeout_s: Callable[[Settings], int]


KINDS: dict[str, Kind] = {}


def kind(
    name: str,
    input: type[msgspec.Struct],
    summary: str,
    timeout_s: Callable[[Settings], int] = lambda s: s.jobs.timeout_s,
) -> Callable[[Run], Run]:
    def deco(fn: Run) -> Run:
        KINDS[name] = Kind(name, summary, input, fn, timeout_s)
        return fn

    return deco


Deps = Callable[[Job], JobContext]


def saq_function(k: Kind, deps: Deps, heartbeat_s: int) -> Callable[..., Awaitable[Any]]:
    """The function SAQ runs for kind ``k``: validate, heartbeat, run, explain failures."""

    async def run(ctx: dict[str, Any], *, input: Any) -> dict[str, Any]:
        job: Job = ctx["job"]
        beat = asyncio.create_task(_heartbeat(job, max(0.2, heartbeat_s / 3)))
        try:
            try:
                data = msgspec.convert(input, k.input, strict=False)
            except msgspec.ValidationError as exc:
                raise JobFailed(f"invalid input: {exc}", permanent=True) from None
            try:
                return await k.run(deps(job), data)
            except StoreError as exc:
                raise JobFailed(f"media store: {exc}") from None
        except JobFailed as exc:
            if exc.permanent:
                job.retries = job.attempts  # no retry can help
            log.warning(
                "job_failed",
                job=job.key,
                kind=k.name,
                attempt=job.attempts,
                reason=str(exc),
                permanent=exc.permanent,
            )
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    run.__qualname__ = k.name
    return run


async def _heartbeat(job: Job, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await job.update()  # touches the job: its sweep sees a live worker
        except Exception as exc:  # Redis away: the next beat tries again
            log.warning("job_heartbeat_failed", job=job.key, error=str(exc))
