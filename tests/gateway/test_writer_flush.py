"""The stream writer's flushes against a real redis-server: what lands, and NOSCRIPT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from config.settings import RedisSettings
from gateway.metrics import Stats
from gateway.streams import writer as writer_module
from gateway.streams.spool import Spool
from gateway.streams.writer import StreamWriter
from protocol import streams
from protocol.messages import Telemetry
from robodine.redisio.client import connect
from tests.servers import RedisServer
from tests.support.replies import RawEntries
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def writer(redis_private: RedisServer, tmp_path: Path) -> AsyncIterator[StreamWriter]:
    settings = RedisSettings(url=redis_private.url, connect_timeout_s=0.5)
    client = connect(settings, name="test:writer")
    w = StreamWriter(client, settings, Spool(tmp_path / "spool.sqlite3", 100), Stats(), src="gw")
    task = asyncio.create_task(w.run())
    yield w
    await w.close(2)
    await task
    await client.aclose()


def _sample(w: StreamWriter, seq: int) -> None:
    msg = Telemetry(
        robot="r1", seq=seq, ts=10.0 + seq, x=1.25, y=2.5, theta=-0.0, battery=80.0, speed=1e-05
    )
    w.telemetry_run([msg], "udp", 20.0 + seq)


async def test_events_hashes_telemetry_and_snapshots_land_as_written(
    writer: StreamWriter, redis_private: RedisServer
) -> None:
    client = aioredis.Redis.from_url(redis_private.url)
    writer.hash_put("rd:test", "a", "1")
    writer.event(streams.EventType.ROBOT_STATE, "r1", data={"state": "idle"})
    writer.snapshot("r1", connection="online", seen=5.0)
    _sample(writer, 1)
    _sample(writer, 2)
    await writer.drained()
    assert await client.hgetall("rd:test") == {b"a": b"1"}
    [(_, event)] = cast(RawEntries, await client.xrange(streams.EVENTS))
    assert streams.decode_fields(event)["data"] == {"state": "idle"}
    entries = [f for _, f in cast(RawEntries, await client.xrange(streams.TELEMETRY))]
    assert [e[b"sample"] for e in entries] == [
        b'{"robot":"r1","seq":%d,"ts":%d.0,"x":1.25,"y":2.5,"theta":-0.0,"battery":80.0,'
        b'"speed":0.00001,"transport":"udp","rx":%d.0}' % (seq, 10 + seq, 20 + seq)
        for seq in (1, 2)
    ]
    snap = await client.hgetall(streams.robot_key("r1"))
    assert (snap[b"connection"], snap[b"seq"], snap[b"seen"], snap[b"id"]) == (
        b"online", b"2", b"22.0", b"r1"
    )  # fmt: skip
    await client.aclose()


async def test_a_flushed_script_costs_one_batch_of_telemetry_and_no_event(
    writer: StreamWriter, redis_private: RedisServer
) -> None:
    client = aioredis.Redis.from_url(redis_private.url)
    for n in range(3):
        if n == 1:
            await client.script_flush()  # the next EVALSHA gets NOSCRIPT
        writer.event(streams.EventType.ROBOT_STATE, "r1", data={"n": n})
        _sample(writer, n + 1)
        await writer.drained()
    events = cast(RawEntries, await client.xrange(streams.EVENTS))
    got = [streams.decode_fields(f)["data"]["n"] for _, f in events]
    assert got == [0, 1, 2]  # the event sent with the failed script is not written twice
    seqs = [
        streams.from_fields(streams.TelemetryRecord, f).seq
        for _, f in cast(RawEntries, await client.xrange(streams.TELEMETRY))
    ]
    assert seqs == [1, 3] and writer.stats.get("telemetry_dropped", "redis_down") == 1
    await client.aclose()


async def test_telemetry_snapshots_trail_the_stream_by_at_most_their_gap(
    writer: StreamWriter, redis_private: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_SNAPSHOT_GAP_S", 1.0)  # 0.1 s: too tight to assert
    client = aioredis.Redis.from_url(redis_private.url)
    _sample(writer, 1)
    await writer.drained()
    _sample(writer, 2)

    async def entries() -> int:
        return int(await client.xlen(streams.TELEMETRY))

    await wait_for(lambda: _equals(entries, 2))
    assert await client.hget(streams.robot_key("r1"), "seq") == b"1"  # held back
    await wait_for(lambda: _equals(lambda: client.hget(streams.robot_key("r1"), "seq"), b"2"))
    await client.aclose()


async def _equals(read: Callable[[], Awaitable[object]], want: object) -> bool:
    return await read() == want


def test_the_buffered_gauge_reads_what_waits_for_redis_when_scraped() -> None:
    from gateway.metrics import Stats, StatsCollector

    stats = Stats()

    class _Writer:
        def __init__(self) -> None:
            self._telemetry = [1, 2, 3]
            self._events: list[int] = []
            self.stats = stats

    from gateway.streams.writer import StreamWriter

    w: Any = _Writer()  # stands in for a StreamWriter: only the buffers the probe reads
    StreamWriter.probe_buffers(w)
    fams = {f.name: f for f in StatsCollector(stats).collect()}
    got = {s.labels["kind"]: s.value for s in fams["robodine_gateway_buffered"].samples}
    assert got == {"telemetry": 3, "events": 0}
    w._events.append(9)
    fams = {f.name: f for f in StatsCollector(stats).collect()}
    assert {s.labels["kind"]: s.value for s in fams["robodine_gateway_buffered"].samples}[
        "events"
    ] == 1
