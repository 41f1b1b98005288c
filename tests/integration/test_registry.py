"""Robots added, re-keyed and removed through rd:registry, without restarting the gateway."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Sized
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from protocol import streams
from protocol.messages import Error, Welcome
from protocol.sealing import seal
from protocol.vocabulary import ErrorCode, RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.integration import events
from tests.support.registry import DATA_KEY, changes, sync
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


async def put(
    r: aioredis.Redis, robot: str, key: bytes, kind: str = "serving", data_key: bytes = DATA_KEY
) -> None:
    entry = streams.RegistryEntry(
        id=robot,
        kind=kind,
        name=robot.title(),
        key=seal(data_key, robot, key, uuid.uuid4().bytes[:12]),
    )
    await r.hset(streams.REGISTRY, robot, msgspec.json.encode(entry))


async def test_add_rekey_and_remove_a_robot_live(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = gateway_settings(redis_server.url, tmp_path, data={"key": DATA_KEY.hex()})
    key1, key2 = bytes([7]) * 32, bytes([8]) * 32
    await put(redis_client, "tray-9", key1)  # present at start: loaded with the registry
    async with run_gateway(settings) as gw:
        bot = TestRobot("tray-9", RobotKind.SERVING, gw.tcp_port, key=key1)
        assert isinstance(await bot.connect(), Welcome)
        snap = await wait_for(lambda: redis_client.hgetall(streams.robot_key("tray-9")))
        assert snap[b"name"] == b"Tray-9" and snap[b"kind"] == b"serving"

        await put(redis_client, "tray-9", key2)  # re-keyed through the API
        await sync(redis_client, "tray-9")
        err = await bot.recv()
        assert isinstance(err, Error) and err.code == ErrorCode.AUTH_FAILED
        old = TestRobot("tray-9", RobotKind.SERVING, gw.tcp_port, key=key1)
        assert isinstance(await old.connect(), Error)  # the old key no longer works
        new = TestRobot("tray-9", RobotKind.SERVING, gw.tcp_port, key=key2)
        assert isinstance(await new.connect(), Welcome)

        await redis_client.hdel(streams.REGISTRY, "tray-9")
        await sync(redis_client, "tray-9")
        err = await new.recv()
        assert isinstance(err, Error) and err.code == ErrorCode.UNKNOWN_ROBOT
        again = TestRobot("tray-9", RobotKind.SERVING, gw.tcp_port, key=key2)
        assert isinstance(await again.connect(), Error)
        await wait_for(lambda: _n(changes(redis_client), 3))
        assert await changes(redis_client) == [
            ("tray-9", "added"),
            ("tray-9", "updated"),
            ("tray-9", "removed"),
        ]
        for b in (bot, old, new, again):
            await b.close()


async def _n(coro: Awaitable[Sized], n: int) -> bool:
    return len(await coro) >= n


async def test_bad_entries_are_refused_with_an_alarm(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = gateway_settings(redis_server.url, tmp_path, data={"key": DATA_KEY.hex()})
    async with run_gateway(settings):
        await put(redis_client, "wrong-key", bytes(32), data_key=bytes(32))  # sealed elsewhere
        await sync(redis_client, "wrong-key")
        await redis_client.hset(streams.REGISTRY, "junk", b"{not json")
        await sync(redis_client, "junk")
        await put(redis_client, "serve-1", bytes(32))  # a config-file robot: the file wins
        await sync(redis_client, "serve-1")
        refused = await wait_for(lambda: _refused(redis_client, 3))
        assert "sealed under data key" in refused["wrong-key"]
        assert "unreadable" in refused["junk"]
        assert "config file" in refused["serve-1"]


async def _refused(r: aioredis.Redis, n: int) -> dict[str, str]:
    out = {
        e["data"]["robot"]: e["data"]["reason"]
        for e in await events(r, "registry.changed")
        if e["data"]["change"] == "refused" and e["level"] == "alarm"
    }
    return out if len(out) >= n else {}


async def test_during_a_rotation_both_keys_open(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    new_key = bytes(range(200, 232))
    settings = gateway_settings(
        redis_server.url, tmp_path, data={"key": new_key.hex(), "previous_key": DATA_KEY.hex()}
    )
    await put(redis_client, "old-seal", bytes([1]) * 32)  # not re-sealed yet
    await put(redis_client, "new-seal", bytes([2]) * 32, data_key=new_key)
    async with run_gateway(settings) as gw:
        for robot, key in (("old-seal", bytes([1]) * 32), ("new-seal", bytes([2]) * 32)):
            bot = TestRobot(robot, RobotKind.SERVING, gw.tcp_port, key=key)
            assert isinstance(await bot.connect(), Welcome)
            await bot.close()
    assert sorted(await changes(redis_client)) == [("new-seal", "added"), ("old-seal", "added")]


async def test_without_a_data_key_registry_robots_are_refused(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    await put(redis_client, "tray-1", bytes(32))
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)):
        refused = await wait_for(lambda: _refused(redis_client, 1))
        assert "ROBODINE_DATA_KEY" in refused["tray-1"]
