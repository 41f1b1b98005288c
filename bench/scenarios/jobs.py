"""jobs: jobs/s through the queue (SAQ on Redis) with 1 and 4 worker processes, and upload
MB/s into the media store against a plain file copy on the same disk.

Jobs: ``bench_echo`` jobs (a no-op kind, bench/jobs_worker.py) are queued in one burst by
the harness through the same JobQueue the web tier uses; the figure is jobs completed per
second from the first enqueue to the last completion, as read on rd:jobs (every state
change of every job is on it, and the worker's history group writes each to SQL too). Each
worker process runs ``jobs.concurrency`` = 8 jobs at once.

Uploads: one file POSTed to /api/uploads as multipart, streamed (SHA-256 and fsync
included) by a `robodine web` process; the ceiling is copying the same file to the same
disk with shutil.copyfile plus an fsync, which is the least the store must do.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import availability, webtier
from bench.harness import Context, Result
from bench.procs import child_env
from config import load_settings

NAME = "jobs"
MEASURES = "jobs/s with 1 and 4 worker processes; upload MB/s vs a plain file copy"
CEILING = "shutil.copyfile + fsync of the same file on the same disk"
GOAL = "upload >= 0.5 of the plain copy"
CONCURRENCY = 8

BOUNDED_BY = """\
Jobs: SAQ's ~10 Redis round trips per job and one SQL transaction per rd:jobs entry in the
history group (several SQLite writers share one write lock). Uploads: hashing, writing in a
thread and fsync in the store, then multipart parsing and the client on the same two cores.
"""


def unavailable() -> str | None:
    return availability.web()


def run(ctx: Context) -> Result:
    _, url = ctx.redis()
    ports = ctx.config(1, url, {
        "media": {"url": str(ctx.workdir / "media")},
        "uploads": {"max_bytes": 4 * 1024**3},
        "jobs": {"concurrency": CONCURRENCY, "heartbeat_s": 10, "sweep_s": 5},
    })
    ctx.web(ports)  # migrates the database the workers need
    settings = load_settings(str(ports.path))
    jobs = ctx.pick(300, 3000)
    rates: dict[str, Any] = {}
    for n in (1, 4):
        workers = [ctx.service(f"worker{n}-{i}", [*_python(), "-m", "bench.jobs_worker",
                                                 "--config", str(ports.path)],
                               env=child_env(), cwd=ctx.workdir) for i in range(n)]
        time.sleep(ctx.pick(2.0, 4.0))  # consumers and SAQ workers up
        rate = asyncio.run(_jobs_per_s(settings, jobs))
        ctx.log(f"{n} worker process(es) x {CONCURRENCY}: {rate:,.0f} jobs/s ({jobs} jobs)")
        rates[str(n)] = round(rate, 1)
        for w in workers:
            w.stop()
    size_mb = ctx.pick(64, 512)
    src = ctx.workdir / "upload.bin"
    with src.open("wb") as f:
        for _ in range(size_mb):
            f.write(os.urandom(1024 * 1024))
    copy_s = _copy_seconds(src, ctx.workdir / "copy.bin")
    token = webtier.login(ports.web)
    up_s = asyncio.run(_upload_seconds(ports.web, token, src))
    copy_mbs, up_mbs = size_mb / copy_s, size_mb / up_s
    ratio = up_mbs / copy_mbs
    ctx.log(f"upload {up_mbs:,.0f} MB/s, plain copy {copy_mbs:,.0f} MB/s: {ratio:.2f}")
    return Result(
        NAME, "ok", MEASURES, GOAL, project=round(up_mbs, 1), unit="MB/s",
        ceiling=round(copy_mbs, 1), ceiling_label=CEILING, ratio=round(ratio, 3),
        met=ratio >= 0.5,
        figures={"jobs_per_s_by_workers": rates, "jobs": jobs, "concurrency": CONCURRENCY,
                 "upload_mb": size_mb, "upload_mb_s": round(up_mbs, 1),
                 "copy_mb_s": round(copy_mbs, 1)},
        bound="uploads: SHA-256 and the write in a worker thread per 1 MiB chunk, then fsync; "
              "jobs: Redis round trips per job (BOUNDED_BY)",
    )


def _python() -> list[str]:
    import sys

    return [sys.executable]


def _copy_seconds(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    took = time.perf_counter() - t0
    dst.unlink()
    return took


async def _upload_seconds(port: int, token: str, src: Path) -> float:
    async def chunks() -> Any:
        with src.open("rb") as f:
            while block := await asyncio.to_thread(f.read, 1024 * 1024):
                yield block

    form = aiohttp.FormData()
    form.add_field("file", chunks(), content_type="application/zip", filename=src.name)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{port}/api/uploads", data=form,
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        if r.status != 201:
            raise RuntimeError(f"upload: {r.status} {(await r.text())[:300]}")
    return time.perf_counter() - t0


async def _jobs_per_s(settings: Any, n: int) -> float:
    from bench.jobs_worker import KIND
    from web.jobs.queue import JobQueue
    from web.jobs.stream import JOBS_STREAM

    logging.getLogger("saq").setLevel(logging.WARNING)  # an INFO line per enqueue otherwise
    queue = JobQueue.open(settings, name="bench-jobs")
    try:
        start_id = (await queue.redis.xinfo_stream(JOBS_STREAM))["last-generated-id"] \
            if await queue.redis.exists(JOBS_STREAM) else b"0-0"
        ids = {JobQueue.new_id() for _ in range(n)}
        t0 = time.perf_counter()
        await asyncio.gather(*(queue.submit(i, KIND, {"n": 1}, timeout_s=60) for i in ids))
        done: set[str] = set()
        cursor = start_id
        deadline = time.monotonic() + 300
        while len(done) < n and time.monotonic() < deadline:
            reply: Any = await queue.redis.xread({JOBS_STREAM: cursor}, count=1000, block=1000)
            for _, entries in reply or []:
                for sid, fields in entries:
                    cursor = sid
                    if fields.get(b"status") == b"completed":
                        done.add(fields[b"job"].decode())
        took = time.perf_counter() - t0
    finally:
        await queue.close()
    if len(done) < n:
        raise RuntimeError(f"only {len(done)} of {n} jobs completed in time")
    return n / took
