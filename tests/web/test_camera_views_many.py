"""More live views opened at once than the shared Redis pool has connections (100).

Every view is answered, REST keeps answering during the burst, every viewer gets its
camera's frames, and all the cameras are read over one Redis connection.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import msgspec
import pytest

from protocol.streams import CAMERAS, camera_stream
from tests.support.web import ORIGIN, MakeEnv, WebEnv
from tests.waiting import wait_for
from web.cameras.context import CAMERA_HUB

pytestmark = pytest.mark.integration

CAMERAS_N = 40
VIEWS = 160  # over redis-py's default pool of 100


def jpeg(n: int, cam: int) -> bytes:
    return b"\xff\xd8" + bytes([cam % 256, n % 256]) * 500 + b"\xff\xd9"


def key(cam: int) -> str:
    return f"serve-{cam}:front"


async def announce(env: WebEnv, cam: int) -> None:
    robot, camera = key(cam).split(":")
    status = {
        "robot": robot,
        "camera": camera,
        "width": 640,
        "height": 480,
        "fps": 10.0,
        "state": "live",
        "frames": 0,
        "dropped": 0,
        "bytes": 0,
        "last_frame": time.time(),
        "announced": time.time(),
    }
    await env.redis.hset(CAMERAS, key(cam), msgspec.json.encode(status))


async def put_frame(env: WebEnv, n: int, cam: int) -> None:
    robot, camera = key(cam).split(":")
    fields: Any = {"frame": n, "ts": 100.0 + n, "rx": time.time(), "jpeg": jpeg(n, cam)}
    await env.redis.xadd(camera_stream(robot, camera), fields, maxlen=30)


async def test_more_views_than_the_pool_all_get_frames_and_rest_still_answers(
    make_env: MakeEnv,
) -> None:
    env = await make_env(web={"max_feeds_per_user": 1000})
    for cam in range(CAMERAS_N):
        await announce(env, cam)
    token = env.tokens["viewer"]
    url = env.client.make_url
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def view(i: int) -> tuple[int, aiohttp.ClientWebSocketResponse]:
            cam = i % CAMERAS_N
            ws = await http.ws_connect(
                url(f"/ws/video-streams/{key(cam)}"),
                params={"token": token},
                headers={"Origin": ORIGIN},
            )
            hello = await ws.receive_json(timeout=30)
            assert hello == {"type": "hello", "stream": key(cam)}
            return cam, ws

        async def rest() -> list[int]:
            codes = []
            for _ in range(10):
                r = await http.get(url("/api/video-streams"), headers=env.auth("viewer"))
                codes.append(r.status)
                r.release()
                await asyncio.sleep(0.01)
            return codes

        views = asyncio.gather(*(view(i) for i in range(VIEWS)))
        rests = asyncio.gather(*(rest() for _ in range(5)))
        opened, codes = await views, await rests
        assert {c for run in codes for c in run} == {200}
        hub = env.app[CAMERA_HUB]
        await wait_for(lambda: sum(hub.watching(key(c)) for c in range(CAMERAS_N)) == VIEWS)
        assert hub.readers == 1
        await asyncio.sleep(0.3)  # the reader's XREAD names every stream by now
        for n in range(3):
            for cam in range(CAMERAS_N):
                await put_frame(env, n, cam)

            async def frame(cam: int, ws: aiohttp.ClientWebSocketResponse, n: int = n) -> None:
                while True:  # latest-wins: a frame may be skipped, never another camera's
                    msg = await ws.receive(timeout=10)
                    assert msg.type == aiohttp.WSMsgType.BINARY, msg
                    assert msg.data[2] == cam % 256, "another camera's frame"
                    if msg.data == jpeg(n, cam):
                        return

            await asyncio.gather(*(frame(cam, ws) for cam, ws in opened))
        clients = await env.redis.client_list()
        readers = [c for c in clients if c.get("name", "").endswith(":camera")]
        assert len(readers) == 1, readers  # one connection reads every camera
        r = await http.get(url("/api/video-streams"), headers=env.auth("viewer"))
        assert r.status == 200 and len((await r.json())["items"]) == CAMERAS_N
        for _, ws in opened:
            await ws.close()
    await wait_for(lambda: hub.readers == 0)
