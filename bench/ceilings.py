"""Bare aiohttp servers, the ceilings the web tier is judged against (same loop: uvloop).

- ``hello``: GET /hello answers a small JSON object: aiohttp's own request cost.
- ``broadcast``: GET /ws upgrades; one loop sends the same telemetry message
  to every open socket, round after round, as fast as the sockets take it:
  aiohttp's own WebSocket send cost, with no Redis, no queues, no auth. The
  message holds SAMPLES telemetry frames: one frame as is, several as the web
  tier's ``batch`` message (docs/api.md section 5), built once per round.

Run as ``python -m bench.ceilings hello PORT`` or ``... broadcast PORT CLIENTS
[SAMPLES]`` (the broadcast starts once CLIENTS sockets are open, so they all
connect to an idle server, as they do to the web tier).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvloop
from aiohttp import WSMsgType, web

HELLO = {"hello": "world"}


def telemetry_frame(seq: int = 1, robot: int = 1) -> dict[str, Any]:
    """A frame shaped and sized like the web tier's telemetry frames."""
    return {
        "type": "telemetry",
        "id": f"{int(time.time() * 1000)}-{seq}",
        "sample": {
            "robot": f"serve-{robot:04d}",
            "seq": seq,
            "ts": time.time(),
            "x": 12.345,
            "y": 6.789,
            "theta": 1.234,
            "battery": 87.5,
            "speed": 0.61,
            "transport": "udp",
            "rx": time.time(),
        },
    }


def telemetry_message(seq: int = 1, samples: int = 1) -> bytes:
    """One message of ``samples`` telemetry frames, as the web tier sends it."""
    if samples == 1:
        return orjson.dumps(telemetry_frame(seq))
    return orjson.dumps(
        {"type": "batch", "frames": [telemetry_frame(seq, r + 1) for r in range(samples)]}
    )


def hello_app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response(HELLO)

    app = web.Application()
    app.router.add_get("/hello", hello)
    return app


def broadcast_app(expected: int = 1, samples: int = 1) -> web.Application:
    clients: set[web.WebSocketResponse] = set()
    everyone_in = asyncio.Event()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        clients.add(ws)
        if len(clients) >= expected:
            everyone_in.set()
        try:
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
        return ws

    async def broadcast(app: web.Application) -> None:
        seq = 0
        await everyone_in.wait()
        while True:
            if not clients:
                await asyncio.sleep(0.01)
                continue
            seq += 1
            message = telemetry_message(seq, samples)
            for ws in list(clients):
                if not ws.closed:
                    try:
                        await ws.send_frame(message, WSMsgType.TEXT)
                    except ConnectionError:
                        clients.discard(ws)
            await asyncio.sleep(0)

    async def background(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(broadcast(app))
        yield
        task.cancel()

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    app.cleanup_ctx.append(background)
    return app


def main(argv: list[str]) -> int:
    kind, port = argv[0], int(argv[1])
    app = hello_app() if kind == "hello" else broadcast_app(*map(int, argv[2:4]))
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        handle_signals=True,
        loop=uvloop.new_event_loop(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
