"""The robot registry's change feed as the integration tests read it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
import redis.asyncio as aioredis

from protocol import streams
from protocol.sealing import seal
from tests.support.integration import events
from tests.support.replies import as_fields

DATA_KEY = bytes(range(100, 132))


async def sync(r: aioredis.Redis, robot: str) -> None:
    rec = streams.CommandRecord(
        id=uuid.uuid4().hex,
        robot="",
        action="sync",
        ts=time.time(),
        type="registry.sync",
        args={"robot": robot},
    )
    await r.xadd(streams.COMMANDS, as_fields(streams.to_fields(rec)))


async def changes(r: aioredis.Redis) -> list[tuple[str, str]]:
    return [(e["data"]["robot"], e["data"]["change"]) for e in await events(r, "registry.changed")]


async def put(
    r: aioredis.Redis,
    robot: str,
    transport: str,
    vda: dict[str, Any] | None = None,
    kind: str = "serving",
) -> None:
    entry = streams.RegistryEntry(
        id=robot,
        kind=kind,
        name=robot.title(),
        transport=transport,
        vda=msgspec.convert(vda, streams.RegistryVda) if vda else None,
        key=seal(DATA_KEY, robot, bytes(32), uuid.uuid4().bytes[:12]),
    )
    await r.hset(streams.REGISTRY, robot, msgspec.json.encode(entry))
