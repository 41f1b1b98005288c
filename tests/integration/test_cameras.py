"""Camera frames through the real gateway into Redis: intact, latest-wins, never in the way."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import cast

import msgspec
import pytest
import redis.asyncio as aioredis

from protocol.camera_chunks import CameraSender
from protocol.cameras import CameraInfo
from protocol.messages import Camera, Event, Welcome
from protocol.streams import CAMERAS, EVENTS, TELEMETRY, camera_stream, robot_key
from protocol.vocabulary import RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import RunningGateway, gateway_settings, run_gateway
from tests.support.replies import RawEntries
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

FRONT = CameraInfo(id="front", width=640, height=480, fps=10)
# robots that stay online while a test waits for Redis without a heartbeat
PATIENT = {"heartbeat_s": 1.0, "stale_after_s": 5.0, "offline_after_s": 10.0}


def jpeg(n: int, size: int = 40_000) -> bytes:
    """A distinct frame per n (the gateway checks only SOI and EOI)."""
    body = (n.to_bytes(4, "big") * (size // 4))[: size - 4]
    return b"\xff\xd8" + body + b"\xff\xd9"


async def frames_in(redis: aioredis.Redis, robot: str, camera: str) -> list[dict[bytes, bytes]]:
    return [f for _, f in cast(RawEntries, await redis.xrange(camera_stream(robot, camera)))]


async def connected(gw: RunningGateway, robot: str = "serve-1") -> tuple[TestRobot, Welcome]:
    kind = RobotKind.COOKING if robot.startswith("cook") else RobotKind.SERVING
    bot = TestRobot(robot, kind, gw.tcp_port, gw.udp_port)
    welcome = await bot.connect()
    assert isinstance(welcome, Welcome)
    return bot, welcome


async def test_frames_over_udp_and_tcp_arrive_intact(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = gateway_settings(
        redis_server.url, tmp_path, tcp={"max_frame_bytes": 65536}, gateway=PATIENT
    )
    async with run_gateway(settings) as gw:
        bot, welcome = await connected(gw)
        assert welcome.camera_port == gw.camera_port and welcome.camera_port
        bot.send(Camera(robot="serve-1", seq=bot.next_seq(), cameras=[FRONT]))
        await wait_for(lambda: redis_client.hexists(CAMERAS, "serve-1:front"))
        sender = CameraSender("serve-1", bot.key)
        for n in range(3):
            for chunk in sender.frame("front", jpeg(n), 100.0 + n):
                bot.udp_raw(chunk, welcome.camera_port)
            await wait_for(partial(_count, redis_client, n + 1))
        tcp = CameraSender("serve-1", bot.key, max_chunk=65536)
        tcp._next["front"] = sender._next["front"]  # one seq per camera, whichever transport
        for chunk in tcp.frame("front", jpeg(3), 103.0):
            bot.write_bytes(bot.conn.chunk(chunk))
        await wait_for(lambda: _count(redis_client, 4))
        entries = await frames_in(redis_client, "serve-1", "front")
        assert [e[b"jpeg"] for e in entries] == [jpeg(n) for n in range(4)]
        assert [int(e[b"frame"]) for e in entries] == [0, 1, 2, 3]
        assert [float(e[b"ts"]) for e in entries] == [100.0, 101.0, 102.0, 103.0]
        await wait_for(lambda: _status(redis_client, "frames", 4))
        status = msgspec.json.decode(cast(bytes, await redis_client.hget(CAMERAS, "serve-1:front")))
        assert status["state"] == "live" and status["bytes"] == 4 * 40_000
        snap = cast(bytes, await redis_client.hget(robot_key("serve-1"), "cameras"))
        assert msgspec.json.decode(snap)["front"]["state"] == "live"
        # a replayed chunk and a frame cut short change nothing
        for chunk in sender.frame("front", jpeg(9), 104.0)[:-1]:
            bot.udp_raw(chunk, welcome.camera_port)
        bot.udp_raw(chunk, welcome.camera_port)
        await wait_for(lambda: gw.gateway.stats.get("camera_dropped", "replayed") == 1)
        await bot.close()
        await wait_for(lambda: _status(redis_client, "state", "off"), timeout=15)
        assert len(await frames_in(redis_client, "serve-1", "front")) == 4


async def _count(redis: aioredis.Redis, n: int) -> bool:
    return await redis.xlen(camera_stream("serve-1", "front")) >= n


async def _status(redis: aioredis.Redis, field: str, want: object) -> bool:
    raw = await redis.hget(CAMERAS, "serve-1:front")
    return raw is not None and msgspec.json.decode(raw).get(field) == want


async def test_the_camera_stream_is_capped(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = gateway_settings(
        redis_server.url,
        tmp_path,
        camera={"port": 0, "stream_maxlen": 5, "max_fps": 120},
        gateway=PATIENT,
    )
    async with run_gateway(settings) as gw:
        bot, welcome = await connected(gw)
        bot.send(Camera(robot="serve-1", seq=bot.next_seq(), cameras=[FRONT]))
        await wait_for(lambda: redis_client.hexists(CAMERAS, "serve-1:front"))
        sender = CameraSender("serve-1", bot.key)
        for n in range(20):
            for chunk in sender.frame("front", jpeg(n, 3000), float(n)):
                bot.udp_raw(chunk, welcome.camera_port)
            await asyncio.sleep(0.005)
        await wait_for(lambda: gw.gateway.stats.total("camera_frames") == 20)
        await wait_for(lambda: gw.gateway.cameras is not None and not gw.gateway.cameras.pending)
        entries = await frames_in(redis_client, "serve-1", "front")
        assert len(entries) == 5 and entries[-1][b"jpeg"] == jpeg(19, 3000)
        await bot.close()


@pytest.mark.slow
async def test_cameras_under_load_cost_telemetry_and_events_nothing(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """Twenty-one cameras at 10 fps of 40 KB (8 MB/s of chunks, from another process, as
    robots send them) beside telemetry at 60/s and an alarm event every 50 ms: every
    telemetry sample and every event reaches Redis, and the events' latency stays within
    a generous bound of the same run without cameras."""
    settings = gateway_settings(redis_server.url, tmp_path, camera={"port": 0}, gateway=PATIENT)
    async with run_gateway(settings) as gw:
        bots = [await connected(gw, r) for r in ("serve-1", "serve-2", "cook-1")]
        cams = [CameraInfo(id=f"c{i}", width=640, height=480, fps=10) for i in range(7)]
        for bot, _ in bots:
            bot.send(Camera(robot=bot.robot, seq=bot.next_seq(), cameras=cams))
            bot.state("idle")
        await wait_for(lambda: _hlen(redis_client, 21))
        quiet = await _measure(gw, bots, redis_client, flood=None)
        flood = [f"{b.robot}:{b.key.hex()}:" + ",".join(c.id for c in cams) for b, _ in bots]
        loaded = await _measure(gw, bots, redis_client, flood=flood)
        for bot, _ in bots:
            await bot.close()
    print("camera load:", quiet, loaded)
    assert quiet["lost_telemetry"] == 0 and loaded["lost_telemetry"] == 0
    assert quiet["lost_events"] == 0 and loaded["lost_events"] == 0
    assert loaded["frames"] > 0.5 * loaded["sent_frames"] > 100  # the cameras did run
    # A shared 2-core box: the bound is loose; what it rules out is events queued behind video.
    assert loaded["event_p95"] < max(0.25, 5 * quiet["event_p95"]), (quiet, loaded)


async def _hlen(redis: aioredis.Redis, n: int) -> bool:
    return await redis.hlen(CAMERAS) >= n


async def _measure(
    gw: RunningGateway,
    bots: list[tuple[TestRobot, Welcome]],
    redis: aioredis.Redis,
    *,
    flood: list[str] | None,
) -> dict[str, float]:
    await redis.delete(TELEMETRY)
    start_id = (await redis.xinfo_stream(EVENTS))["last-generated-id"]
    stats = gw.gateway.stats
    frames_before = stats.total("camera_frames")
    duration = 3.0
    proc = None
    if flood is not None:
        port = gw.camera_port
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.camera_flood",
            str(port),
            str(duration + 0.5),
            "10",
            "40000",
            *flood,
            stdout=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(0.5)
    sent_tel: list[tuple[str, int]] = []
    sent_events: dict[str, float] = {}
    t0, step = time.monotonic(), 0
    while time.monotonic() - t0 < duration:
        tick = time.monotonic()
        for bot, _ in bots:
            msg = bot.telemetry()
            bot.udp(msg)
            sent_tel.append((bot.robot, msg.seq))
        name = f"probe-{int(flood is not None)}-{step}"
        _event(bots[step % 3][0], name)
        sent_events[name] = time.time()
        step += 1
        await asyncio.sleep(max(0.0, 0.05 - (time.monotonic() - tick)))
    sent_frames = 0
    if proc is not None:
        out, _ = await proc.communicate()
        sent_frames = int(out.decode().strip() or 0)
    await gw.drained()
    await asyncio.sleep(0.2)
    got = {
        (f[b"robot"].decode(), _seq(f)) for _, f in cast(RawEntries, await redis.xrange(TELEMETRY))
    }
    latencies = []
    for eid, fields in cast(RawEntries, await redis.xrange(EVENTS, min=f"({start_id.decode()}")):
        data = fields.get(b"data", b"")
        for name, sent in sent_events.items():
            if f'"name":"{name}"'.encode() in data:
                latencies.append(int(eid.split(b"-")[0]) / 1000 - sent)
    return {
        "lost_telemetry": len(set(sent_tel) - got),
        "lost_events": len(sent_events) - len(latencies),
        "event_p95": statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 2 else 9.9,
        "frames": stats.total("camera_frames") - frames_before,
        "sent_frames": sent_frames,
    }


def _seq(fields: dict[bytes, bytes]) -> int:
    return int(msgspec.json.decode(fields[b"sample"])["seq"])


def _event(bot: TestRobot, name: str) -> None:
    bot.send(Event(robot=bot.robot, seq=bot.next_seq(), ts=time.time(), name=name, level="alarm"))
