"""Redis behind Sentinel: real redis-server master and replica, three real sentinels; the
master SIGKILLed, a replica promoted, the gateway and the shared clients carry on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config.settings import RedisSettings
from protocol import streams
from protocol.messages import Welcome
from protocol.vocabulary import RobotKind
from robodine.redisio import sentinel
from robodine.redisio.client import connect, open_connection
from robodine.testing.servers import RedisServer, SentinelServer, sentinel_url
from tests.robot import TestRobot
from tests.support.gateway import gateway_settings, run_gateway
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]


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


def test_sentinel_urls_parse() -> None:
    spec = sentinel.parse(
        "redis+sentinel://:pw@h1:26380,h2,[::1]:26381/mymaster/2?sentinel_password=sp"
    )
    assert spec.sentinels == [("h1", 26380), ("h2", 26379), ("::1", 26381)]
    assert (spec.service, spec.db, spec.password, spec.sentinel_password) == (
        "mymaster",
        2,
        "pw",
        "sp",
    )
    for bad, why in (
        ("redis+sentinel:///mymaster", "no sentinel"),
        ("redis+sentinel://h1/", "path"),
        ("redis+sentinel://h1/m/x", "number"),
    ):
        with pytest.raises(ValueError, match=why):
            sentinel.parse(bad)
    with pytest.raises(ValueError, match="redis\\+sentinel"):
        RedisSettings(url="http://h1/m")
    assert RedisSettings(url="redis+sentinel://h1,h2/m").url.startswith("redis+sentinel")


async def test_the_shared_clients_follow_a_failover(tmp_path: Path) -> None:
    with sentinel_site(tmp_path) as site:
        await wait_for(lambda: ready(site), timeout=30)
        settings = RedisSettings(url=site.url, connect_timeout_s=1.0)
        client = connect(settings, name="test")
        try:
            await client.set("k", "before")
            lean = await open_connection(settings, name="lean")
            assert (await lean.execute([("GET", "k")])) == [b"before"]
            lean.close()
            site.master.kill()

            async def promoted() -> bool:
                return await master_port(site) == site.replica.port

            await wait_for(promoted, timeout=30, interval=0.2)

            async def writes() -> bool:
                try:
                    await client.set("k", "after")
                except Exception:  # the old master's connection, dropped
                    return False
                return True

            await wait_for(writes, timeout=10, interval=0.2)
            assert await client.get("k") == b"after"
            lean = await open_connection(settings, name="lean")
            assert (await lean.execute([("GET", "k")])) == [b"after"]  # to the new master
            lean.close()
        finally:
            await client.aclose()


async def test_the_gateway_spools_through_a_failover_and_loses_no_event(tmp_path: Path) -> None:
    with sentinel_site(tmp_path) as site:
        await wait_for(lambda: ready(site), timeout=30)
        settings = gateway_settings(site.url, tmp_path)
        async with run_gateway(settings) as gw:
            robot = TestRobot("serve-1", RobotKind.SERVING, gw.tcp_port)
            try:
                assert isinstance(await robot.connect(), Welcome)
                robot.state("idle")
                await gw.drained()
                # replicated before the kill (WAIT), so it must survive it
                master = aioredis.Redis(port=site.master.port)
                await master.wait(1, 2000)
                await master.aclose()
                site.master.kill()
                killed = asyncio.get_running_loop().time()
                for state in ("assigned", "en_route", "at_table"):  # while Redis is away
                    robot.state(state, task="o-1")
                    robot.heartbeat()
                    await asyncio.sleep(0.3)

                async def promoted() -> bool:
                    return await master_port(site) == site.replica.port

                await wait_for(promoted, timeout=30, interval=0.2)
                print(
                    f"replica promoted {asyncio.get_running_loop().time() - killed:.1f}s "
                    "after the master was killed"
                )
                new = aioredis.Redis(port=site.replica.port)
                try:

                    async def all_states() -> list[str]:
                        robot.heartbeat()
                        out = []
                        for _, f in await new.xrange(streams.EVENTS):
                            rec = streams.from_fields(streams.EventRecord, f)
                            if rec.type == "robot.state":
                                out.append(rec.data["state"])
                        return out if out[-1:] == ["at_table"] else []

                    states = await wait_for(all_states, timeout=30, interval=0.3)
                    print(
                        f"every event in the new master "
                        f"{asyncio.get_running_loop().time() - killed:.1f}s after the kill"
                    )
                    assert states == ["idle", "assigned", "en_route", "at_table"]
                    eids = [f[b"eid"] for _, f in await new.xrange(streams.EVENTS)]
                    assert len(eids) == len(set(eids))  # none twice
                    assert gw.gateway.writer is not None and gw.gateway.writer.up
                finally:
                    await new.aclose()
            finally:
                await robot.close()
