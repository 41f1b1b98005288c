"""The batch command's layout, and its effect in a real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from gateway.streams import telemetry_batch
from protocol import streams

SAMPLE = ("r1", 7, 1.5, 3.25, 7.5, 0.1, 81.0, 0.7, "udp", 2.0)


def test_field_names_go_once_and_every_sample_has_all_values() -> None:
    cmd = telemetry_batch.command([SAMPLE, SAMPLE], {}, maxlen=100)
    head = ("EVALSHA", telemetry_batch.SHA, 2, streams.TELEMETRY, streams.ROBOTS_INDEX, 100, 10, 2)
    assert cmd[: len(head)] == head
    assert cmd[len(head) :] == (*telemetry_batch.FIELDS, *SAMPLE, *SAMPLE)
    assert len(telemetry_batch.FIELDS) == len(SAMPLE)


@pytest.mark.integration
async def test_the_script_writes_entries_and_snapshots(redis_client: aioredis.Redis) -> None:
    await redis_client.script_load(telemetry_batch.SCRIPT)
    snaps = {"r1": {"x": 3.25, "id": "r1"}, "r2": {"battery": 50.0, "id": "r2"}}
    n = await redis_client.execute_command(*telemetry_batch.command([SAMPLE, SAMPLE], snaps, 100))
    assert n == 2
    entries = await redis_client.xrange(streams.TELEMETRY)
    rec = streams.from_fields(streams.TelemetryRecord, entries[1][1])
    assert (rec.robot, rec.seq, rec.ts, rec.x, rec.y, rec.battery, rec.transport, rec.rx) == (
        "r1",
        7,
        1.5,
        3.25,
        7.5,
        81.0,
        "udp",
        2.0,
    )
    assert await redis_client.hget(streams.robot_key("r2"), "battery") == b"50.0"
    assert await redis_client.smembers(streams.ROBOTS_INDEX) == {b"r1", b"r2"}
