"""MicroCache: one read at a time, answers never older than max_age, invalidation wins."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from web.http.microcache import MicroCache, etag_matches


class Source:
    """A load whose answers and timing the test controls."""

    def __init__(self) -> None:
        self.reads = 0
        self.value = b'{"n": 0}'
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def load(self) -> bytes:
        self.reads += 1
        value = self.value  # what the sources held when the read began
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return value


@pytest.fixture
def clock() -> list[float]:
    return [100.0]


def cache_of(src: Source, clock: list[float], max_age: float = 1.0) -> MicroCache:
    return MicroCache(src.load, max_age, clock=lambda: clock[0])


async def test_one_read_serves_everyone_until_max_age(clock: list[float]) -> None:
    src = Source()
    src.gate = asyncio.Event()
    cache = cache_of(src, clock)
    waiters = [asyncio.create_task(cache.get()) for _ in range(5)]
    await asyncio.sleep(0)
    src.gate.set()
    entries = await asyncio.gather(*waiters)
    assert src.reads == 1 and {e.body for e in entries} == {b'{"n": 0}'}
    src.gate = None
    src.value = b'{"n": 1}'
    clock[0] += 0.4
    assert (await cache.get()).body == b'{"n": 0}' and src.reads == 1
    clock[0] += 0.7  # 1.1 s after the read started: too old to answer with
    assert (await cache.get()).body == b'{"n": 1}' and src.reads == 2


async def test_past_half_its_age_the_next_read_starts_while_the_old_body_answers(
    clock: list[float],
) -> None:
    src = Source()
    cache = cache_of(src, clock)
    first = await cache.get()
    src.value = b'{"n": 1}'
    src.gate = asyncio.Event()
    clock[0] += 0.6
    assert cache.fresh() is first  # answered at once, a read started behind it
    await asyncio.sleep(0)
    assert src.reads == 2
    src.gate.set()
    await asyncio.sleep(0.01)
    fresh = cache.fresh()
    assert fresh is not None and fresh.body == b'{"n": 1}' and fresh.read_at == 100.6
    assert fresh.etag != first.etag


async def test_invalidate_drops_a_read_begun_before_it(clock: list[float]) -> None:
    src = Source()
    src.gate = asyncio.Event()
    cache = cache_of(src, clock)
    before = asyncio.create_task(cache.get())
    await asyncio.sleep(0)  # get() starts the read
    await asyncio.sleep(0)  # the read begins
    assert src.reads == 1
    cache.invalidate()  # e.g. a robot was added while the list was being read
    src.value = b'{"n": 1}'
    src.gate.set()
    assert (await before).body == b'{"n": 0}'  # its caller asked before the change
    assert (await cache.get()).body == b'{"n": 1}' and src.reads == 2


async def test_a_failed_read_reaches_its_waiters_and_the_next_request_reads_again(
    clock: list[float],
) -> None:
    src = Source()
    src.fail = ConnectionError("redis down")
    cache = cache_of(src, clock)
    with pytest.raises(ConnectionError):
        await cache.get()
    src.fail = None
    assert (await cache.get()).body == b'{"n": 0}' and src.reads == 2


async def test_the_gzip_form_is_made_once_and_decodes_to_the_body(clock: list[float]) -> None:
    src = Source()
    src.value = b'{"items": [' + b'{"id": "r"},' * 200 + b'{"id": "r"}]}'
    entry = await cache_of(src, clock).get()
    packed = entry.gzipped()
    assert entry.gzipped() is packed and gzip.decompress(packed) == src.value


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('W/"abc"', True),
        ('"abc"', True),  # weak comparison (RFC 9110 13.1.2)
        ('"x", W/"abc"', True),
        ("*", True),
        ('W/"abd"', False),
        ("", False),
    ],
)
def test_if_none_match(header: str, matches: bool) -> None:
    assert etag_matches(header, 'W/"abc"') is matches
