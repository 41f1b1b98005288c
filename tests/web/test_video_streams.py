"""/api/video-streams: the camera list, snapshots, MJPEG and WebSocket live views, auth."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from aiohttp import WSMsgType

from protocol.camera_chunks import CameraSender
from protocol.cameras import CameraInfo
from protocol.messages import Camera, Welcome
from protocol.streams import CAMERAS, camera_stream, record_key
from protocol.vocabulary import RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.web import ORIGIN, MakeEnv, WebEnv
from tests.waiting import wait_for
from web.cameras.context import CAMERA_HUB

pytestmark = pytest.mark.integration

KEY = "serve-1:front"


def jpeg(n: int, size: int = 2000) -> bytes:
    return b"\xff\xd8" + (n.to_bytes(4, "big") * size)[: size - 4] + b"\xff\xd9"


async def announce(env: WebEnv, state: str = "live", key: str = KEY) -> None:
    robot, camera = key.split(":")
    status = {
        "robot": robot,
        "camera": camera,
        "width": 640,
        "height": 480,
        "fps": 10.0,
        "state": state,
        "frames": 3,
        "dropped": 1,
        "bytes": 6000,
        "last_frame": time.time(),
        "announced": time.time(),
    }
    await env.redis.hset(CAMERAS, key, msgspec.json.encode(status))


async def put_frame(env: WebEnv, n: int, key: str = KEY, size: int = 2000) -> None:
    robot, camera = key.split(":")
    await env.redis.xadd(
        camera_stream(robot, camera),
        {
            "robot": robot,
            "camera": camera,
            "frame": n,
            "ts": 100.0 + n,
            "rx": time.time(),
            "jpeg": jpeg(n, size),
        },
        maxlen=30,
    )


class Parts:
    """Reads a multipart/x-mixed-replace body part by part."""

    def __init__(self, resp: Any) -> None:
        self.resp = resp
        self.buf = b""

    async def next(self, timeout: float = 5.0) -> tuple[dict[str, str], bytes]:
        async with asyncio.timeout(timeout):
            while True:
                start = self.buf.find(b"--robodine-frame\r\n")
                head_end = self.buf.find(b"\r\n\r\n", start)
                if start >= 0 and head_end > 0:
                    lines = self.buf[start:head_end].decode().split("\r\n")[1:]
                    headers = dict(line.split(": ", 1) for line in lines)
                    n = int(headers["Content-Length"])
                    body_at = head_end + 4
                    if len(self.buf) >= body_at + n + 2:
                        body = self.buf[body_at : body_at + n]
                        assert self.buf[body_at + n : body_at + n + 2] == b"\r\n"
                        self.buf = self.buf[body_at + n + 2 :]
                        return headers, body
                chunk = await self.resp.content.readany()
                assert chunk, "the stream ended"
                self.buf += chunk


async def test_the_list_one_camera_and_the_snapshot(make_env: MakeEnv) -> None:
    env = await make_env()
    await announce(env)
    await announce(env, "off", "cook-1:pot")
    r = await env.client.get("/api/video-streams", headers=env.auth("viewer"))
    assert r.status == 200
    items = (await r.json())["items"]
    assert [(i["id"], i["state"]) for i in items] == [("cook-1:pot", "off"), (KEY, "live")]
    front = items[1]
    assert (front["robot"], front["camera"], front["width"], front["fps"]) == (
        "serve-1",
        "front",
        640,
        10.0,
    )
    assert front["live"] == f"/api/video-streams/{KEY}/live"
    assert front["websocket"] == f"/ws/video-streams/{KEY}"
    assert front["last_frame"].endswith("Z")
    r = await env.client.get(f"/api/video-streams/{KEY}", headers=env.auth("viewer"))
    assert r.status == 200 and (await r.json())["id"] == KEY
    r = await env.client.get(f"/api/video-streams/{KEY}/snapshot.jpg", headers=env.auth("viewer"))
    assert r.status == 404 and (await r.json())["code"] == "no_frame"
    for n in range(3):
        await put_frame(env, n)
    token = env.tokens["viewer"]
    r = await env.client.get(f"/api/video-streams/{KEY}/snapshot.jpg?token={token}")
    assert r.status == 200 and r.content_type == "image/jpeg"
    assert await r.read() == jpeg(2)
    assert r.headers["X-Frame-Id"] == "2" and r.headers["Cache-Control"] == "no-store"
    for path in (
        "/api/video-streams/serve-1:nope",
        "/api/video-streams/serve-1:nope/snapshot.jpg",
        "/api/video-streams/no-colon",
    ):
        r = await env.client.get(path, headers=env.auth("viewer"))
        assert r.status == 404, path


async def test_every_route_needs_a_token_and_live_views_check_the_origin(
    make_env: MakeEnv,
) -> None:
    env = await make_env()
    await announce(env)
    await put_frame(env, 1)
    base = f"/api/video-streams/{KEY}"
    for path in (
        "/api/video-streams",
        base,
        f"{base}/snapshot.jpg",
        f"{base}/live",
        f"/ws/video-streams/{KEY}",
    ):
        r = await env.client.get(path)
        assert r.status == 401, path
        r = await env.client.get(path, params={"token": "not-a-token"})
        assert r.status == 401, path
    for path in (f"{base}/live", f"/ws/video-streams/{KEY}"):
        r = await env.client.get(
            path, params={"token": env.tokens["viewer"]}, headers={"Origin": "http://evil.test"}
        )
        assert r.status == 403 and (await r.json())["code"] == "origin_not_allowed", path
    r = await env.client.post(f"{base}/record", json={"minutes": 1})
    assert r.status == 401
    r = await env.client.post(f"{base}/record", json={"minutes": 1}, headers=env.auth("viewer"))
    assert r.status == 403
    r = await env.client.post(
        "/api/video-streams/serve-1:nope/record", json={"minutes": 1}, headers=env.auth("staff")
    )
    assert r.status == 404
    r = await env.client.post(f"{base}/record", json={"minutes": 0}, headers=env.auth("staff"))
    assert r.status == 422


async def test_record_sets_how_long_each_camera_is_recorded(make_env: MakeEnv) -> None:
    env = await make_env()
    await announce(env)
    await announce(env, key="serve-1:tray")
    await announce(env, key="serve-2:front")
    r = await env.client.post(
        f"/api/video-streams/{KEY}/record",
        json={"minutes": 2, "all_cameras": True},
        headers=env.auth("staff"),
    )
    assert r.status == 202
    body = await r.json()
    assert body["cameras"] == ["serve-1:front", "serve-1:tray"]
    until = float(cast(bytes, await env.redis.get(record_key("serve-1", "tray"))))
    assert 100 < until - time.time() <= 120
    assert 100 < await env.redis.ttl(record_key("serve-1", "front")) <= 125
    assert await env.redis.get(record_key("serve-2", "front")) is None


async def test_mjpeg_shows_changing_frames(make_env: MakeEnv) -> None:
    env = await make_env()
    await announce(env)
    await put_frame(env, 0)
    r = await env.client.get(
        f"/api/video-streams/{KEY}/live",
        params={"token": env.tokens["viewer"]},
        headers={"Origin": ORIGIN},
    )
    assert r.status == 200
    assert r.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=robodine-frame"
    parts = Parts(r)
    headers, body = await parts.next()
    assert body == jpeg(0) and headers["Content-Type"] == "image/jpeg"  # the newest at once
    for n in (1, 2, 3):
        await put_frame(env, n)
        headers, body = await parts.next()
        assert body == jpeg(n) and headers["X-Frame-Id"] == str(n)
    r.close()
    await wait_for(lambda: env.app[CAMERA_HUB].watching(KEY) == 0)


async def test_the_websocket_sends_each_frame_as_a_binary_message(make_env: MakeEnv) -> None:
    env = await make_env()
    await announce(env)
    ws = await env.ws(f"/ws/video-streams/{KEY}", "viewer")
    hello = await ws.receive(timeout=3)
    assert hello.type is WSMsgType.TEXT and msgspec.json.decode(hello.data) == {
        "type": "hello",
        "stream": KEY,
    }
    for n in range(3):
        await put_frame(env, n)
        msg = await ws.receive(timeout=3)
        assert msg.type is WSMsgType.BINARY and msg.data == jpeg(n)
    await ws.send_str('{"type":"ping"}')
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.TEXT and msg.data == '{"type":"pong"}'
    await ws.send_str('{"type":"subscribe"}')
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.CLOSE and ws.close_code == 1003


async def test_many_viewers_cost_one_read_per_frame(make_env: MakeEnv) -> None:
    env = await make_env()
    await announce(env)
    sockets = [await env.ws(f"/ws/video-streams/{KEY}", "viewer") for _ in range(5)]
    for ws in sockets:
        await ws.receive(timeout=3)  # hello
    await wait_for(lambda: env.app[CAMERA_HUB].watching(KEY) == 5)
    await asyncio.sleep(0.2)  # the reader's first XREAD is in
    for n in range(10):
        await put_frame(env, n)
        for ws in sockets:
            msg = await ws.receive(timeout=3)
            assert msg.data == jpeg(n)
    assert env.app[CAMERA_HUB].reads(KEY) == 10  # one XREAD per frame for five viewers
    for ws in sockets:
        await ws.close()


async def test_a_slow_viewer_gets_the_newest_frame_not_a_backlog(make_env: MakeEnv) -> None:
    env = await make_env()
    await announce(env)
    r = await env.client.get(
        f"/api/video-streams/{KEY}/live", params={"token": env.tokens["viewer"]}
    )
    parts = Parts(r)
    await put_frame(env, 0, size=40_000)
    assert (await parts.next())[1] == jpeg(0, 40_000)
    for n in range(1, 201):  # 8 MB the client does not read
        await put_frame(env, n, size=40_000)
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.3)
    received: list[int] = []
    while not received or received[-1] != 200:
        headers, _ = await parts.next()
        received.append(int(headers["X-Frame-Id"]))
    # what the socket buffers held, then the newest: not the 200 frames one by one
    assert len(received) < 60, received
    r.close()


async def test_through_the_real_gateway_frames_arrive_intact(
    make_env: MakeEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = await make_env()
    settings = gateway_settings(
        redis_server.url,
        tmp_path,
        gateway={"heartbeat_s": 1.0, "stale_after_s": 5.0, "offline_after_s": 10.0},
    )
    async with run_gateway(settings) as gw:
        bot = TestRobot("serve-1", RobotKind.SERVING, gw.tcp_port, gw.udp_port)
        welcome = await bot.connect()
        assert isinstance(welcome, Welcome) and welcome.camera_port
        bot.send(
            Camera(
                robot="serve-1",
                seq=bot.next_seq(),
                cameras=[CameraInfo(id="front", width=640, height=480, fps=10)],
            )
        )

        async def listed() -> bool:
            r = await env.client.get("/api/video-streams", headers=env.auth("viewer"))
            return [i["id"] for i in (await r.json())["items"]] == [KEY]

        await wait_for(listed)
        ws = await env.ws(f"/ws/video-streams/{KEY}", "viewer")
        await ws.receive(timeout=3)
        await wait_for(lambda: env.app[CAMERA_HUB].watching(KEY) == 1)
        await asyncio.sleep(0.2)
        sender = CameraSender("serve-1", bot.key)
        for n in range(3):
            for chunk in sender.frame("front", jpeg(n, 30_000), time.time()):
                bot.udp_raw(chunk, welcome.camera_port)
            msg = await ws.receive(timeout=5)
            assert msg.type is WSMsgType.BINARY and msg.data == jpeg(n, 30_000)
        await wait_for(lambda: _live(env))
        await ws.close()
        await bot.close()


async def _live(env: WebEnv) -> bool:
    r = await env.client.get(f"/api/video-streams/{KEY}", headers=env.auth("viewer"))
    body = await r.json()
    return bool(body["state"] == "live" and body["frames"] == 3)
