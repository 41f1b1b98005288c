"""The whole scaled-out site at once, as real processes: 2 gateways and 2 web processes on a
Redis master with a replica and 3 sentinels, mosquitto, simulated robots over TCP (both
gateway addresses) and MQTT. Orders are placed through both web processes; the leader
gateway and then the Redis master are SIGKILLed mid-run. Every order is delivered once,
every command decided once, no event twice, and both web processes keep answering
/api/robots and their WebSocket feeds."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from bench.fleetconf import dumps
from config import Settings
from config.loader import load_settings
from protocol import cluster, streams
from robodine.testing.servers import MosquittoServer
from simulator.fleet_config import fleet_toml
from simulator.transport import Transport, make_transport
from simulator.transport_mixed import ConfiguredTransport
from tests.cluster.procs import (
    OFFLINE_AFTER,
    TTL,
    WEB_PASSWORD,
    gateway,
    login,
    web,
    web_env,
)
from tests.cluster.procs import robots as sim
from tests.support.cluster import master_port, ready, sentinel_site
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

ROBOTS = 30  # 20 serving, 10 cooking
MQTT_ROBOTS = 4  # of the serving ones
ORDERS = 6  # in two batches: before the gateway is killed, before the master is


def site_config(tmp_path: Path, broker: str) -> Path:
    data = tomllib.loads(fleet_toml(ROBOTS, Settings()))
    serving = [r for r in data["robots"] if r["kind"] == "serving"]
    for r in serving[-MQTT_ROBOTS:]:
        r["transport"] = "mqtt"
    data["mqtt"] = {"enabled": True, "url": broker, "reconnect_max_s": 0.5, "keepalive_s": 5}
    data["vda5050"] = {"enabled": False}
    path = tmp_path / "site.toml"
    path.write_text(dumps(data))
    return path


async def safely(read: Any) -> Any:
    """A read of the site's Redis that may fall in the failover: None then."""
    try:
        return await read
    except (RedisError, OSError):
        return None


def _tcp_or_mqtt(settings: Settings) -> Callable[[Transport], Transport]:
    """Each robot over what the config says it speaks: TCP (to either gateway) or MQTT."""
    mqtt = make_transport("mqtt", settings, "127.0.0.1")
    return lambda tcp: ConfiguredTransport(settings, {"tcp": tcp, "mqtt": mqtt})


async def feed_alive(http: aiohttp.ClientSession, base: str, token: str) -> bool:
    """A fresh /ws/robots of this process: hello, then its snapshot of every robot."""
    async with http.ws_connect(
        f"{base}/ws/robots", params={"token": token}, headers={"Origin": base}
    ) as ws:
        hello = await ws.receive_json(timeout=10)
        snapshot = await ws.receive_json(timeout=10)
    return bool(hello["type"] == "hello" and snapshot["type"] == "snapshot")


async def test_two_gateways_two_web_processes_sentinel_and_mqtt_survive_two_kills(
    tmp_path: Path,
) -> None:
    broker = MosquittoServer(persistence=False, log=tmp_path / "mosquitto.log")
    broker.start()
    try:
        with sentinel_site(tmp_path) as site:
            await wait_for(lambda: ready(site), timeout=30, interval=0.2)
            await _run(tmp_path, site, broker)
    finally:
        broker.close()


async def _run(tmp_path: Path, site: Any, broker: MosquittoServer) -> None:
    config = site_config(tmp_path, broker.url)
    settings = load_settings(config)
    ids = [r.id for r in settings.robots]
    tcp = [r.id for r in settings.robots if r.transport == "tcp"]
    on_mqtt = [r.id for r in settings.robots if r.transport == "mqtt"]
    url = site.url
    database = f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}"
    env = {**web_env("setup", url, database), "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-m", "robodine", "--config", str(config), "demo-data"]
    done = await asyncio.to_thread(
        subprocess.run,
        [*argv, "--password-file", str(tmp_path / "admin-password")],
        input=WEB_PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sentinel = Sentinel([("127.0.0.1", s.port) for s in site.sentinels], socket_timeout=1.0)
    redis = sentinel.master_for("robodine", decode_responses=True, socket_timeout=2.0)
    try:
        with (
            gateway(config, "gw-a", url, tmp_path) as a,
            gateway(config, "gw-b", url, tmp_path) as b,
            web(config, "web-1", url, tmp_path, users={"chef": "staff"}) as w1,
            web(config, "web-2", url, tmp_path) as w2,
        ):
            bases = [f"http://127.0.0.1:{w.port}" for w in (w1, w2)]
            async with (
                sim(
                    settings,
                    [("127.0.0.1", a.port), ("127.0.0.1", b.port)],
                    tcp[::2] + on_mqtt,
                    _tcp_or_mqtt(settings),
                    seed=7,
                ),
                sim(
                    settings,
                    [("127.0.0.1", b.port), ("127.0.0.1", a.port)],
                    tcp[1::2],
                    _tcp_or_mqtt(settings),
                    seed=7,
                ),
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
            ):
                tokens = [await login(http, base, "chef") for base in bases]

                async def held() -> dict[str, str]:
                    values = await safely(redis.mget([cluster.lease_key(r) for r in ids])) or []
                    out = {}
                    for robot, value in zip(ids, values, strict=False):
                        h = cluster.parse_holder(value)
                        out[robot] = h.gateway if h else ""
                    return out

                async def everyone_held() -> bool:
                    h = await held()
                    return len(h) == len(ids) and all(h.values())

                await wait_for(everyone_held, timeout=30, interval=0.2)
                assert set((await held()).values()) == {"gw-a", "gw-b"}
                menu = await _get(http, bases[0], "/api/menu", tokens[0])
                dish = next(m["id"] for m in menu["items"] if m["name_en"] == "Bibimbap")
                tables = [
                    t["name"]
                    for t in (await _get(http, bases[0], "/api/tables", tokens[0]))["items"]
                ]
                orders: list[str] = []

                async def place(n: int) -> None:
                    for _ in range(n):
                        k = len(orders)
                        async with http.post(
                            bases[k % 2] + "/api/orders",
                            headers={"Authorization": f"Bearer {tokens[k % 2]}"},
                            json={
                                "table": tables[k % len(tables)],
                                "items": [{"menu_item_id": dish, "quantity": 1}],
                            },
                        ) as r:
                            assert r.status == 201, await r.text()
                            orders.append((await r.json())["id"])

                await place(ORDERS // 2)
                leader = cluster.parse_holder(await redis.get(cluster.LEADER))
                assert leader is not None
                victim, survivor = (a, "gw-b") if leader.gateway == "gw-a" else (b, "gw-a")
                killed = time.monotonic()
                victim.kill()

                async def all_on_survivor() -> bool:
                    h = await held()
                    return len(h) == len(ids) and set(h.values()) == {survivor}

                await wait_for(all_on_survivor, timeout=OFFLINE_AFTER + TTL + 15, interval=0.2)
                moved_s = time.monotonic() - killed
                await place(ORDERS - ORDERS // 2)
                old_master = await master_port(site)
                assert old_master == site.master.port
                master_killed = time.monotonic()
                site.master.kill()

                async def promoted() -> bool:
                    return bool(await master_port(site) == site.replica.port)

                await wait_for(promoted, timeout=30, interval=0.2)
                promoted_s = time.monotonic() - master_killed

                async def delivered() -> bool:
                    statuses = [
                        await _status(http, bases[i % 2], tokens[i % 2], order)
                        for i, order in enumerate(orders)
                    ]
                    return all(s == "delivered" for s in statuses)

                await wait_for(delivered, timeout=150, interval=0.5)
                for base, token in zip(bases, tokens, strict=True):
                    robots = await _get(http, base, "/api/robots", token)
                    assert {r["id"] for r in robots["items"]} >= set(ids)
                    assert await feed_alive(http, base, token)
                events = [
                    streams.from_fields(streams.EventRecord, f)
                    for _, f in await redis.xrange(streams.EVENTS)
                ]
    finally:
        await redis.aclose()
        for client in sentinel.sentinels:  # the Sentinel's own clients, one per sentinel
            await client.aclose()
    print(
        f"robots on {survivor} {moved_s:.1f} s after the gateway kill; "
        f"master promoted {promoted_s:.1f} s"
    )
    delivered_n = Counter(
        e.data["order"]
        for e in events
        if e.type == "order.status" and e.data.get("status") == "delivered"
    )
    assert all(delivered_n[o] == 1 for o in orders), delivered_n
    assert len({e.eid for e in events}) == len(events)
    outcomes = Counter(
        e.data["command"]
        for e in events
        if e.type in ("command.acked", "command.failed") and "command" in e.data
    )
    assert outcomes and max(outcomes.values()) == 1, outcomes.most_common(3)


async def _get(http: aiohttp.ClientSession, base: str, path: str, token: str) -> Any:
    async with http.get(base + path, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, f"{path}: {r.status} {await r.text()}"
        return await r.json()


async def _status(http: aiohttp.ClientSession, base: str, token: str, order: str) -> str | None:
    try:
        async with http.get(
            f"{base}/api/orders/{order}", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            return str((await r.json())["status"]) if r.status == 200 else None
    except (aiohttp.ClientError, TimeoutError):
        return None
