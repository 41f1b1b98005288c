"""A consumer group on one or more streams: at-least-once handling that survives crashes.

Each process is one consumer; each stream is read by a ``GroupReader`` (its own
pending entries first, then entries a dead consumer left idle, then new ones),
kept going by a ``Supervisor`` (Redis or SQL away: logged once, retried with
backoff, nothing skipped). An entry is acknowledged only after ``handle``
returned, so a crash in between hands it out again: ``handle`` must be
idempotent.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from config import Settings
from robodine.backoff import Backoff
from robodine.redisio.group import GroupReader, RawEntry
from robodine.supervisor import Supervisor

log = structlog.get_logger("web.consumer")

# A consumer of another run of a web process (its name ends in another pid), with nothing
# pending and idle this long, is removed from the group when a consumer starts.
FORGET_IDLE_MS = 3_600_000


def consumer_name(settings: Settings) -> str:
    """This process's consumer name in the web tier's groups: ``{web.name}:{host}:{pid}``,
    unique per process, so several web processes (even with one ``web.name``) never read
    as one consumer. A restarted process has a new name: what its predecessor had read and
    not acknowledged is taken over by XAUTOCLAIM once idle (docs/streams.md)."""
    return f"{settings.web.name}:{socket.gethostname()}:{os.getpid()}"


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

    def _running(self) -> bool:
        return not self._stopping

    async def run(self) -> None:
        """One reader per stream, each on its own connection (a blocking read each)."""
        await asyncio.gather(*(self._run_stream(stream) for stream in self.streams))

    async def _run_stream(self, stream: str) -> None:
        redis = self.connect()
        reader = GroupReader(
            redis,
            stream,
            self.group,
            self.consumer,
            count=self.batch,
            claim_idle_ms=self.claim_idle_ms,
            block_ms=self.block_ms,
            running=self._running,
            start_id=self.start_id,
        )
        supervisor = Supervisor(
            log,
            lost="consumer_unavailable",
            recovered="consumer_recovered",
            backoff=Backoff(0.05, 2.0),
            context={"group": self.group, "stream": stream},
        )
        try:
            await supervisor.run(
                lambda: self._read(redis, reader, supervisor),
                errors=(RedisError, SQLAlchemyError, OSError),
                running=self._running,
            )
        finally:
            await redis.aclose()

    async def _read(self, redis: Redis, reader: GroupReader, supervisor: Supervisor) -> None:
        async def handle(entries: list[RawEntry]) -> None:
            await self._handle(redis, reader.stream, entries)

        try:
            if await reader.ensure_group():
                log.info("consumer_group_created", stream=reader.stream, group=self.group)
            await reader.recover(handle)  # ours from before a crash, then a dead one's
            for name in await reader.forget_idle(FORGET_IDLE_MS):
                log.info("consumer_forgotten", stream=reader.stream, group=self.group, name=name)
            supervisor.ok()
            last_claim = time.monotonic()
            while not self._stopping:
                await self._handle(redis, reader.stream, await reader.read_new())
                if time.monotonic() - last_claim > self.claim_every_s:
                    await reader.claim(handle)
                    last_claim = time.monotonic()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("consumer_group_lost", group=self.group, stream=reader.stream)

    async def _handle(self, redis: Redis, stream: str, entries: list[RawEntry]) -> None:
        live = [(sid, fields) for sid, fields in entries if fields]  # trimmed: nothing to do
        if live:
            await self.handle(stream, live)
        if entries:
            await redis.xack(stream, self.group, *[sid for sid, _ in entries])
            self.handled += len(live)
