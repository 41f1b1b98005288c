"""Robots over real TCP and UDP -> gateway -> real Redis; streams asserted field by field."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import orjson
import pytest
import redis.asyncio as aioredis

from protocol import streams
from protocol.framing import encode_frame
from protocol.messages import Error
from protocol.udp import encode_datagram
from protocol.vocabulary import ErrorCode, RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import RunningGateway
from tests.support.integration import events, online
from tests.support.replies import RawEntries, RawFields
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def test_hello_state_and_telemetry_reach_the_streams(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    assert bot.conn.welcome is not None and bot.conn.welcome.udp_port == gateway.udp_port
    bot.state("idle")
    sample = bot.telemetry(x=3.5, y=4.25, battery=77.5)
    bot.udp(sample)
    await wait_for(lambda: redis_client.xlen(streams.TELEMETRY))
    await gateway.drained()

    conn = await events(redis_client, "robot.connection", "serve-1")
    assert [e["data"]["state"] for e in conn] == ["online"]
    assert conn[0]["data"]["previous"] == "offline" and conn[0]["data"]["transport"] == "tcp"
    assert conn[0]["src"] == "gw-test" and conn[0]["level"] == "info" and len(conn[0]["eid"]) == 32
    state = await events(redis_client, "robot.state", "serve-1")
    assert state[0]["data"]["state"] == "idle" and state[0]["data"]["previous"] is None

    ((_entry_id, fields),) = cast(RawEntries, await redis_client.xrange(streams.TELEMETRY))
    rec = streams.from_fields(streams.TelemetryRecord, fields)
    assert (rec.robot, rec.seq, rec.x, rec.y, rec.battery, rec.theta, rec.speed) == (
        "serve-1",
        sample.seq,
        3.5,
        4.25,
        77.5,
        0.5,
        0.3,
    )
    assert rec.transport == "udp" and rec.ts == pytest.approx(sample.ts) and rec.rx >= rec.ts - 1

    snap = streams.from_fields(
        streams.RobotSnapshot,
        cast(RawFields, await redis_client.hgetall(streams.robot_key("serve-1"))),
    )
    assert (snap.connection, snap.state, snap.kind, snap.x, snap.battery) == (
        "online",
        "idle",
        "serving",
        3.5,
        77.5,
    )
    assert await redis_client.sismember(streams.ROBOTS_INDEX, "serve-1")
    await bot.close()


@pytest.mark.parametrize(("robot", "key"), [("serve-1", "ab" * 32), ("ghost", "11" * 32)])
async def test_hello_with_wrong_key_or_unknown_robot_is_refused(
    gateway: RunningGateway, redis_client: aioredis.Redis, robot: str, key: str
) -> None:
    bot = TestRobot(robot, RobotKind.SERVING, gateway.tcp_port, key=bytes.fromhex(key))
    reply = await bot.connect()
    assert isinstance(reply, Error) and reply.code == ErrorCode.AUTH_FAILED
    assert await bot.closed()
    assert gateway.gateway.stats.get("connections", "refused_auth_failed") == 1
    await gateway.drained()
    assert await events(redis_client, "robot.connection") == []
    await bot.close()


async def test_kind_mismatch_is_refused(gateway: RunningGateway) -> None:
    bot = TestRobot("cook-1", RobotKind.SERVING, gateway.tcp_port)
    reply = await bot.connect()
    assert isinstance(reply, Error) and reply.code == ErrorCode.AUTH_FAILED
    assert "registered as cooking" in reply.message
    await bot.close()


async def test_bad_frames_get_errors_and_the_connection_carries_on(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    cases = [
        (b"{not json", ErrorCode.BAD_MESSAGE),
        (b'{"v":1,"type":"teleport","robot":"serve-1"}', ErrorCode.UNKNOWN_TYPE),
    ]
    for body, code in cases:
        bot.send_raw(body)
        err = await bot.recv()
        assert isinstance(err, Error) and err.code == code, err
    # still usable: a valid state after two errors is applied
    bot.state("idle")
    await wait_for(lambda: events(redis_client, "robot.state", "serve-1"))
    # a third error reaches max_strikes (3): the gateway closes
    bot.send_raw(b'{"v":9,"type":"heartbeat","robot":"serve-1"}')
    err = await bot.recv()
    assert isinstance(err, Error) and err.code == ErrorCode.UNSUPPORTED_VERSION
    assert await bot.closed()
    stats = gateway.gateway.stats
    assert stats.get("frames_rejected", "bad_message") == 1
    assert stats.get("frames_rejected", "unsupported_version") == 1
    await bot.close()


async def test_oversized_frame_is_rejected_before_buffering(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    body = b'{"v":1,"type":"heartbeat","robot":"serve-1","pad":"' + b"x" * 10_000 + b'"}'
    bot.send_raw(body)  # max_frame_bytes is 4096 in the test settings
    err = await bot.recv()
    assert isinstance(err, Error) and err.code == ErrorCode.FRAME_TOO_LARGE
    assert "10" in err.message and "4096" in err.message
    bot.state("idle")  # the rest of the oversized frame was skipped: still in sync
    evs = await wait_for(lambda: events(redis_client, "robot.state", "serve-1"))
    assert evs[0]["data"]["state"] == "idle"
    await bot.close()


async def test_truncated_frame_at_close_is_counted(gateway: RunningGateway) -> None:
    bot = await online(gateway)
    bot.write_bytes(encode_frame(b'{"v":1,"type":"heartbeat","robot":"serve-1"}')[:-5])
    await bot.close()
    await wait_for(lambda: gateway.gateway.stats.get("frames_rejected", "bad_message") == 1)


async def test_wrong_field_type_names_the_field(gateway: RunningGateway) -> None:
    bot = await online(gateway)
    bot.send_raw(orjson.dumps({"v": 1, "type": "state", "robot": "serve-1", "state": 5}))
    err = await bot.recv()
    assert isinstance(err, Error) and err.code == ErrorCode.BAD_MESSAGE and "$.state" in err.message
    bot.send_raw(orjson.dumps({"v": 1, "type": "heartbeat", "robot": "serve-2"}))
    err = await bot.recv()
    assert isinstance(err, Error) and "serve-2" in err.message
    await bot.close()


async def test_message_before_hello_closes(gateway: RunningGateway) -> None:
    bot = TestRobot("serve-1", RobotKind.SERVING, gateway.tcp_port)
    bot.reader, bot.writer = await asyncio.open_connection("127.0.0.1", gateway.tcp_port)
    await bot.recv()  # challenge
    bot.heartbeat()
    err = await bot.recv()
    assert isinstance(err, Error) and err.code == ErrorCode.UNEXPECTED
    assert await bot.closed()
    await bot.close()


async def test_silent_handshake_times_out(gateway: RunningGateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.tcp_port)
    async with asyncio.timeout(5):
        while await reader.read(4096):
            pass
    assert gateway.gateway.stats.get("connections", "handshake_timeout") == 1
    writer.close()
    await writer.wait_closed()


async def test_udp_forged_replayed_unknown_and_malformed_are_dropped(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    good = bot.telemetry(seq=10)
    bot.udp(good)
    bot.udp(good)  # replay
    bot.udp(bot.telemetry(seq=5))  # older than accepted: reordered
    bot.udp(bot.telemetry(seq=11), key=bytes.fromhex("ee" * 32))  # forged
    forged = bytearray(encode_datagram(bot.telemetry(seq=12), bot.key))
    forged[20] ^= 1  # tampered body
    bot.udp_raw(bytes(forged))
    ghost = TestRobot(
        "ghost", RobotKind.SERVING, gateway.tcp_port, gateway.udp_port, key=bytes.fromhex("11" * 32)
    )
    ghost.udp(ghost.telemetry(seq=1))
    bot.udp_raw(b"garbage")
    bot.udp(bot.telemetry(seq=13))
    stats = gateway.gateway.stats
    await wait_for(lambda: stats.total("udp_dropped") == 6)
    await wait_for(lambda: redis_client.xlen(streams.TELEMETRY))
    await gateway.drained()
    seqs = [
        streams.from_fields(streams.TelemetryRecord, f).seq
        for _, f in cast(RawEntries, await redis_client.xrange(streams.TELEMETRY))
    ]
    assert seqs == [10, 13]
    assert stats.get("udp_dropped", "replayed") == 2
    assert stats.get("udp_dropped", "bad_signature") == 2
    assert stats.get("udp_dropped", "unknown_robot") == 1
    assert stats.get("udp_dropped", "malformed") == 1
    await bot.close()
    await ghost.close()


async def test_second_connection_wins(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    first = await online(gateway)
    second = await online(gateway)
    err = await first.recv()
    assert isinstance(err, Error) and err.code == ErrorCode.REPLACED
    assert await first.closed()
    second.state("idle")
    evs = await wait_for(lambda: events(redis_client, "robot.state", "serve-1"))
    assert evs[0]["data"]["state"] == "idle"
    await gateway.drained()
    # the replaced link closing does not take the robot offline
    assert [e["data"]["state"] for e in await events(redis_client, "robot.connection")] == [
        "online"
    ]
    await first.close()
    await second.close()


async def test_illegal_transition_is_refused_and_recorded(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    bot.state("idle")
    bot.state("at_table")  # idle -> at_table skips the trip
    err = await bot.recv()
    assert isinstance(err, Error) and err.code == ErrorCode.ILLEGAL_TRANSITION
    refused = await wait_for(lambda: events(redis_client, "robot.transition_refused"))
    assert refused[0]["data"]["from"] == "idle" and refused[0]["data"]["to"] == "at_table"
    assert refused[0]["level"] == "warning"
    bot.state("estop")  # allowed from anywhere, and an alarm
    await wait_for(lambda: _has_state(redis_client, "estop"))
    snap = await redis_client.hgetall(streams.robot_key("serve-1"))
    assert snap[b"state"] == b"estop"
    await bot.close()


async def _has_state(r: aioredis.Redis, state: str) -> bool:
    return any(
        e["data"]["state"] == state
        and e["level"] == ("alarm" if state in ("estop", "error") else "info")
        for e in await events(r, "robot.state")
    )


async def test_silence_makes_a_robot_stale_then_offline(
    gateway: RunningGateway, redis_client: aioredis.Redis
) -> None:
    bot = await online(gateway)
    await wait_for(lambda: _conn_states(redis_client, ["online", "stale", "offline"]), timeout=5)
    assert await bot.closed()  # the silent link was closed by the gateway
    bot2 = await online(gateway)
    bot2.heartbeat()
    await wait_for(lambda: _conn_states(redis_client, ["online", "stale", "offline", "online"]))
    await bot.close()
    await bot2.close()


async def _conn_states(r: aioredis.Redis, expected: list[str]) -> bool:
    return [e["data"]["state"] for e in await events(r, "robot.connection", "serve-1")] == expected


async def test_flooding_robot_is_rate_limited(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    from tests.support.gateway import gateway_settings, run_gateway

    settings = gateway_settings(redis_server.url, tmp_path, tcp={"rate_per_s": 10, "burst": 20})
    async with run_gateway(settings) as gw:
        bot = await online(gw)
        for _ in range(200):
            bot.heartbeat()
        err = await bot.recv()
        assert isinstance(err, Error) and err.code == ErrorCode.RATE_LIMITED
        await wait_for(lambda: gw.gateway.stats.get("frames_rejected", "rate_limited") >= 150)
        other = await online(gw, "serve-2")  # the others carry on
        other.state("idle")
        await wait_for(lambda: events(redis_client, "robot.state", "serve-2"))
        await bot.close()
        await other.close()
