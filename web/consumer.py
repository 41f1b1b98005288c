"""A consumer group on one or more streams: at-least-once handling that survives crashes.

Each process is one consumer. At start it handles what it had read but not
acknowledged (its own pending entries); every ``claim_every_s`` it takes over
entries another consumer has held longer than ``claim_idle_ms`` (that
process died). An entry is acknowledged only after ``handle`` returned, so a
crash in between hands it out again: ``handle`` must be idempotent. Redis or
SQL away: logged once, retried with backoff, nothing skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger("web.consumer")

Entry = tuple[str, dict[str, str]]
Handle = Callable[[str, Sequence[Entry]], Awaitable[None]]


class GroupConsumer:
    def __init__(
        self,
        connect: Callable[[], Redis],
        streams: Sequence[str],
        group: str,
        consumer: str,
        handle: Handle,
        *,
        block_ms: int = 1000,
        batch: int = 100,
        claim_idle_ms: int = 30_000,
        claim_every_s: float = 10.0,
        start_id: str = "$",
    ) -> None:
        self.connect = connect  # a client of its own (str replies, socket timeout > block)
        self.streams = list(streams)
        self.group = group
        self.consumer = consumer
        self.handle = handle
        self.block_ms = block_ms
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.claim_every_s = claim_every_s
        self.start_id = start_id  # where a new group starts: "$" (from now) or "0"
        self.handled = 0
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        redis = self.connect()
        down, delay = False, 0.0
        try:
            while not self._stopping:
                try:
                    await self._groups(redis)
                    for stream in self.streams:
                        await self._drain(redis, stream, "0")  # ours from before a crash
                    if down:
                        log.info("consumer_recovered", group=self.group)
                        down, delay = False, 0.0
                    last_claim = 0.0
                    while not self._stopping:
                        if time.monotonic() - last_claim > self.claim_every_s:
                            await self._claim(redis)
                            last_claim = time.monotonic()
                        reply: Any = await redis.xreadgroup(
                            self.group,
                            self.consumer,
                            dict.fromkeys(self.streams, ">"),
                            count=self.batch,
                            block=self.block_ms,
                        )
                        for stream, entries in reply or []:
                            await self._handle(redis, stream, entries)
                except (RedisError, SQLAlchemyError, OSError) as exc:
                    if not down:
                        log.warning(
                            "consumer_unavailable",
                            group=self.group,
                            error=str(exc) or type(exc).__name__,
                        )
                        down = True
                    if not self._stopping:
                        delay = min(2.0, max(0.05, delay * 2))
                        await asyncio.sleep(delay)
        finally:
            await redis.aclose()

    async def _groups(self, redis: Redis) -> None:
        for stream in self.streams:
            try:
                await redis.xgroup_create(stream, self.group, id=self.start_id, mkstream=True)
                log.info("consumer_group_created", stream=stream, group=self.group)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _drain(self, redis: Redis, stream: str, start: str) -> None:
        while not self._stopping:
            reply: Any = await redis.xreadgroup(
                self.group, self.consumer, {stream: start}, count=self.batch
            )
            entries = [e for e in (reply[0][1] if reply else []) if e[1] is not None]
            if not entries:
                return
            await self._handle(redis, stream, entries)
            start = entries[-1][0]

    async def _claim(self, redis: Redis) -> None:
        for stream in self.streams:
            cursor = "0-0"
            while not self._stopping:
                reply: Any = await redis.xautoclaim(
                    stream,
                    self.group,
                    self.consumer,
                    self.claim_idle_ms,
                    cursor,
                    count=self.batch,
                )
                cursor, entries = reply[0], [e for e in reply[1] if e[1]]
                if entries:
                    log.info(
                        "consumer_claimed", group=self.group, stream=stream, count=len(entries)
                    )
                    await self._handle(redis, stream, entries)
                if cursor in ("0-0", b"0-0"):
                    break

    async def _handle(self, redis: Redis, stream: str, entries: Sequence[Entry]) -> None:
        await self.handle(stream, entries)
        await redis.xack(stream, self.group, *[sid for sid, _ in entries])
        self.handled += len(entries)
