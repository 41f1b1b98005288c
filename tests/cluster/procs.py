"""Real processes for the cluster tests: gateways (and web processes) on a shared Redis,
simulated robots given several gateway addresses, and the reads the tests check with."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis

from config import Settings
from protocol import cluster, streams
from robodine.testing.servers import GatewayServer, WebServer, free_port
from simulator.client import TcpTransport
from simulator.fleet import Fleet as SimFleet
from simulator.fleet import FleetOptions
from simulator.model import ModelOptions
from simulator.transport import Transport
from tests.support.replies import RawEntries, as_fields

TTL = 2.0
OFFLINE_AFTER = 6.0


def gateway_env(name: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "ROBODINE_GATEWAY_NAME": name,
        "ROBODINE_GATEWAY_METRICS_PORT": "0",
        "ROBODINE_GATEWAY_OFFLINE_AFTER_S": str(OFFLINE_AFTER),
        "ROBODINE_GATEWAY_STALE_AFTER_S": "2.0",
        "ROBODINE_UDP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "ROBODINE_REDIS_URL": redis_url,
        "ROBODINE_SPOOL_PATH": str(tmp_path / f"{name}.sqlite3"),
        "ROBODINE_CLUSTER_ENABLED": "true",
        "ROBODINE_CLUSTER_LEASE_TTL_S": str(TTL),
        "ROBODINE_DISPATCH_COOK_SECONDS": "0.5",
        "ROBODINE_COMMANDS_TTL_S": "20",
        "ROBODINE_LOGGING_FORMAT": "json",
    }


@contextlib.contextmanager
def gateway(config: Path, name: str, redis_url: str, tmp_path: Path) -> Iterator[GatewayServer]:
    gw = GatewayServer(config, gateway_env(name, redis_url, tmp_path), log=tmp_path / f"{name}.log")
    gw.start()
    try:
        yield gw
    finally:
        gw.close()


@contextlib.asynccontextmanager
async def robots(
    settings: Settings,
    addresses: list[tuple[str, int]],
    ids: list[str],
    wrap: Callable[[Transport], Transport] = lambda tcp: tcp,
    seed: int = 5,
) -> AsyncIterator[SimFleet]:
    """The simulated robots ``ids``, over TCP to the first address and the others in turn
    (``wrap``: the transport they use around that one, e.g. per robot TCP or MQTT)."""
    (host, port), *more = addresses
    transport = wrap(TcpTransport(host, port, handshake_timeout_s=5.0, more=more))
    fleet = SimFleet(
        settings,
        [r for r in settings.robots if r.id in ids],
        transport,
        FleetOptions(
            hz=4,
            ramp_s=1.0,
            seed=seed,
            model=ModelOptions(speed=3.0, pickup_s=0.5, load_s=0.1, cook_s=0.5, ready_hold_s=0.2),
        ),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.run(stop.wait))
    try:
        yield fleet
    finally:
        stop.set()
        await task


async def holders(redis: aioredis.Redis, ids: list[str]) -> dict[str, str]:
    values = await redis.mget([cluster.lease_key(r) for r in ids])
    out = {}
    for robot, value in zip(ids, values, strict=True):
        h = cluster.parse_holder(value)
        out[robot] = h.gateway if h else ""
    return out


async def place(redis: aioredis.Redis, table: dict[str, Any]) -> str:
    order = uuid.uuid4().hex[:12]
    rec = streams.CommandRecord(
        id=uuid.uuid4().hex,
        robot="",
        action="place",
        ts=time.time(),
        type="order.place",
        source="test",
        args={
            "order": order,
            "table": table,
            "items": [{"line": "1", "name": "Ramen", "recipe": "ramen", "quantity": 1}],
        },
    )
    await redis.xadd(streams.COMMANDS, as_fields(streams.to_fields(rec)))
    return order


async def all_events(redis: aioredis.Redis) -> list[streams.EventRecord]:
    return [
        streams.from_fields(streams.EventRecord, f)
        for _, f in cast(RawEntries, await redis.xrange(streams.EVENTS))
    ]


async def leader_is(redis: aioredis.Redis, name: str) -> bool:
    h = cluster.parse_holder(await redis.get(cluster.LEADER))
    return h is not None and h.gateway == name


WEB_PASSWORD = "cluster-test-password"


def web_env(name: str, redis_url: str, database_url: str) -> dict[str, str]:
    return {
        "ROBODINE_WEB_NAME": name,
        "ROBODINE_WEB_HOST": "127.0.0.1",
        "ROBODINE_WEB_ARGON2_TIME_COST": "1",
        "ROBODINE_WEB_ARGON2_MEMORY_KIB": "8",
        "ROBODINE_WEB_ARGON2_PARALLELISM": "1",
        "ROBODINE_WEB_HUB_BLOCK_MS": "200",
        "ROBODINE_WEB_SHUTDOWN_TIMEOUT_S": "2",
        "ROBODINE_WEB_LOGIN_ATTEMPTS_PER_MIN": "10000",
        "ROBODINE_WEB_METRICS_PORT": str(free_port()),
        "ROBODINE_REDIS_URL": redis_url,
        "ROBODINE_DATABASE_URL": database_url,
        "ROBODINE_LOGGING_FORMAT": "json",
    }


@contextlib.contextmanager
def web(
    config: Path,
    name: str,
    redis_url: str,
    tmp_path: Path,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
    users: dict[str, str] | None = None,
) -> Iterator[WebServer]:
    """A `robodine web` process on the site's config and a SQLite file shared by every web
    process of the test; ``users`` (name -> role) are added first, with WEB_PASSWORD."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}"
    server = WebServer(
        config,
        {**web_env(name, redis_url, database), **(env or {})},
        port=port,
        log=tmp_path / f"{name}.log",
    )
    for user, role in (users or {}).items():
        server.add_user(user, WEB_PASSWORD, role)
    server.start()
    try:
        yield server
    finally:
        server.close()


async def login(http: Any, base: str, user: str) -> str:
    async with http.post(
        f"{base}/api/auth/login", json={"username": user, "password": WEB_PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["token"])
