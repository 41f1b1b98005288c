"""jobs: jobs/s through the queue (SAQ on Redis) with 1 and 4 worker processes, and upload
MB/s into the media store against a plain file copy on the same disk.

Jobs: ``bench_echo`` jobs (a no-op kind, bench/jobs_worker.py) are queued in one burst by
the harness through the same JobQueue the web tier uses, once every worker process has
registered with the queue (start-up is not timed: it is seconds on a busy machine, longer
than a burst). The figure is jobs completed per second from the first enqueue to the last
completion, as read on rd:jobs; beside it, jobs per second until the workers' SQL history
has applied every entry of them. Each worker process runs ``jobs.concurrency`` = 8 jobs at
once; the first worker stays for the 4-worker step.

Uploads: one file POSTed to /api/uploads, streamed (SHA-256 and fsync included) by a
`robodine web` process, from a client that sends the file with sendfile (it costs the
two cores next to nothing, as a browser elsewhere would). The headline is the raw body
(the file as the request body, what scripts and integrations send); the same file as
multipart/form-data, and as multipart from aiohttp's client (which costs ~1 ms of CPU per
MB here), are reported beside it, each with the web process's CPU per MB. The
ceiling is copying the same file to the same disk with shutil.copyfile plus an fsync,
which is the least the store must do. The source is written and fsynced first, so both
read it from the page cache with nothing of it still to write; copies and uploads
alternate, ``ROUNDS`` each, the order rotated so that each kind follows each other kind
(what one leaves the disk to do costs the next), and the medians are compared. Every
upload is of new content (the source's first bytes rewritten) and its blob is removed
after it, as the copy's file is: both sides write a new file each time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import availability, webtier
from bench.harness import Context, Result
from bench.procs import child_env, cpu_seconds
from config import load_settings

NAME = "jobs"
MEASURES = "jobs/s with 1 and 4 worker processes; upload MB/s vs a plain file copy"
CEILING = "shutil.copyfile + fsync of the same file on the same disk"
GOAL = "upload >= 0.5 of the plain copy"
CONCURRENCY = 8
ROUNDS = 4  # uploads and copies, alternated: each kind once in each place of the order

SUBMITTERS = 50  # jobs submitted at once

BOUNDED_BY = """\
Jobs: CPU (SAQ ~25 Redis calls and ~1-1.3 ms of worker CPU per job; the SQL history, a
transaction per batch, keeps up); on two cores 4 workers do about as much as 1. Uploads:
the web process's CPU per MB (docs/performance.md): receiving the body on the event loop,
SHA-256 and the write in two threads beside it (multipart adds its boundary search). The
copy is kernel copying plus the disk (page cache, then the fsync): load slows the upload,
the VM's disk the copy.
"""


def unavailable() -> str | None:
    return availability.web()


def run(ctx: Context) -> Result:
    _, url = ctx.redis()
    ports = ctx.config(
        1,
        url,
        {
            "media": {"url": str(ctx.workdir / "media")},
            "uploads": {"max_bytes": 4 * 1024**3},
            "jobs": {"concurrency": CONCURRENCY, "heartbeat_s": 10, "sweep_s": 5},
        },
    )
    web = ctx.web(ports)  # migrates the database the workers need
    settings = load_settings(str(ports.path))
    jobs = ctx.pick(1000, 5000)
    rates: dict[str, Any] = {}
    history: dict[str, Any] = {}
    workers: list[Any] = []
    for n in (1, 4):  # the first worker stays for the second step: one start-up fewer
        t0 = time.perf_counter()
        workers += [
            ctx.service(
                f"worker-{i}",
                [*_python(), "-m", "bench.jobs_worker", "--config", str(ports.path)],
                env=child_env(),
                cwd=ctx.workdir,
            )
            for i in range(len(workers), n)
        ]
        asyncio.run(_wait_workers(settings, workers))
        up_s = time.perf_counter() - t0
        rate, sql_rate = asyncio.run(_jobs_per_s(settings, jobs))
        ctx.log(
            f"{n} worker process(es) x {CONCURRENCY}: {rate:,.0f} jobs/s ({jobs} jobs; "
            f"SQL history level at {sql_rate:,.0f} jobs/s; workers up after {up_s:.1f} s)"
        )
        rates[str(n)] = round(rate, 1)
        history[str(n)] = round(sql_rate, 1)
    for w in workers:
        w.stop()
    size_mb = ctx.pick(64, 512)
    src = ctx.workdir / "upload.bin"
    with src.open("wb") as f:
        for _ in range(size_mb):
            f.write(os.urandom(1024 * 1024))
        f.flush()
        os.fsync(f.fileno())  # on disk and in the page cache: the same start for every round
    token = webtier.login(ports.web)
    media = ctx.workdir / "media"
    size = size_mb * 1024 * 1024
    web_pid = web.pid
    runs: dict[str, list[float]] = {"copy": [], "upload": [], "multipart": [], "aiohttp": []}
    cpu: dict[str, list[float]] = {"copy": [], "upload": [], "multipart": []}
    kinds = list(runs)
    for r in range(ROUNDS):  # interleaved, each kind in each place of the order once
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            if kind == "copy":
                c0 = os.times()
                runs["copy"].append(size_mb / _copy_seconds(src, ctx.workdir / "copy.bin"))
                c1 = os.times()
                cpu["copy"].append((c1.user - c0.user + c1.system - c0.system) * 1000 / size_mb)
                continue
            _new_content(src)
            w0 = cpu_seconds(web_pid)
            if kind == "aiohttp":
                took = asyncio.run(_upload_seconds(ports.web, token, src))
            else:
                took = asyncio.run(
                    _sendfile_upload_seconds(ports.web, token, src, size, raw=kind == "upload")
                )
            runs[kind].append(size_mb / took)
            if kind in cpu:
                cpu[kind].append((cpu_seconds(web_pid) - w0) * 1000 / size_mb)
            _drop_blobs(media)
    copy_mbs, up_mbs, mp_mbs, aio_mbs = (
        statistics.median(runs[k]) for k in ("copy", "upload", "multipart", "aiohttp")
    )
    ratio = up_mbs / copy_mbs
    web_ms, mp_ms, copy_ms = min(cpu["upload"]), min(cpu["multipart"]), min(cpu["copy"])
    ctx.log(
        f"upload (raw body) {up_mbs:,.0f} MB/s, multipart {mp_mbs:,.0f} (aiohttp client "
        f"{aio_mbs:,.0f}), plain copy {copy_mbs:,.0f} MB/s: {ratio:.2f}, multipart "
        f"{mp_mbs / copy_mbs:.2f} (medians of {ROUNDS}); CPU per MB: web {web_ms:.2f} ms raw, "
        f"{mp_ms:.2f} ms multipart, copy {copy_ms:.2f} ms"
    )
    return Result(
        NAME,
        "ok",
        MEASURES,
        GOAL,
        project=round(up_mbs, 1),
        unit="MB/s",
        ceiling=round(copy_mbs, 1),
        ceiling_label=CEILING,
        ratio=round(ratio, 3),
        met=ratio >= 0.5,
        figures={
            "jobs_per_s_by_workers": rates,
            "history_jobs_per_s_by_workers": history,
            "jobs": jobs,
            "concurrency": CONCURRENCY,
            "upload_mb": size_mb,
            "upload_mb_s": round(up_mbs, 1),
            "upload_mb_s_multipart": round(mp_mbs, 1),
            "upload_ratio_multipart": round(mp_mbs / copy_mbs, 3),
            "upload_mb_s_aiohttp_client": round(aio_mbs, 1),
            "copy_mb_s": round(copy_mbs, 1),
            "rounds_mb_s": {k: [round(x) for x in v] for k, v in runs.items()},
            "web_cpu_ms_per_mb": round(web_ms, 2),
            "web_cpu_ms_per_mb_multipart": round(mp_ms, 2),
            "copy_cpu_ms_per_mb": round(copy_ms, 2),
        },
        bound=f"uploads: the web process's CPU, {web_ms:.2f} ms per MB raw, {mp_ms:.2f} "
        f"multipart (the copy's: {copy_ms:.2f}, the rest of it is the disk); jobs: see "
        "BOUNDED_BY",
    )


def _python() -> list[str]:
    import sys

    return [sys.executable]


def _new_content(src: Path) -> None:
    """Make the next upload a file the store has not seen: its first bytes rewritten in
    the page cache. The same bytes again would be the store's duplicate path (hashed,
    then dropped without an fsync), not the write of a new file the copy is."""
    with src.open("r+b") as f:
        f.write(os.urandom(16))


def _drop_blobs(media: Path) -> None:
    """The stored blobs removed between uploads (untimed), as the copy's file is: every
    upload and every copy writes a new file into the same free space."""
    shutil.rmtree(media / "sha256", ignore_errors=True)


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


async def _sendfile_upload_seconds(
    port: int, token: str, src: Path, size: int, *, raw: bool
) -> float:
    """The same upload from a client that costs the box next to nothing: the file as the
    raw body, or the multipart framing written by hand around it, which the kernel sends
    (os.sendfile) from the page cache, as a browser on another machine would cost this
    one nothing."""
    if raw:
        head = tail = b""
        target, ctype = f"/api/uploads?filename={src.name}", "application/zip"
    else:
        boundary = secrets.token_hex(16)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{src.name}"\r\nContent-Type: application/zip\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        target, ctype = "/api/uploads", f"multipart/form-data; boundary={boundary}"
    length = len(head) + size + len(tail)
    request = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n"
        f"Content-Type: {ctype}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request + head)
        await writer.drain()
        with src.open("rb") as f:
            await asyncio.get_running_loop().sendfile(writer.transport, f)
        writer.write(tail)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    took = time.perf_counter() - t0
    status = answer.split(b" ", 2)[1:2]
    if status != [b"201"]:
        raise RuntimeError(f"upload: {answer[:300]!r}")
    return took


async def _upload_seconds(port: int, token: str, src: Path) -> float:
    async def chunks() -> Any:
        with src.open("rb") as f:
            while block := await asyncio.to_thread(f.read, 1024 * 1024):
                yield block

    form = aiohttp.FormData()
    form.add_field("file", chunks(), content_type="application/zip", filename=src.name)
    t0 = time.perf_counter()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/api/uploads",
            data=form,
            headers={"Authorization": f"Bearer {token}"},
        ) as r,
    ):
        if r.status != 201:
            raise RuntimeError(f"upload: {r.status} {(await r.text())[:300]}")
    return time.perf_counter() - t0


async def _wait_workers(settings: Any, workers: list[Any], timeout_s: float = 120.0) -> None:
    """Until every worker process's SAQ worker has registered with the queue (it does so
    as it starts taking jobs; its consumer groups start in the same step): a figure
    that timed the processes' start-up (seconds on a busy machine) measured no queue."""
    from web.jobs.queue import JobQueue

    want = {f"{settings.jobs.name}-{w.pid}" for w in workers}
    queue = JobQueue.open(settings, name="bench-jobs-ready")
    deadline = time.monotonic() + timeout_s
    try:
        while not want <= set((await queue.jobs.info())["workers"]):
            for w in workers:
                if not w.alive():
                    raise RuntimeError(f"{w.name} exited: {w.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not up after {timeout_s:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await queue.close()


async def _history_level(queue: Any) -> bool:
    """The SQL history group has read and acknowledged everything on rd:jobs."""
    from robodine.redisio.keys import KEYS
    from web.jobs.history import GROUP

    last = (await queue.redis.xinfo_stream(KEYS.jobs))["last-generated-id"]
    for g in await queue.redis.xinfo_groups(KEYS.jobs):
        if g["name"] == GROUP.encode():
            return bool(g["last-delivered-id"] == last and not g["pending"])
    return False


async def _jobs_per_s(settings: Any, n: int) -> tuple[float, float]:
    """Jobs/s from the first enqueue to the last completion on rd:jobs, and to the moment
    the workers' SQL history has applied every entry of them."""
    from bench.jobs_worker import KIND
    from robodine.redisio.keys import KEYS
    from web.jobs.queue import JobQueue

    logging.getLogger("saq").setLevel(logging.WARNING)  # an INFO line per enqueue otherwise
    queue = JobQueue.open(settings, name="bench-jobs")
    try:
        start_id = (
            (await queue.redis.xinfo_stream(KEYS.jobs))["last-generated-id"]
            if await queue.redis.exists(KEYS.jobs)
            else b"0-0"
        )
        ids = {JobQueue.new_id() for _ in range(n)}
        # As web requests would: many at once, within the client's pool (redis-py keeps 100)
        slots = asyncio.Semaphore(SUBMITTERS)

        async def submit(job_id: str) -> None:
            async with slots:
                await queue.submit(job_id, KIND, {"n": 1}, timeout_s=60)

        t0 = time.perf_counter()
        await asyncio.gather(*(submit(i) for i in ids))
        done: set[str] = set()
        cursor = start_id
        deadline = time.monotonic() + 300
        while len(done) < n and time.monotonic() < deadline:
            reply: Any = await queue.redis.xread({KEYS.jobs: cursor}, count=1000, block=1000)
            for _, entries in reply or []:
                for sid, fields in entries:
                    cursor = sid
                    if fields.get(b"status") == b"completed":
                        done.add(fields[b"job"].decode())
        took = time.perf_counter() - t0
        if len(done) < n:
            raise RuntimeError(f"only {len(done)} of {n} jobs completed in time")
        while not await _history_level(queue):
            if time.monotonic() > deadline:
                raise RuntimeError("the jobs' SQL history did not catch up in time")
            await asyncio.sleep(0.05)
        sql_took = time.perf_counter() - t0
    finally:
        await queue.close()
    return n / took, n / sql_took
