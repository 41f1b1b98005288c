"""Redis behind Sentinel: real redis-server master and replica, three real sentinels; the
master SIGKILLed, a replica promoted, the gateway and the shared clients carry on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from config.settings import RedisSettings
from protocol import streams
from protocol.messages import Welcome
from protocol.vocabulary import RobotKind
from robodine.redisio import sentinel
from robodine.redisio.client import connect, open_connection
from tests.robot import TestRobot
from tests.support.cluster import Site, master_port, ready, sentinel_site  # noqa: F401
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.replies import RawEntries
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]


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
                        for _, f in cast(RawEntries, await new.xrange(streams.EVENTS)):
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
                    eids = [
                        f[b"eid"] for _, f in cast(RawEntries, await new.xrange(streams.EVENTS))
                    ]
                    assert len(eids) == len(set(eids))  # none twice
                    assert gw.gateway.writer is not None and gw.gateway.writer.up
                finally:
                    await new.aclose()
            finally:
                await robot.close()
