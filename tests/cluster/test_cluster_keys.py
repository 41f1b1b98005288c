"""Redis Cluster: with ``redis.key_prefix = "{rd}"`` every key is in one hash slot, so no
script or multi-key command is refused (docs/scaling.md, Redis Cluster).

The Redis is one redis-server in cluster mode serving all 16384 slots: it answers
CROSSSLOT to any script, MULTI or multi-stream XREAD whose keys hash to different
slots, as a Cluster endpoint of a managed service would. Real processes (two clustered
gateways, a web process, a worker) run on it with the hash-tag prefix while the paths
that touch several keys at once are driven: robots connecting (the lease script, the
telemetry batch), commands routed to the robot's holder, an order through the outbox
to delivery, chat, a job. The control runs a gateway with the default ``rd``: its
telemetry batch is refused, so the check can fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis

from config import Settings
from config.loader import load_settings
from protocol.cluster import parse_holder
from robodine.redisio.keys import Keys
from simulator.fleet_config import fleet_toml
from tests.cluster.procs import WEB_PASSWORD, gateway, login, robots, web, web_env
from tests.servers import RedisServer, free_port
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

TAGGED = Keys("{rd}")


class ClusterRedis(RedisServer):
    """A redis-server with ``cluster-enabled yes`` (its nodes.conf in its own directory)
    that serves every slot itself: a one-node Redis Cluster."""

    def __init__(self, *, log: Path) -> None:
        super().__init__(aof=False, log=log)
        # The bus port is port + 10000 unless given: over 65535 for a free port above 55535.
        self.bus_port = free_port()

    def argv(self) -> list[str]:
        return [
            *super().argv(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",
            str(self.bus_port),
        ]

    def start(self) -> None:
        super().start()
        with redis.Redis(port=self.port, decode_responses=True) as r:
            r.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
            deadline = time.monotonic() + 10
            while "cluster_state:ok" not in str(r.execute_command("CLUSTER", "INFO")):
                assert time.monotonic() < deadline, "the one-node cluster never became ok"
                time.sleep(0.05)


@pytest.fixture
def cluster_redis(tmp_path: Path) -> Iterator[ClusterRedis]:
    server = ClusterRedis(log=tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.close()


async def crossslot(r: aioredis.Redis) -> int:
    """How many commands this server refused with CROSSSLOT since it started."""
    stats = await r.info("errorstats")
    entry = stats.get("errorstat_CROSSSLOT", {})
    return int(entry.get("count", 0)) if isinstance(entry, dict) else 0


@contextlib.contextmanager
def worker(config: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`robodine worker` (background jobs), stopped by its pid after."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "robodine", "--config", str(config), "worker"],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def _get(http: aiohttp.ClientSession, url: str, token: str) -> Any:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, f"{url}: {r.status} {await r.text()}"
        return await r.json()


async def _post(http: aiohttp.ClientSession, url: str, token: str, body: Any) -> Any:
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status in (201, 202), f"{url}: {r.status} {await r.text()}"
        return await r.json()


async def test_with_the_hash_tag_prefix_every_path_runs_on_a_cluster_node(
    cluster_redis: ClusterRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBODINE_REDIS_KEY_PREFIX", "{rd}")  # every process started here
    config = tmp_path / "site.toml"
    config.write_text(fleet_toml(3, Settings()))
    settings = load_settings(config)
    assert settings.redis.key_prefix == "{rd}"
    ids = [r.id for r in settings.robots]
    serving = [r.id for r in settings.robots if r.kind == "serving"]  # one on each gateway
    on_a = serving[:1]
    url = cluster_redis.url
    media = {"ROBODINE_MEDIA_URL": str(tmp_path / "media")}
    database = f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}"
    env = {**web_env("setup", url, database), **media}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "robodine", "--config", str(config), "demo-data"],
        input=WEB_PASSWORD + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, **env, "ROBODINE_WEB_NAME": "setup"},
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    r = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        with (
            gateway(config, "gw-a", url, tmp_path) as a,
            gateway(config, "gw-b", url, tmp_path) as b,
            web(config, "web-1", url, tmp_path, env=media) as w,
            worker(config, {**web_env("worker", url, database), **media}, tmp_path / "worker.log"),
        ):
            base = f"http://127.0.0.1:{w.port}"
            async with (
                robots(settings, [("127.0.0.1", a.port)], on_a),
                robots(settings, [("127.0.0.1", b.port)], [i for i in ids if i not in on_a]),
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
            ):
                token = await login(http, base, "admin")

                # robots connecting: the lease script, the telemetry batch
                async def held() -> dict[str, str]:
                    values = await r.mget([TAGGED.lease(rid) for rid in ids])
                    return {
                        rid: h.gateway if (h := parse_holder(v)) else ""
                        for rid, v in zip(ids, values, strict=True)
                    }

                await wait_for(lambda: _all_held(held()), timeout=30, interval=0.2)
                assert set((await held()).values()) == {"gw-a", "gw-b"}
                await wait_for(lambda: _have_snapshots(r, ids), timeout=20, interval=0.2)
                assert await r.xlen(TAGGED.telemetry) > 0
                leader = parse_holder(await r.get(TAGGED.leader))
                assert leader is not None and leader.gateway in ("gw-a", "gw-b")

                # a command to each serving robot: queued by the web's script, routed by the
                # leader to the inbox of the gateway holding it (one of them is not the leader)
                commands = {
                    rid: (
                        await _post(
                            http, f"{base}/api/robots/{rid}/commands", token, {"action": "dock"}
                        )
                    )["command"]
                    for rid in serving
                }

                async def acked() -> bool:
                    for rid, cid in commands.items():
                        got = await _get(http, f"{base}/api/robots/{rid}/commands/{cid}", token)
                        if got["status"] != "acked":
                            return False
                    return True

                try:
                    await wait_for(acked, timeout=30, interval=0.3)
                except AssertionError:
                    seen = {
                        rid: await _get(http, f"{base}/api/robots/{rid}/commands/{cid}", token)
                        for rid, cid in commands.items()
                    }
                    raise AssertionError(f"not acked: {seen}, held by {await held()}") from None

                # an order: the outbox script, the dispatcher's fenced writes, the projector
                menu = await _get(http, f"{base}/api/menu", token)
                dish = menu["items"][0]["id"]
                tables = await _get(http, f"{base}/api/tables", token)
                order = await _post(
                    http,
                    f"{base}/api/orders",
                    token,
                    {
                        "table": tables["items"][0]["name"],
                        "items": [{"menu_item_id": dish, "quantity": 1}],
                    },
                )

                async def delivered() -> bool:
                    got = await _get(http, f"{base}/api/orders/{order['id']}", token)
                    return bool(got["status"] == "delivered")

                await wait_for(delivered, timeout=90, interval=0.5)

                # chat: the rate script, presence in one MULTI, the room's stream
                ws = await http.ws_connect(
                    f"{base}/ws/chat/kitchen", params={"token": token}, headers={"Origin": base}
                )
                try:
                    assert (await ws.receive_json(timeout=10))["type"] == "history"
                    await ws.send_json({"content": "one slot for all"})
                    while True:
                        frame = await ws.receive_json(timeout=10)
                        assert frame["type"] != "error", frame
                        if frame["type"] == "message":
                            break
                    assert frame["content"] == "one slot for all"
                finally:
                    await ws.close()

                # a job: SAQ's enqueue script (its abort key carries the tag), the worker
                today = datetime.now(UTC).date().isoformat()
                job = await _post(
                    http,
                    f"{base}/api/jobs",
                    token,
                    {"kind": "sales_report", "input": {"date": today}},
                )

                async def finished() -> Any:
                    got = await _get(http, f"{base}/api/jobs/{job['id']}", token)
                    return got if got["status"] in ("completed", "failed") else None

                result = await wait_for(finished, timeout=60, interval=0.5)
                assert result["status"] == "completed", result
                assert result["result"]["orders"] == 1, result

        assert await crossslot(r) == 0, await r.info("errorstats")
        # and every key the processes wrote is in the tag's slot: ours and SAQ's
        keys = [k async for k in r.scan_iter(count=1000)]
        assert any(k.startswith("saq:") for k in keys), keys

        async def keyslot(key: str | bytes) -> int:
            return int(await r.execute_command("CLUSTER", "KEYSLOT", key))  # type: ignore[no-untyped-call]  # untyped in redis-py

        slot = await keyslot("{rd}")
        assert slot == 537  # the slot docs/scaling.md names
        for k in keys:
            assert await keyslot(k) == slot, k
        assert all(k.startswith(("{rd}:", "saq:")) for k in keys), keys
    finally:
        await r.aclose()


async def test_without_the_hash_tag_the_cluster_node_refuses_the_telemetry_batch(
    cluster_redis: ClusterRedis, tmp_path: Path
) -> None:
    """The control: under ``rd`` a robot's snapshot and the telemetry stream are in
    different slots, and the node refuses the batch that writes both."""
    config = tmp_path / "site.toml"
    config.write_text(fleet_toml(3, Settings()))
    settings = load_settings(config)
    assert settings.redis.key_prefix == "rd"
    ids = [r.id for r in settings.robots]
    r = aioredis.Redis.from_url(cluster_redis.url, decode_responses=True)
    try:
        with gateway(config, "gw-a", cluster_redis.url, tmp_path) as a:
            async with robots(settings, [("127.0.0.1", a.port)], ids):
                await wait_for(lambda: _refused(r), timeout=30, interval=0.2)
                for rid in ids:  # one key a command: these are in different slots
                    assert not await r.exists(f"rd:robot:{rid}")
                assert not await r.exists("rd:telemetry")
    finally:
        await r.aclose()


async def _all_held(held: Any) -> bool:
    h = await held
    return bool(h) and all(h.values())


async def _have_snapshots(r: aioredis.Redis, ids: list[str]) -> bool:
    members = await r.smembers(TAGGED.robots)
    if not set(ids) <= members:
        return False
    for rid in ids:
        if await r.hget(TAGGED.robot(rid), "x") is None:
            return False
    return True


async def _refused(r: aioredis.Redis) -> bool:
    return await crossslot(r) > 0
