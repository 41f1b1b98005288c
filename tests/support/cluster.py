"""Two or more gateways sharing one Redis: settings, leases, the leader and its outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from protocol import cluster, streams
from protocol.streams import CommandRecord
from tests.robot import TestRobot
from tests.support.gateway import RunningGateway, gateway_settings, run_gateway

TTL = 1.0


def cluster_settings(url: str, tmp_path: Path, name: str, **overrides: Any) -> Any:
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    overrides.setdefault("tcp", {"handshake_timeout_s": TTL * 3})
    overrides["gateway"] = {**overrides.get("gateway", {}), "name": name}
    overrides.setdefault("cluster", {"enabled": True, "lease_ttl_s": TTL})
    return gateway_settings(url, tmp_path / name, **overrides)


@contextlib.asynccontextmanager
async def two_gateways(
    url: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    async with (
        run_gateway(cluster_settings(url, tmp_path, "gw-a", **overrides)) as a,
        run_gateway(cluster_settings(url, tmp_path, "gw-b", **overrides)) as b,
    ):
        yield a, b


async def alive(robot: TestRobot, seconds: float) -> None:
    """Heartbeat for ``seconds``: a quiet robot would be taken offline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        robot.heartbeat()
        await asyncio.sleep(0.1)


async def post(redis: aioredis.Redis, robot: str, action: str = "goto", **kw: Any) -> str:
    """XADD a command as the web does; returns its id."""
    rec = CommandRecord(
        id=uuid.uuid4().hex,
        robot=robot,
        action=action,
        ts=time.time(),
        args=kw.pop("args", {"x": 1.0, "y": 2.0}),
        expires=time.time() + 30,
        source="test",
        **kw,
    )
    await redis.xadd(streams.COMMANDS, streams.to_fields(rec))  # type: ignore[arg-type]
    return rec.id


async def outcomes(redis: aioredis.Redis, command: str) -> list[dict[str, Any]]:
    out = []
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(streams.EVENTS)  # type: ignore[assignment]
    for _, f in entries:
        rec = streams.from_fields(streams.EventRecord, f)
        if rec.data.get("command") == command and rec.type in ("command.acked", "command.failed"):
            out.append({"type": rec.type, "src": rec.src, **rec.data})
    return out


async def leader(redis: aioredis.Redis) -> str:
    holder = cluster.parse_holder(await redis.get(cluster.LEADER))
    return holder.gateway if holder else ""
