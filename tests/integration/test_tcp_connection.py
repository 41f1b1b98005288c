"""The TCP transport handles every frame of a read at once, and says goodbye on shutdown."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis
import uvloop
from structlog.testing import capture_logs

from protocol import streams
from protocol.messages import Challenge, Error, Welcome
from protocol.vocabulary import ErrorCode, RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.integration import events
from tests.support.replies import RawEntries
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def test_frames_sent_with_the_hello_are_handled_in_order_under_uvloop(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """uvloop, as the gateway runs in production (its transports are not asyncio's classes).

    In a thread of its own, so that a failure fails the test instead of hanging
    the main thread's loop on its way out.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            uvloop.run(_pipelined_frames(redis_server.url, tmp_path))
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and errors == []


async def _pipelined_frames(url: str, tmp_path: Path) -> None:
    redis_client = aioredis.Redis.from_url(url)
    await redis_client.flushdb()  # the session's server: other tests' entries
    async with run_gateway(gateway_settings(url, tmp_path)) as gateway:
        bot = _robot(gateway.tcp_port)
        bot.reader, bot.writer = await asyncio.open_connection("127.0.0.1", gateway.tcp_port)
        challenge = await bot.recv()
        assert isinstance(challenge, Challenge)
        samples = [bot.telemetry(x=float(i)) for i in range(5)]
        # one write: the hello and five telemetry frames behind it, before any welcome
        bot.write_bytes(
            bot.conn.hello(challenge, time.time()) + b"".join(bot.conn.send(s) for s in samples)
        )
        assert isinstance(await bot.recv(), Welcome)

        async def five() -> list[tuple[bytes, dict[bytes, bytes]]]:
            entries = cast(RawEntries, await redis_client.xrange(streams.TELEMETRY))
            return entries if len(entries) == 5 else []

        got = [streams.from_fields(streams.TelemetryRecord, f) for _, f in await wait_for(five)]
        assert [(r.robot, r.seq, r.x, r.transport) for r in got] == [
            ("serve-1", s.seq, s.x, "tcp") for s in samples
        ]
        await bot.close()
    await redis_client.aclose()


async def test_shutdown_tells_each_robot_and_records_it_offline(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)) as gw:
        bot = _robot(gw.tcp_port)
        assert isinstance(await bot.connect(), Welcome)
        await wait_for(lambda: events(redis_client, "robot.connection", "serve-1"))
        stopping = asyncio.create_task(gw.stop())
        err = await bot.recv()
        assert isinstance(err, Error) and err.code == ErrorCode.SHUTTING_DOWN
        assert await bot.closed()
        await stopping
    states = [e["data"] for e in await events(redis_client, "robot.connection", "serve-1")]
    assert [(s["state"], s["reason"]) for s in states] == [
        ("online", "hello"),
        ("offline", "shutting_down: gateway is shutting down"),
    ]
    await bot.close()


def _robot(port: int) -> TestRobot:
    return TestRobot("serve-1", RobotKind.SERVING, port)


def deep(type_: str) -> bytes:
    """A message whose one unknown field is nested 30,000 deep: 60 KB, within a 64 KiB frame."""
    head = b'{"v":1,"type":"%s","robot":"serve-1","x":' % type_.encode()
    return head + b"[" * 30_000 + b"]" * 30_000 + b"}"


async def test_json_nested_too_deep_is_a_bad_message_before_and_after_hello(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = gateway_settings(redis_server.url, tmp_path, tcp={"max_frame_bytes": 65536})
    with capture_logs() as logs:
        async with run_gateway(settings) as gw:
            stranger = _robot(gw.tcp_port)
            stranger.reader, stranger.writer = await asyncio.open_connection(
                "127.0.0.1", gw.tcp_port
            )
            assert isinstance(await stranger.recv(), Challenge)
            stranger.send_raw(deep("hello"))  # instead of a hello
            refused = await stranger.recv()
            assert isinstance(refused, Error) and refused.code is ErrorCode.BAD_MESSAGE
            assert "nested too deeply" in refused.message
            assert await stranger.closed()
            assert gw.gateway.stats.get("connections", "refused_bad_message") == 1

            bot = _robot(gw.tcp_port)
            assert isinstance(await bot.connect(), Welcome)
            bot.send_raw(deep("heartbeat"))  # on an open connection: a strike, the connection stays
            strike = await bot.recv()
            assert isinstance(strike, Error) and strike.code is ErrorCode.BAD_MESSAGE
            bot.heartbeat()
            await wait_for(lambda: gw.gateway.stats.get("frames_rejected", "bad_message") == 1)
            await stranger.close()
            await bot.close()
    refusals = [e for e in logs if e["event"] == "robot_refused"]
    assert len(refusals) == 1 and refusals[0]["code"] == "bad_message"
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []  # no traceback
