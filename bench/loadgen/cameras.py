"""Camera robots and video viewers in processes of their own (bench scenario `camera`).

``CameraRobots``: each robot makes a real TCP hello, announces one camera,
heartbeats, and sends a distinct frame of ``size`` bytes ``fps`` times a second
as signed chunks to the camera port its welcome names. ``Viewers``: WebSocket
clients of /ws/video-streams/{id}, ``per_camera`` for each camera, counting the
binary messages (frames) and bytes they receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from bench.loadgen.child import Child, run_child, serve_pipe
from protocol.camera_chunks import CameraSender
from protocol.cameras import CameraInfo
from protocol.messages import Camera, Challenge, Heartbeat, Welcome
from protocol.tcp import NEED_DATA, RobotConnection
from protocol.vocabulary import RobotKind

__all__ = ["CameraRobots", "Viewers"]


class CameraRobots(Child):
    def __init__(
        self, port: int, robots: list[tuple[str, str, bytes]], fps: float, size: int
    ) -> None:
        super().__init__(_robots_main, port, robots, fps, size, name="bench-camera-robots")


def _robots_main(conn: Connection, *args: Any) -> None:
    run_child(conn, lambda c: _robots(c, *args))


async def _robots(
    conn: Connection, port: int, robots: list[tuple[str, str, bytes]], fps: float, size: int
) -> None:
    links: list[tuple[str, bytes, asyncio.StreamWriter, RobotConnection, int]] = []
    sending = asyncio.Event()
    sent = {"frames": 0, "chunks": 0}

    async def connect() -> dict[str, Any]:
        for robot, kind, key in robots:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            codec = RobotConnection(robot, RobotKind(kind), key, secrets.token_hex(16))
            challenge = await _next(reader, codec)
            assert isinstance(challenge, Challenge)
            writer.write(codec.hello(challenge, time.time()))
            welcome = await _next(reader, codec)
            if not isinstance(welcome, Welcome) or not welcome.camera_port:
                raise RuntimeError(f"{robot}: no welcome with a camera port: {welcome!r}")
            info = CameraInfo(id="front", width=640, height=480, fps=fps)
            writer.write(codec.send(Camera(robot=robot, seq=1, cameras=[info])))
            links.append((robot, key, writer, codec, welcome.camera_port))
            asyncio.get_running_loop().create_task(_drain(reader, codec))
        return {"connected": len(links)}

    async def beat() -> None:
        seq = 1
        while True:
            await asyncio.sleep(0.5)
            seq += 1
            for robot, _, writer, codec, _ in links:
                writer.write(codec.send(Heartbeat(robot=robot, seq=seq, ts=time.time())))

    async def send() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        sock.setblocking(False)
        senders = [
            (CameraSender(robot, key), ("127.0.0.1", cport)) for robot, key, _, _, cport in links
        ]
        n, period = 0, 1.0 / fps
        next_at = time.monotonic()
        # Robots' cameras run on their own clocks: each one's frames come at its own
        # phase of the period, not all twenty in the same millisecond.
        step = period / max(1, len(senders))
        while True:
            await sending.wait()
            for i, (sender, addr) in enumerate(senders):
                await asyncio.sleep(max(0.0, next_at + i * step - time.monotonic()))
                frame = b"\xff\xd8" + n.to_bytes(8, "big") * ((size - 4) // 8) + b"\xff\xd9"
                chunks = sender.frame("front", frame, time.time())
                for chunk in chunks:
                    try:
                        sock.sendto(chunk, addr)
                    except BlockingIOError:
                        await asyncio.sleep(0.0005)
                        sock.sendto(chunk, addr)
                sent["chunks"] += len(chunks)
                sent["frames"] += 1
            n += 1
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if next_at < time.monotonic() - period:
                next_at = time.monotonic()

    tasks: list[asyncio.Task[None]] = []

    async def handle(request: str, arg: Any) -> Any:
        if request == "connect":
            out = await connect()
            tasks.extend([asyncio.create_task(beat()), asyncio.create_task(send())])
            return out
        if request == "start":
            sending.set()
            return True
        if request == "pause":
            sending.clear()
            return True
        if request == "status":
            return dict(sent)
        raise ValueError(request)

    await serve_pipe(conn, handle)
    for t in tasks:
        t.cancel()


async def _next(reader: asyncio.StreamReader, codec: RobotConnection) -> Any:
    while True:
        msg = codec.next_event()
        if msg is not NEED_DATA:
            return msg
        data = await asyncio.wait_for(reader.read(65536), 10)
        if not data:
            raise ConnectionError("gateway closed the connection")
        codec.receive_data(data)


async def _drain(reader: asyncio.StreamReader, codec: RobotConnection) -> None:
    while data := await reader.read(65536):
        codec.receive_data(data)
        while codec.next_event() is not NEED_DATA:
            pass


class Viewers(Child):
    def __init__(self, port: int, token: str, cameras: list[str], per_camera: int) -> None:
        super().__init__(
            _viewers_main, port, token, cameras, per_camera, name="bench-camera-viewers"
        )


def _viewers_main(conn: Connection, *args: Any) -> None:
    run_child(conn, lambda c: _viewers(c, *args))


async def _viewers(
    conn: Connection, port: int, token: str, cameras: list[str], per_camera: int
) -> None:
    counts: dict[str, Any] = {"frames": 0, "bytes": 0, "open": 0, "closes": 0, "errors": []}
    per: list[int] = []
    window: dict[str, float] = {"t0": time.monotonic(), "frames": 0}
    all_open = asyncio.Event()
    opening = asyncio.Semaphore(20)  # viewers arrive in small waves, as people do
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, camera: str) -> None:
        url = f"http://127.0.0.1:{port}/ws/video-streams/{camera}?token={token}"
        try:
            await opening.acquire()
            try:
                ws = await session.ws_connect(url, max_msg_size=0)
            finally:
                opening.release()
            async with ws:
                counts["open"] += 1
                if counts["open"] == len(per):
                    all_open.set()
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.BINARY:
                        per[i] += 1
                        counts["frames"] += 1
                        counts["bytes"] += len(msg.data)
        except (aiohttp.ClientError, OSError) as exc:
            if len(counts["errors"]) < 5:
                counts["errors"].append(repr(exc))
        counts["closes"] += 1

    async def handle(request: str, arg: Any) -> Any:
        if request == "connect":
            for camera in cameras:
                for _ in range(per_camera):
                    per.append(0)
                    tasks.append(asyncio.create_task(one(len(per) - 1, camera)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_open.wait(), 30)
            return {"connected": counts["open"], "errors": counts["errors"]}
        if request == "start":
            window.update(t0=time.monotonic(), frames=counts["frames"])
            for i in range(len(per)):
                per[i] = 0
            return True
        if request == "window":
            elapsed = time.monotonic() - window["t0"]
            frames = counts["frames"] - window["frames"]
            return {
                "frames_s": round(frames / elapsed, 1) if elapsed else 0.0,
                "per_viewer_fps": [round(min(per) / elapsed, 2), round(max(per) / elapsed, 2)]
                if per and elapsed
                else [0, 0],
                "bytes": counts["bytes"],
                "closes": counts["closes"],
                "errors": counts["errors"],
            }
        raise ValueError(request)

    await serve_pipe(conn, handle)
    for t in tasks:
        t.cancel()
    await session.close()
