"""One consumer of a Redis consumer group, read in the order that loses nothing.

1. ``ensure_group``: the group is created from id 0 (entries written before the
   first consumer ever started are read too; ``start_id`` "$" for only new ones),
   or found (BUSYGROUP).
2. ``pending``: this consumer's own pending entries, from 0: what it read
   before a crash and never acknowledged. An entry trimmed away meanwhile
   comes back with no fields; the handler decides what that means.
3. ``claim``: entries other consumers left idle for ``claim_idle_ms`` (a dead
   process), by XAUTOCLAIM.
4. ``read_new``: entries no consumer has had (``>``), waiting up to ``block_ms``.

``forget_idle`` removes consumers with nothing pending that have not read for a long
time: processes named per run (the web tier's ``{web.name}:{host}:{pid}``) leave one
behind at each restart. Nothing pending means nothing is lost; a live consumer removed
by mistake comes back at its next read.

The handler of each batch is the caller's, and so is acknowledging (XACK):
each caller acknowledges an entry only once its effect is durable. Ids and
fields come as the client returns them (bytes, or str when it decodes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from robodine.redisio.replies import as_str

__all__ = ["GroupReader", "RawEntry"]

RawEntry = tuple[Any, dict[Any, Any]]  # (id, fields) as the client returns them
Handler = Callable[[list[RawEntry]], Awaitable[object]]


def _forever() -> bool:
    return True


class GroupReader:
    def __init__(
        self,
        redis: Redis,
        stream: str,
        group: str,
        consumer: str,
        *,
        count: int,
        claim_idle_ms: int,
        block_ms: int,
        running: Callable[[], bool] = _forever,
        start_id: str = "0",
    ) -> None:
        """``running``: checked between pages of ``pending`` and ``claim``, so a stop
        does not wait for a long backlog. ``start_id``: where a new group starts ("0":
        everything already in the stream; "$": only what comes after)."""
        self.redis = redis
        self.stream, self.group, self.consumer = stream, group, consumer
        self.count = count
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.running = running
        self.start_id = start_id

    async def ensure_group(self) -> bool:
        """Create the group (at ``start_id``, with the stream) unless it exists; True if
        created."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        return True

    async def recover(self, handle: Handler) -> None:
        """``pending``, then ``claim``: what this consumer or a dead one left unfinished."""
        await self.pending(handle)
        await self.claim(handle)

    async def pending(self, handle: Handler) -> None:
        start: Any = "0"
        while self.running():
            reply: Any = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: start}, count=self.count
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return
            await handle(entries)
            start = entries[-1][0]

    async def claim(self, handle: Handler) -> None:
        cursor: Any = "0-0"
        while self.running():
            reply: Any = await self.redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                self.claim_idle_ms,
                start_id=cursor,
                count=self.count,
            )
            cursor, claimed = reply[0], reply[1]
            if claimed:
                await handle(claimed)
            if as_str(cursor) == "0-0":
                return

    async def forget_idle(self, idle_ms: int) -> list[str]:
        """Delete the group's other consumers with no pending entry, idle over ``idle_ms``
        (XGROUP DELCONSUMER); returns their names."""
        gone = []
        for c in await self.redis.xinfo_consumers(self.stream, self.group):
            name = as_str(c["name"])
            if name != self.consumer and int(c["pending"]) == 0 and int(c["idle"]) > idle_ms:
                await self.redis.xgroup_delconsumer(self.stream, self.group, name)
                gone.append(name)
        return gone

    async def read_new(self) -> list[RawEntry]:
        reply: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self.count, block=self.block_ms
        )
        return reply[0][1] if reply else []
