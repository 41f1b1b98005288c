"""rd:jobs: every state change and progress step of every job, as the resume cursor of its feed.

Written by the queue itself (web/jobs/queue.py) whenever SAQ stores a job, so
a change made anywhere (the web enqueueing or cancelling, a worker running,
retrying or finishing, a worker sweeping another's lost job) is on the
stream. Entries are trimmed by age (``jobs.stream_retention_s``, MINID), never
by count, so the consumer groups that read it (the SQL history, outbound
webhooks) never lose an entry they have not acknowledged yet.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Final

import msgspec
from saq.job import Job
from saq.job import Status as SaqStatus

SWEPT: Final = "worker lost: no heartbeat"  # SAQ's error text for a swept job
_JOB_FAILED: Final = re.compile(r"(?:[A-Za-z_][\w.]*\.)?JobFailed: ")


class JobStatus(StrEnum):
    QUEUED = "queued"  # waiting for a worker (again, after a failed attempt)
    RUNNING = "running"
    CANCELLING = "cancelling"  # cancel asked; the worker stops it within a second
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL: Final = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


def status_of(job: Job) -> JobStatus:
    s = job.status
    if s in (SaqStatus.NEW, SaqStatus.QUEUED):
        return JobStatus.QUEUED
    if s is SaqStatus.ACTIVE:
        return JobStatus.RUNNING
    if s is SaqStatus.ABORTING:
        # a sweep aborts a lost job before it queues it again: not a cancel
        return JobStatus.QUEUED if job.error == SWEPT else JobStatus.CANCELLING
    if s is SaqStatus.ABORTED:
        return JobStatus.CANCELLED
    if s is SaqStatus.FAILED:
        return JobStatus.FAILED
    return JobStatus.COMPLETED


def reason(job: Job) -> str:
    """A one-line reason from SAQ's error (a traceback for exceptions)."""
    err = (job.error or "").strip()
    if not err:
        return ""
    last = err.splitlines()[-1].strip()
    if last in ("TimeoutError", "asyncio.exceptions.TimeoutError", "CancelledError"):
        return f"timed out after {job.timeout} s" if last != "CancelledError" else "cancelled"
    failed = _JOB_FAILED.match(last)  # any module path: jobs stored before a rename too
    if failed:
        return last[failed.end() :]
    return last[:500]


class JobRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One rd:jobs entry (flat fields, `data` is JSON: the result once completed)."""

    job: str
    kind: str
    status: JobStatus
    ts: float
    progress: float = 0.0  # 0..1
    message: str = ""
    attempt: int = 0
    error: str = ""
    data: dict[str, Any] = {}


def record_of(job: Job, ts: float) -> JobRecord:
    status = status_of(job)
    return JobRecord(
        job=job.key,
        kind=job.function,
        status=status,
        ts=ts,
        progress=round(float(job.progress or 0.0), 4),
        message=str(job.meta.get("message", ""))[:200],
        attempt=job.attempts,
        error=reason(job) if status is not JobStatus.COMPLETED else "",
        data=job.result if status is JobStatus.COMPLETED and isinstance(job.result, dict) else {},
    )
