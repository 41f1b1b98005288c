"""Two or more gateways sharing one Redis: settings, leases, the leader and its outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis

from config import Settings
from protocol import cluster, streams
from protocol.messages import Ack
from protocol.mqtt_topics import decode_command
from protocol.streams import CommandRecord
from robodine.redisio import sentinel
from robodine.testing.servers import RedisServer, SentinelServer, sentinel_url
from tests.integration.mqtt_support import ScriptedRobot, mqtt_settings
from tests.robot import TestRobot
from tests.support.gateway import RunningGateway, gateway_settings, run_gateway
from tests.support.replies import RawEntries, as_fields
from tests.waiting import wait_for

TTL = 1.0


def cluster_settings(url: str, tmp_path: Path, name: str, **overrides: Any) -> Settings:
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
    await redis.xadd(streams.COMMANDS, as_fields(streams.to_fields(rec)))
    return rec.id


async def outcomes(redis: aioredis.Redis, command: str) -> list[dict[str, Any]]:
    out = []
    entries = cast(RawEntries, await redis.xrange(streams.EVENTS))
    for _, f in entries:
        rec = streams.from_fields(streams.EventRecord, f)
        if rec.data.get("command") == command and rec.type in ("command.acked", "command.failed"):
            out.append({"type": rec.type, "src": rec.src, **rec.data})
    return out


async def leader(redis: aioredis.Redis) -> str:
    holder = cluster.parse_holder(await redis.get(cluster.LEADER))
    return holder.gateway if holder else ""


class Site:
    def __init__(
        self, master: RedisServer, replica: RedisServer, sentinels: list[SentinelServer]
    ) -> None:
        self.master, self.replica, self.sentinels = master, replica, sentinels
        self.url = sentinel_url(sentinels)


@contextlib.contextmanager
def sentinel_site(tmp_path: Path) -> Iterator[Site]:
    master = RedisServer(aof=False, log=tmp_path / "master.log")
    master.start()
    replica = RedisServer(aof=False, replica_of=master.port, log=tmp_path / "replica.log")
    replica.start()
    sentinels = [
        SentinelServer(master.port, replicas=(replica.port,), log=tmp_path / f"sentinel-{i}.log")
        for i in range(3)
    ]
    try:
        for s in sentinels:
            s.start()
        yield Site(master, replica, sentinels)
    finally:
        for server in (*sentinels, replica, master):
            server.close()


async def ready(site: Site) -> bool:
    """Every sentinel knows the others and the replica, and the replica is in sync."""
    for s in site.sentinels:
        client = aioredis.Redis(port=s.port)
        try:
            masters = await client.sentinel_masters()
            assert isinstance(masters, dict)  # (RESP2: by master name; RESP3 would be a list)
            state = masters.get("robodine")
            if not state or state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                return False
        finally:
            await client.aclose()
    replica = aioredis.Redis(port=site.replica.port)
    try:
        info = await replica.info("replication")
    finally:
        await replica.aclose()
    return info.get("master_link_status") == "up"


async def master_port(site: Site) -> int:
    """The master's port as the sentinels say (0: none, mid-failover)."""
    from redis.asyncio.sentinel import MasterNotFoundError

    spec = sentinel.parse(site.url)
    s = spec.sentinel(1.0)
    try:
        _, port = await s.discover_master(spec.service)
    except MasterNotFoundError:
        return 0
    finally:
        await s.aclose()
    return int(port)


async def holder(redis: aioredis.Redis, robot: str) -> str:
    h = cluster.parse_holder(await redis.get(cluster.lease_key(robot)))
    return h.gateway if h else ""


async def online(redis: aioredis.Redis, robot: str) -> bool:
    """The robot's holder has seen it online (its snapshot says so)."""
    return await redis.hget(streams.robot_key(robot), "connection") == b"online"


async def commanded(bot: ScriptedRobot, redis: aioredis.Redis) -> str:
    """A command posted for the robot reaches it once; acknowledged; returns who ran it.

    First the holder must have seen the robot online: its presence travels through the
    broker while the command goes through Redis (the leader, then the holder's inbox), and
    a command that gets there first fails as ``robot_offline``, rightly: the gateway does
    not know the robot is there yet. Holding the lease says nothing about that."""
    await wait_for(lambda: online(redis, bot.robot), timeout=5)
    cid = await post(redis, bot.robot, "pause", args={})  # serving and cooking robots pause
    got = await bot.next(timeout=5)
    cmd = decode_command(got.topic, got.payload)
    assert cmd.id == cid
    await bot.send(Ack(robot=bot.robot, id=cmd.id))
    done = await wait_for(lambda: outcomes(redis, cid), timeout=5)
    assert [d["type"] for d in done] == ["command.acked"]
    assert await bot.nothing(0.5) == []  # not a second time, from the other gateway
    return str(done[0]["src"])


def mqtt_cluster_settings(
    redis: str, tmp_path: Path, broker: str, name: str, ttl: float, **sections: Any
) -> Any:
    """A gateway ``name`` of a cluster with MQTT robots, its files in tmp_path/name."""
    (tmp_path / name).mkdir(exist_ok=True)
    return mqtt_settings(
        redis,
        tmp_path / name,
        broker,
        gateway={"name": name},
        cluster={"enabled": True, "lease_ttl_s": ttl},
        **sections,
    )
