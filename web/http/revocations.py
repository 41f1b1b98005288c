"""Logged-out tokens: a revocation list in Redis (``rd:revoked``), held by every web process.

A logout adds the token's id (``token_id``: its hash, never the token) with the
token's expiry as the score; an entry is dropped once its token would have
expired anyway, so the list holds at most ``web.token_ttl_s`` of logouts. Every
process reads the list every ``web.auth_cache_s`` (at least every 0.25 s) and
refuses those tokens from memory, so a request costs no Redis call, and it ends
the feeds opened with a token that newly appears there (4001). The process that
took the logout applies it at once. Redis away: the list it holds stays in force
(the outage is logged once), and a logout answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Final, cast

import structlog
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from robodine.backoff import Backoff
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import as_str
from robodine.supervisor import Supervisor
from web.keys import FEEDS, REDIS, REVOKED, SETTINGS

log = structlog.get_logger("web.auth")

MIN_REFRESH_S: Final = 0.25


class Revocations:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._ids: dict[str, float] = {}  # token id -> its expiry

    def __contains__(self, token_id: object) -> bool:
        return token_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    async def revoke(self, redis: Redis, token_id: str, expires: float) -> None:
        """End one token for every process (in Redis first: a failure leaves nothing)."""
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zadd(KEYS.revoked, {token_id: expires})
            pipe.zremrangebyscore(KEYS.revoked, "-inf", self.clock())
            await pipe.execute()
        self._ids[token_id] = expires

    async def refresh(self, redis: Redis) -> list[str]:
        """Read the list; the ids it holds that this process did not know yet."""
        now = self.clock()
        rows = cast(
            list[tuple[str, float]],
            await redis.zrangebyscore(KEYS.revoked, now, "+inf", withscores=True),
        )
        found = {as_str(tid): float(exp) for tid, exp in rows}
        added = [tid for tid in found if tid not in self._ids]
        # Merged, never replaced: a logout taken here while this read was in flight, or a
        # list lost with Redis's data, stays in force until its token expires.
        kept = {tid: exp for tid, exp in self._ids.items() if exp > now}
        self._ids = {**kept, **found}
        return added


async def revocations_ctx(app: web.Application) -> AsyncIterator[None]:
    """Read the list every ``web.auth_cache_s`` for as long as the application runs."""
    revoked = app[REVOKED]
    interval = max(MIN_REFRESH_S, app[SETTINGS].web.auth_cache_s)
    supervisor = Supervisor(
        log,
        lost="revocations_unavailable",
        recovered="revocations_recovered",
        backoff=Backoff(MIN_REFRESH_S, 5.0),
        policy="the logouts already read stay in force",
    )

    async def step() -> None:
        for token_id in await revoked.refresh(app[REDIS]):
            app[FEEDS].end_token(token_id, "logged out")
        supervisor.ok()
        await asyncio.sleep(interval)

    task = asyncio.create_task(
        supervisor.run(step, errors=(RedisError, OSError)), name="revocations"
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
