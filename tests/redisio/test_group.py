"""One consumer of a consumer group against a real redis-server: the order that loses nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from config.settings import RedisSettings
from robodine.redisio.client import connect
from robodine.redisio.group import GroupReader, RawEntry
from robodine.redisio.replies import as_str
from tests.servers import RedisServer

pytestmark = pytest.mark.integration

STREAM, GROUP = "t:jobs", "workers"


class Seen:
    def __init__(self) -> None:
        self.batches: list[list[tuple[str, dict[str, str]]]] = []

    async def __call__(self, entries: list[RawEntry]) -> None:
        self.batches.append(
            [(as_str(i), {as_str(k): as_str(v) for k, v in (f or {}).items()}) for i, f in entries]
        )

    @property
    def ids(self) -> list[str]:
        return [i for batch in self.batches for i, _ in batch]


@pytest.mark.parametrize("decode", [False, True])
async def test_own_pending_then_dead_consumers_then_new(
    redis_private: RedisServer, decode: bool
) -> None:
    settings = RedisSettings(url=redis_private.url)
    redis = connect(settings, name="t:group", decode=decode, block_ms=100)

    def reader(consumer: str, **kw: Any) -> GroupReader:
        return GroupReader(
            redis, STREAM, GROUP, consumer, count=2, claim_idle_ms=50, block_ms=100, **kw
        )

    before = [as_str(await redis.xadd(STREAM, {"n": i})) for i in range(3)]  # before any group
    me, dead = reader("me"), reader("dead")
    assert await me.ensure_group() is True
    assert await dead.ensure_group() is False  # BUSYGROUP: the group is there

    mine = await me.read_new()  # read, never acknowledged: a crash
    assert [as_str(i) for i, _ in mine] == before[:2]  # count=2; from 0, nothing skipped
    theirs = await dead.read_new()
    assert [as_str(i) for i, _ in theirs] == before[2:]
    later = [as_str(await redis.xadd(STREAM, {"n": i})) for i in range(3, 6)]
    await asyncio.sleep(0.1)  # past claim_idle_ms: "dead" is taken to be dead

    seen = Seen()
    restarted = reader("me")
    await restarted.pending(seen)
    assert seen.ids == before[:2]
    await restarted.claim(seen)
    assert seen.ids == before
    assert [as_str(i) for i, _ in await restarted.read_new()] == later[:2]
    assert [b for b in seen.batches if len(b) > 2] == []  # pages of `count`

    # An entry trimmed away while pending comes back from the PEL with no fields.
    await redis.xdel(STREAM, before[0])
    seen = Seen()
    await reader("me").pending(seen)
    assert seen.batches[0][0] == (before[0], {})
    assert seen.batches[0][1] == (before[1], {"n": "1"})

    stopped = reader("me", running=lambda: False)
    nothing = Seen()
    await stopped.recover(nothing)
    assert nothing.batches == []  # a stop flag ends the backlog between pages
    await redis.aclose()
