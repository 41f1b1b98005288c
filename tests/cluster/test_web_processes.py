"""Several `robodine web` processes on one box: one port (web.reuse_port), consumer names
unique per process, one chat allowance per user over every process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import redis.asyncio as aioredis

from config import Settings
from protocol.streams import EVENTS
from robodine.redisio.group import GroupReader
from simulator.fleet_config import fleet_toml
from tests.cluster.procs import login, web
from tests.servers import RedisServer, free_port
from tests.support.replies import RawStreams
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]


async def test_two_web_processes_share_a_port_and_split_nothing_they_should_share(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    config = tmp_path / "site.toml"
    config.write_text(fleet_toml(3, Settings()))
    url = redis_private.url
    port = free_port()
    shared = {"ROBODINE_WEB_REUSE_PORT": "true", "ROBODINE_CHAT_BURST": "3"}
    redis = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        with (
            web(
                config, "web-a", url, tmp_path, port=port, env=shared, users={"chef": "staff"}
            ) as a,
            web(config, "web-b", url, tmp_path, port=port, env=shared) as b,
        ):
            base = f"http://127.0.0.1:{port}"
            seen: set[str] = set()
            for _ in range(60):  # a new connection each: the kernel spreads them
                async with aiohttp.ClientSession() as http, http.get(base + "/health") as r:
                    seen.add((await r.json())["server"])
                if seen == {"web-a", "web-b"}:
                    break
            assert seen == {"web-a", "web-b"}

            # each process one consumer of each group, named {web.name}:{host}:{pid}
            host = socket.gethostname()
            want = {f"web-a:{host}:{a.pid}", f"web-b:{host}:{b.pid}"}

            async def consumers(group: str) -> set[str]:
                try:
                    return {c["name"] for c in await redis.xinfo_consumers(EVENTS, group)}
                except aioredis.ResponseError:
                    return set()

            for group in ("projector", "alarms", "commands"):
                await wait_for(partial(_equal, consumers, group, want), timeout=30)

            # three posts at once (chat.burst), then refused, whichever process takes them
            async with aiohttp.ClientSession() as http:
                token = await login(http, base, "chef")
            async with contextlib.AsyncExitStack() as stack:
                sockets = [await _chat_on(stack, base, name, token) for name in ("web-a", "web-b")]
                outcomes = []
                for i in range(4):
                    ws = sockets[i % 2]
                    await ws.send_json({"content": f"message {i}"})
                    while True:
                        f = await ws.receive_json(timeout=10)
                        if f["type"] == "message" and f["content"] == f"message {i}":
                            outcomes.append("message")
                            break
                        if f["type"] == "error":
                            outcomes.append(f["code"])
                            break
            assert outcomes == ["message", "message", "message", "rate_limited"]
            assert await redis.exists("rd:chatrate:chef")
    finally:
        await redis.aclose()


async def _equal(read: Callable[[str], Awaitable[set[str]]], group: str, want: set[str]) -> bool:
    return await read(group) == want


async def _chat_on(
    stack: contextlib.AsyncExitStack, base: str, server: str, token: str
) -> aiohttp.ClientWebSocketResponse:
    """A chat socket on the process named ``server``: a session of one connection asks
    /health, and the upgrade reuses that kept-alive connection."""
    for _ in range(60):
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
        async with http.get(base + "/health") as r:
            name = (await r.json())["server"]
        if name == server:
            stack.push_async_callback(http.close)
            ws = await http.ws_connect(
                f"{base}/ws/chat/kitchen", params={"token": token}, headers={"Origin": base}
            )
            stack.push_async_callback(ws.close)
            assert (await ws.receive_json(timeout=10))["type"] == "history"
            return ws
        await http.close()
    raise AssertionError(f"no connection reached {server}")


async def test_a_previous_runs_idle_consumer_with_nothing_pending_is_forgotten(
    redis_client: aioredis.Redis,
) -> None:
    stream, group = "rd:test-forget", "g"
    await redis_client.xadd(stream, {"a": "1"})
    old = GroupReader(
        redis_client, stream, group, "web-1:box:100", count=10, claim_idle_ms=0, block_ms=0
    )
    await old.ensure_group()
    got = cast(
        RawStreams, await redis_client.xreadgroup(group, "web-1:box:100", {stream: ">"}, count=10)
    )
    busy = got[0][1][0][0]
    await redis_client.xadd(stream, {"a": "2"})
    done = cast(
        RawStreams, await redis_client.xreadgroup(group, "web-1:box:101", {stream: ">"}, count=10)
    )
    await redis_client.xack(stream, group, done[0][1][0][0])  # 101: read, nothing pending
    await asyncio.sleep(0.05)
    new = GroupReader(
        redis_client, stream, group, "web-1:box:102", count=10, claim_idle_ms=0, block_ms=0
    )
    assert await new.forget_idle(10) == ["web-1:box:101"]
    names = {c["name"] for c in await redis_client.xinfo_consumers(stream, group)}
    assert names == {b"web-1:box:100"}  # it holds an entry: kept until that is taken over
    claimed: list[object] = []

    async def take(entries: list[tuple[Any, dict[Any, Any]]]) -> None:
        claimed.extend(e[0] for e in entries)

    await new.claim(take)
    assert claimed == [busy]
