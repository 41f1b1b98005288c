"""The jobs' SQL history: rd:jobs entries move a job's row on, once, also for a job that
has no row yet (queued by something other than the API), and out of order or twice
changes nothing."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from config.settings import DatabaseSettings
from protocol.streams import to_fields
from robodine.redisio.keys import DEFAULT
from web.db.media import JobRow
from web.db.session import create_engine, sessionmaker
from web.jobs.history import History
from web.jobs.queue import JobQueue
from web.jobs.stream import JobRecord, JobStatus


def entry(
    sid: str, status: JobStatus, job: str = "j" * 32, **fields: Any
) -> tuple[str, dict[str, str]]:
    rec = JobRecord(job=job, kind="bench_echo", status=status, ts=time.time(), **fields)
    return sid, {k: str(v) for k, v in to_fields(rec).items()}


async def test_entries_of_a_job_without_a_row_make_its_row_and_move_it_on_once(
    any_db_url: str,
) -> None:
    engine = create_engine(DatabaseSettings(url=any_db_url))
    db = sessionmaker(engine)
    history = History(db, cast(JobQueue, None))  # handle() never touches the queue
    try:
        await history.handle(
            DEFAULT.jobs,
            [
                entry("1-0", JobStatus.QUEUED),
                entry("2-0", JobStatus.RUNNING, attempt=1),
            ],
        )
        async with db() as s:
            row = await s.get(JobRow, "j" * 32)
            assert row is not None
            assert (row.status, row.attempts, row.kind) == ("running", 1, "bench_echo")
            assert row.started_at is not None and row.finished_at is None

        done = entry("3-0", JobStatus.COMPLETED, attempt=1, progress=1.0, data={"echo": 1})
        stale = entry("2-5", JobStatus.RUNNING, attempt=1, progress=0.5)
        await history.handle(DEFAULT.jobs, [done, stale])
        await history.handle(DEFAULT.jobs, [entry("2-0", JobStatus.RUNNING, attempt=1), done])
        async with db() as s:
            row = await s.get(JobRow, "j" * 32)
            assert row is not None
            assert (row.status, row.attempts, row.last_event) == ("completed", 1, "3-0")
            assert row.progress == pytest.approx(1.0)
            assert row.result == '{"echo":1}'
            assert row.finished_at is not None
    finally:
        await engine.dispose()


async def test_two_workers_making_the_same_missing_rows_at_once_both_succeed(
    any_db_url: str,
) -> None:
    import asyncio

    engines = [create_engine(DatabaseSettings(url=any_db_url)) for _ in range(2)]
    a, b = (History(sessionmaker(e), cast(JobQueue, None)) for e in engines)
    jobs = [f"{n:032x}" for n in range(40)]
    try:
        for round_ in range(5):
            batch = jobs[round_ * 8 : round_ * 8 + 8]
            await asyncio.gather(  # each worker got some of the same jobs' entries
                a.handle(
                    DEFAULT.jobs,
                    [entry(f"{i}-1", JobStatus.QUEUED, j) for i, j in enumerate(batch, 1)],
                ),
                b.handle(
                    DEFAULT.jobs,
                    [
                        entry(f"{i}-2", JobStatus.RUNNING, j, attempt=1)
                        for i, j in enumerate(batch, 1)
                    ],
                ),
            )
        async with sessionmaker(engines[0])() as s:
            rows = [await s.get(JobRow, j) for j in jobs]
        assert [(r.status, r.attempts) for r in rows if r is not None] == [("running", 1)] * 40
    finally:
        for e in engines:
            await e.dispose()


async def test_a_worker_whose_history_group_fails_on_a_bug_exits_instead_of_running_without_it(
    redis_private: Any, sqlite_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from redis.asyncio import Redis

    from tests.support.web import web_settings
    from tests.web.jobs_support import fast_jobs
    from web.worker import main

    async def broken(self: History, stream: str, entries: Any) -> None:
        raise RuntimeError("a bug in the history")

    monkeypatch.setattr(History, "handle", broken)
    settings = web_settings(
        redis_private.url, sqlite_url, jobs=fast_jobs(), media={"url": str(tmp_path / "media")}
    )
    redis = Redis.from_url(redis_private.url)
    try:
        await redis.xadd(DEFAULT.jobs, {"job": "x"})  # something for the history group to read
        never = asyncio.get_running_loop().create_future()
        with pytest.raises(main.WorkerFailed, match="a bug in the history"):
            await asyncio.wait_for(main.serve(settings, never), timeout=60)
    finally:
        await redis.aclose()
