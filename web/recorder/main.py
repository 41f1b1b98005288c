"""The recorder process: `robodine recorder` (docs/cameras.md).

One asyncio loop (uvloop) holds the recorder (web/recorder/recorder.py).
SIGTERM closes every open segment and publishes it before the process exits;
sd_notify READY/WATCHDOG/STOPPING as the other daemons. It needs the database
migrated by the web tier (or `robodine db upgrade`) and refuses to start before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

import structlog

from config import ConfigError, Settings
from config.loader import problem
from robodine.lifecycle import Notifier, run_until_signal
from robodine.media import open_store
from robodine.redisio.client import connect
from web.db.migrate import current_revision, head_revision
from web.db.session import create_engine, sessionmaker
from web.recorder.recorder import READ_BLOCK_MS, Recorder

log = structlog.get_logger("recorder")


class RecorderNotReady(RuntimeError):
    pass


async def serve(settings: Settings, stop: Awaitable[object]) -> None:
    if settings.recorder.format == "mp4":
        from web.recorder.mp4 import available

        if not available():
            raise ConfigError(
                [
                    problem(
                        "recorder.format",
                        "mp4 needs PyAV: pip install 'robodine[video]' (or use avi)",
                    )
                ]
            )
    engine = create_engine(settings.database)
    current, head = await current_revision(engine), head_revision()
    if current != head:
        await engine.dispose()
        raise RecorderNotReady(
            f"database is at revision {current}, the code needs {head}: "
            "start `robodine web` (it migrates) or run `robodine db upgrade`"
        )
    store = await open_store(settings.media)
    redis = connect(
        settings.redis, name=f"{settings.recorder.name}:recorder", block_ms=READ_BLOCK_MS
    )
    recorder = Recorder(settings, sessionmaker(engine), store, redis)
    task = asyncio.create_task(recorder.run(), name="recorder")
    notifier = Notifier()
    watchdog = asyncio.create_task(notifier.run_watchdog(lambda: not task.done()))
    log.info(
        "recorder_started",
        name=settings.recorder.name,
        store=store.name,
        format=settings.recorder.format,
        continuous=settings.recorder.continuous,
    )
    notifier.ready("recording")
    try:
        done, _ = await asyncio.wait(
            {task, asyncio.ensure_future(stop)}, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # a crash: raise it
    finally:
        notifier.stopping()
        for t in (task, watchdog):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        with contextlib.suppress(Exception):
            await asyncio.wait_for(recorder.close(), settings.gateway.shutdown_timeout_s)
        await redis.aclose()
        await store.close()
        await engine.dispose()
        log.info("recorder_stopped", published=recorder.published)


def run(settings: Settings) -> int:
    try:
        run_until_signal(lambda stop: serve(settings, stop))
    except RecorderNotReady as exc:
        log.error("recorder_not_ready", error=str(exc))
        return 1
    return 0
