"""Collect the status document: every section side by side, each within a deadline.

A section that raises or overruns is reported as ``degraded`` with what went wrong,
so one hung check (a broker that accepts and never answers) cannot hide the others.
Reads several sections need (Redis INFO, the streams) are made once per document.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from config import Settings
from robodine import __version__
from robodine.redisio.client import connect
from web.status.document import SECTIONS, Section, StatusOut, overall

SECTION_TIMEOUT_S = 5.0


@dataclass
class Probe:
    """What the sections read through; made by ``probing``."""

    settings: Settings
    redis: Redis  # decoded replies, fail-fast (robodine.redisio.client)
    http: aiohttp.ClientSession
    engine: AsyncEngine
    web_here: str | None = None  # set when a web process answers GET /api/status itself
    now: float = field(default_factory=time.time)
    _memo: dict[str, asyncio.Task[Any]] = field(default_factory=dict)

    def once(self, key: str, read: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        """``read()`` run once per document, whichever sections await it."""
        task = self._memo.get(key)
        if task is None:
            task = self._memo[key] = asyncio.ensure_future(read())
        return asyncio.shield(task)


@contextlib.asynccontextmanager
async def probing(
    settings: Settings,
    *,
    redis: Redis | None = None,
    engine: AsyncEngine | None = None,
    web_here: str | None = None,
) -> AsyncIterator[Probe]:
    """A Probe with the clients given (the web tier's own) or made and closed here."""
    from web.db.session import create_engine

    async with contextlib.AsyncExitStack() as stack:
        if redis is None:
            redis = connect(settings.redis, name="robodine-status", decode=True)
            stack.push_async_callback(redis.aclose)
        if engine is None:
            engine = create_engine(settings.database)
            stack.push_async_callback(engine.dispose)
        timeout = aiohttp.ClientTimeout(total=SECTION_TIMEOUT_S - 1)
        http = await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
        probe = Probe(settings, redis, http, engine, web_here)
        try:
            yield probe
        finally:
            for task in probe._memo.values():
                task.cancel()


async def collect(probe: Probe, names: list[str] | None = None) -> StatusOut:
    """The document: every section of SECTIONS (or those ``names``), side by side."""
    chosen = [(n, fn) for n, fn in SECTIONS if names is None or n in names]
    results = await asyncio.gather(*(_run(fn, probe) for _, fn in chosen))
    sections = {name: result for (name, _), result in zip(chosen, results, strict=True)}
    return StatusOut(
        status=overall(sections),
        checked_at=datetime.fromtimestamp(probe.now, UTC).isoformat().replace("+00:00", "Z"),
        version=__version__,
        sections=sections,
    )


async def _run(fn: Callable[[Probe], Awaitable[Section]], probe: Probe) -> Section:
    try:
        async with asyncio.timeout(SECTION_TIMEOUT_S):
            return await fn(probe)
    except TimeoutError:
        return Section(
            state="degraded",
            summary="no answer",
            problems=[f"the check did not finish within {SECTION_TIMEOUT_S:g} s"],
        )
    except (RedisError, OSError):  # the redis section says so, once
        return Section(state="degraded", summary="unknown: Redis does not answer")
    except Exception as exc:  # a check's failure is part of the answer, whatever its kind
        return Section(
            state="degraded",
            summary="could not check",
            problems=[f"{type(exc).__name__}: {exc}"[:300]],
        )
