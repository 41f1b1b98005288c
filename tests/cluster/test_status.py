"""The cluster as `robodine status`, `GET /api/status` and `GET /api/cluster` show it: two
real gateway processes and a web process on one Redis, robots spread over both."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from config import Settings
from config.loader import load_settings
from protocol import cluster
from simulator.fleet_config import fleet_toml
from tests.cluster.procs import gateway, holders, login, robots, web
from tests.servers import RedisServer
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

ROBOTS = 6


def status_json(config: Path, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "robodine", "--config", str(config), "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "ROBODINE_REDIS_URL": redis_url,
            "ROBODINE_GATEWAY_METRICS_PORT": "0",
            "ROBODINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}",
        },
    )
    assert done.returncode in (0, 1, 2), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


async def test_status_and_api_cluster_show_both_gateways_their_robots_and_the_leader(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    config = tmp_path / "site.toml"
    config.write_text(fleet_toml(ROBOTS, Settings()))
    settings = load_settings(config)
    ids = [r.id for r in settings.robots]
    url = redis_private.url
    redis = aioredis.Redis.from_url(url, decode_responses=True)
    users = {"boss": "admin", "chef": "staff", "guest": "viewer"}
    try:
        with web(config, "web-1", url, tmp_path, users=users) as w:
            base = f"http://127.0.0.1:{w.port}"
            async with aiohttp.ClientSession() as http:
                tokens = {u: await login(http, base, u) for u in users}

                async def get(path: str, user: str) -> tuple[int, dict[str, Any]]:
                    auth = {"Authorization": f"Bearer {tokens[user]}"}
                    async with http.get(base + path, headers=auth) as r:
                        return r.status, await r.json()

                # no gateway with [cluster] on this Redis: off, and nothing listed
                code, one = await get("/api/cluster", "chef")
                assert code == 200
                assert one == {
                    "enabled": False,
                    "leader": None,
                    "gateways": [],
                    "leases": {"held": 0, "wanted": 0},
                    "unheld": sorted(ids),
                }
                code, doc = await get("/api/status", "boss")
                assert doc["sections"]["cluster"]["state"] == "off"
                with (
                    gateway(config, "gw-a", url, tmp_path) as a,
                    gateway(config, "gw-b", url, tmp_path) as b,
                ):
                    half = ROBOTS // 2
                    to_a, to_b = [("127.0.0.1", a.port)], [("127.0.0.1", b.port)]
                    async with (
                        robots(settings, to_a, ids[:half]),
                        robots(settings, to_b, ids[half:]),
                    ):

                        async def everyone_held() -> bool:
                            return all((await holders(redis, ids)).values())

                        await wait_for(everyone_held, timeout=30)
                        await wait_for(lambda: redis.get(cluster.LEADER), timeout=10)
                        leader = cluster.parse_holder(await redis.get(cluster.LEADER))
                        assert leader is not None
                        code, got = await get("/api/cluster", "chef")
                        assert code == 200
                        assert (await get("/api/cluster", "guest"))[0] == 403
                        async with http.get(base + "/api/cluster") as r:
                            assert r.status == 401
                        code, doc = await get("/api/status", "boss")
                        cli = await asyncio.to_thread(status_json, config, url, tmp_path)

                # both gateways SIGKILLed: registered still, not alive, nobody leads
                async def cluster_down() -> dict[str, Any] | None:
                    section = (await get("/api/status", "boss"))[1]["sections"]["cluster"]
                    return section if section["state"] == "down" else None

                after = await wait_for(cluster_down, timeout=15, interval=0.5)
    finally:
        await redis.aclose()
    assert got["enabled"] is True
    by_name = {g["name"]: g for g in got["gateways"]}
    assert list(by_name) == ["gw-a", "gw-b"]
    assert by_name["gw-a"]["robots"] == sorted(ids[:half])
    assert by_name["gw-b"]["robots"] == sorted(ids[half:])
    assert by_name["gw-a"]["tcp"] == a.port and by_name["gw-b"]["tcp"] == b.port
    assert all(g["alive"] and g["pid"] and g["host"] for g in by_name.values())
    assert [g["name"] for g in got["gateways"] if g["leader"]] == [leader.gateway]
    assert got["leader"]["gateway"] == leader.gateway and got["leader"]["epoch"] == leader.token
    assert 0 < got["leader"]["expires_in_ms"] <= 2000
    assert got["leases"] == {"held": ROBOTS, "wanted": 0}
    assert got["unheld"] == []
    for section in (doc["sections"]["cluster"], cli["sections"]["cluster"]):
        assert section["state"] == "ok", section
        assert section["summary"] == (
            f"2 gateways alive, leader {leader.gateway} (epoch {leader.token}), "
            f"{ROBOTS} robots held (gw-a {half}, gw-b {ROBOTS - half})"
        )
        assert [g["robots"] for g in section["details"]["gateways"]] == [
            sorted(ids[:half]),
            sorted(ids[half:]),
        ]
    assert after["summary"] == "0 gateways alive, no leader, 0 robots held (none)"
    assert [(g["name"], g["alive"]) for g in after["details"]["gateways"]] == [
        ("gw-a", False),
        ("gw-b", False),
    ]
    assert after["problems"][-1] == "no gateway of the cluster is alive: no robot is served"
