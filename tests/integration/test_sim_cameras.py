"""`robodine sim --camera`: every simulated robot announces a camera and its frames reach
Redis as JPEGs that change from one frame to the next."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import msgspec
import pytest
import redis.asyncio as aioredis

from protocol.streams import CAMERAS, camera_stream
from simulator.camera import CameraOptions
from tests.integration.sim import simulated
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.replies import RawEntries, RawFields
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def test_simulated_robots_send_changing_frames(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    image = pytest.importorskip("PIL.Image")
    settings = gateway_settings(redis_server.url, tmp_path)
    camera = CameraOptions(fps=5, width=160, height=120)
    async with run_gateway(settings) as gw, simulated(settings, gw, camera=camera):
        await wait_for(lambda: _frames(redis_client, 3), timeout=15)
        statuses = {
            k.decode(): msgspec.json.decode(v)
            for k, v in cast(RawFields, await redis_client.hgetall(CAMERAS)).items()
        }
        assert set(statuses) == {"serve-1:front", "serve-2:front", "cook-1:front"}
        assert {s["state"] for s in statuses.values()} <= {"live", "stale"}
        entries = cast(RawEntries, await redis_client.xrange(camera_stream("serve-1", "front")))
        frames = [f[b"jpeg"] for _, f in entries]
    assert len(set(frames)) == len(frames)  # each one drawn anew
    picture = image.open(io.BytesIO(frames[-1]))
    assert picture.format == "JPEG" and picture.size == (160, 120)


async def _frames(redis: aioredis.Redis, n: int) -> bool:
    for robot in ("serve-1", "serve-2", "cook-1"):
        if await redis.xlen(camera_stream(robot, "front")) < n:
            return False
    return True
