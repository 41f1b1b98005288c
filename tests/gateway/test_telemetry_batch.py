"""The batch command's layout, and its effect in a real Redis: each entry as protocol.streams
lays a telemetry record out, each robot's snapshot holding its latest sample."""

from __future__ import annotations

import random
from typing import Any, cast

import msgspec
import pytest
import redis.asyncio as aioredis

from gateway.streams import telemetry_batch
from protocol import streams
from protocol.messages import Telemetry
from protocol.streams import RobotSnapshot, TelemetryRecord
from tests.support.replies import RawEntries, RawFields

SAMPLE = ("r1", 7, 1.5, 3.25, 7.5, 0.1, 81.0, 0.7, "udp", 2.0)
# Numbers whose text is easy to get wrong: exponents, negative zero, 17 digits, ints.
AWKWARD = [
    ("r1", 7, 1763786538.1234567, 3.25, 1e-05, -0.0, 81.0, 0.30000000000000004, "udp", 1.7e9),
    ("r2", 2**53 + 1, 5, 2.5e-10, -123456789.0, 1e9, 100, -3.14159, "tcp", 1763786538.9876543),
    ("cook-1.a_b", 0, 0.0, 1e-4, 0.0001234, -1e-07, 0.5, 1.0000000000000002, "", 7e-06),
    ("r1", 8, 1763786538.2, 5e-324, 39.999, 3.0, 80.9, 0.0, "mqtt", 1763786538.3),
]


def _record(s: tuple[Any, ...]) -> TelemetryRecord:
    return TelemetryRecord(**dict(zip(telemetry_batch.FIELDS, s, strict=True)))


def _encoded(samples: list[tuple[Any, ...]]) -> list[bytes]:
    return [telemetry_batch.sample(*s) for s in samples]


def test_a_sample_is_one_json_array_of_its_values() -> None:
    assert telemetry_batch.sample(*SAMPLE) == b'["r1","udp",7,1.5,3.25,7.5,0.1,81.0,0.7,2.0]'
    assert telemetry_batch.sample("serve-1", 2**53 + 1, 5, 1e-05, 1e16, -0.0, 100, 1, "", 2.5) == (
        b'["serve-1","",9007199254740993,5,0.00001,1e16,-0.0,100,1,2.5]'
    )


def test_snapshot_fields_are_the_sample_s_text() -> None:
    robot, fields = telemetry_batch.snapshot_fields(telemetry_batch.sample(*AWKWARD[0]))
    assert robot == "r1"
    assert fields == {"seq": "7", "ts": "1763786538.1234567", "x": "3.25", "y": "0.00001",
                      "theta": "-0.0", "battery": "81.0", "speed": "0.30000000000000004",
                      "seen": "1700000000.0"}  # fmt: skip


def test_command_layout() -> None:
    snaps = {"r3": {"connection": "online", "id": "r3", "updated": 9.0}}
    one = telemetry_batch.sample(*SAMPLE)
    cmd = telemetry_batch.command([one, one], {"r1": one}, snaps, maxlen=100, updated=9.0)
    keys = (streams.TELEMETRY, streams.ROBOTS_INDEX, streams.robot_key("r3"),
            streams.robot_key("r1"))  # fmt: skip
    assert cmd == (
        "EVALSHA", telemetry_batch.SHA, 4, *keys, 100, 9.0, one + one, one, 1,
        6, "connection", "online", "id", "r3", "updated", 9.0, "r3",
    )  # fmt: skip


@pytest.mark.integration
async def test_entries_are_the_records_layout_and_snapshots_hold_the_latest_sample(
    redis_client: aioredis.Redis,
) -> None:
    await redis_client.script_load(telemetry_batch.SCRIPT)
    latest = {s[0]: s for s in AWKWARD}
    snaps = {"r2": {"connection": "online", "seen": 1.0, "id": "r2", "updated": 2.5},
             "r9": {"state": "idle", "id": "r9", "updated": 2.5}}  # fmt: skip
    n = await redis_client.execute_command(  # type: ignore[no-untyped-call]  # untyped in redis-py
        *telemetry_batch.command(
            _encoded(AWKWARD),
            {robot: telemetry_batch.sample(*s) for robot, s in latest.items()},
            snaps,
            1000,
            2.5,
        )
    )
    assert n == len(AWKWARD)

    got = [f for _, f in cast(RawEntries, await redis_client.xrange(streams.TELEMETRY))]
    records = [_record(s) for s in AWKWARD]
    assert [list(f) for f in got] == [[b"robot", b"sample"]] * 4
    # Byte for byte what protocol.streams writes for the record: one JSON object.
    assert got == [
        {k.encode(): str(v).encode() for k, v in streams.to_fields(r).items()} for r in records
    ]
    assert b',"y":0.00001,"theta":-0.0,' in got[0][b"sample"]
    assert [streams.from_fields(TelemetryRecord, f) for f in got] == records

    for robot in (*latest, "r9"):
        stored = cast(RawFields, await redis_client.hgetall(streams.robot_key(robot)))
        want: dict[str, Any] = dict(snaps.get(robot, {}))
        if robot in latest:  # the latest sample over the other fields, rx as ``seen``
            rec = _record(latest[robot])
            want.update(seq=rec.seq, ts=rec.ts, x=rec.x, y=rec.y, theta=rec.theta,
                        battery=rec.battery, speed=rec.speed, seen=rec.rx, id=robot,
                        updated=2.5)  # fmt: skip
        assert {k.decode() for k in stored} == set(want), robot
        assert streams.from_fields(RobotSnapshot, stored) == msgspec.convert(want, RobotSnapshot)
    assert await redis_client.smembers(streams.ROBOTS_INDEX) == {
        b"r1", b"r2", b"r9", b"cook-1.a_b"
    }  # fmt: skip
    rec = streams.from_fields(streams.TelemetryRecord, got[1])
    assert (rec.robot, rec.seq, rec.y, rec.transport) == ("r2", 2**53 + 1, -123456789.0, "tcp")


def test_every_number_reads_back_as_itself() -> None:
    rng = random.Random(5)
    for _ in range(20_000):
        exp = rng.choice((rng.randint(-12, 20), rng.randint(-320, 300)))
        values = [rng.uniform(-1, 1) * 10.0**exp for _ in range(7)]
        values[rng.randrange(7)] = round(values[0], rng.randint(0, 6))
        ts, x, y, theta, battery, speed, rx = values
        encoded = telemetry_batch.sample("serve-1", 3, ts, x, y, theta, battery, speed, "udp", rx)
        numbers = encoded[1:-1].decode().split(",")[2:]
        assert [float(n) for n in numbers] == [3, *values]
        assert msgspec.json.decode(encoded)[2:] == [3, *values]


def test_a_batch_of_messages_is_sample_of_each() -> None:
    rng = random.Random(7)
    msgs: list[Telemetry] = []
    for i in range(3000):
        exp = rng.choice((0, 0, 0, 1, 2, rng.randint(-12, 8)))  # mostly ordinary numbers
        x, y, theta, speed = (rng.uniform(-1, 1) * 10.0**exp for _ in range(4))
        msgs.append(
            Telemetry(
                robot=f"serve-{i % 7}",
                seq=i,
                ts=1763786538.0 + i / 7,
                x=round(x, rng.randint(0, 9)),
                y=y,
                theta=theta,
                battery=rng.choice((0, 50.5, 100.0)),
                speed=speed,
            )
        )
    for rx in (1763786540.25, 1e-05, 1e16):
        for size in (1, 2, 50, 500):
            for start in range(0, len(msgs), size * 3):
                batch = msgs[start : start + size]
                latest: dict[str, bytes] = {}
                got = telemetry_batch.batch_samples(batch, "mqtt", rx, latest)
                want = [
                    telemetry_batch.sample(
                        m.robot, m.seq, m.ts, m.x, m.y, m.theta, m.battery, m.speed, "mqtt", rx
                    )
                    for m in batch
                ]
                assert got == want
                assert latest == {m.robot: s for m, s in zip(batch, want, strict=True)}
    assert telemetry_batch.batch_samples([], "udp", 1.0, {}) == []
    # the one-encode path was taken (the prefixes are its own)
    assert {f"serve-{i}" for i in range(7)} <= telemetry_batch._prefixes["mqtt"].keys()
