"""cleanup_ctx of the cameras: a binary Redis client (frames are bytes) and the live hub."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from robodine.redisio.circuit import Circuit
from robodine.redisio.client import connect
from web.cameras.hub import CameraHub
from web.cameras.pacing import WritePacer
from web.keys import SETTINGS

CAMERA_REDIS = web.AppKey("camera_redis", Redis)  # replies as bytes: JPEG frames
CAMERA_HUB = web.AppKey("camera_hub", CameraHub)
CAMERA_PACER = web.AppKey("camera_pacer", WritePacer)  # video waits its turn


async def cameras_ctx(app: web.Application) -> AsyncIterator[None]:
    s = app[SETTINGS]
    circuit = Circuit(s.redis.probe_interval_s)
    app[CAMERA_REDIS] = connect(s.redis, name=f"{s.web.name}:frames", circuit=circuit)
    app[CAMERA_HUB] = CameraHub(s)
    app[CAMERA_PACER] = WritePacer()
    yield
    await app[CAMERA_HUB].close()
    await app[CAMERA_REDIS].aclose()


async def stop_viewers(app: web.Application) -> None:
    """on_shutdown: every live view ends within a second (the hub's readers after)."""
    if CAMERA_HUB in app:
        app[CAMERA_HUB].closing = True
