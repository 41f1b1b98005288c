"""Gateway-level steps shared by the integration, cluster, e2e and third-party tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from config import Settings
from protocol import streams
from protocol.messages import Welcome
from protocol.vocabulary import RobotKind
from tests.integration.sim import FLOOR
from tests.robot import TestRobot
from tests.servers import free_port
from tests.support.gateway import RunningGateway, gateway_settings
from tests.support.replies import RawEntries, as_fields
from tests.waiting import wait_for
from web import create_app
from web.demo import load_demo
from web.keys import DB, PASSWORDS
from web.security import Role
from web.users.service import UserService


async def submit(
    r: aioredis.Redis, robot: str, action: str, cid: str | None = None, **fields: Any
) -> str:
    rec = streams.CommandRecord(
        id=cid or uuid.uuid4().hex,
        robot=robot,
        action=action,
        ts=time.time(),
        source="test",
        **fields,
    )
    await r.xadd(streams.COMMANDS, as_fields(streams.to_fields(rec)))
    return rec.id


async def outcome(r: aioredis.Redis, cid: str, timeout: float = 5.0) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        for ev in await events(r):
            if (
                ev["type"] in ("command.acked", "command.failed")
                and ev["data"].get("command") == cid
            ):
                return ev
        return None

    found: dict[str, Any] = await wait_for(find, timeout)
    return found


async def events(
    r: aioredis.Redis, type_: str | None = None, robot: str | None = None
) -> list[dict[str, Any]]:
    out = []
    entries = cast(RawEntries, await r.xrange(streams.EVENTS))
    for entry_id, fields in entries:
        ev = streams.decode_fields(fields)
        ev["id"] = entry_id.decode()
        if (type_ is None or ev["type"] == type_) and (robot is None or ev["robot"] == robot):
            out.append(ev)
    return out


async def online(
    gw: RunningGateway, robot: str = "serve-1", kind: RobotKind = RobotKind.SERVING
) -> TestRobot:
    bot = TestRobot(robot, kind, gw.tcp_port, gw.udp_port)
    welcome = await bot.connect()
    assert isinstance(welcome, Welcome), welcome
    return bot


async def place(
    r: aioredis.Redis, items: list[dict[str, Any]], table: str = "T2", order: str | None = None
) -> str:
    order = order or uuid.uuid4().hex
    tables = cast(list[dict[str, Any]], FLOOR["tables"])  # (FLOOR: a dict of mixed values)
    t = next(t for t in tables if t["name"] == table)
    rec = streams.CommandRecord(
        id=uuid.uuid4().hex,
        robot="",
        action="place",
        ts=time.time(),
        type="order.place",
        source="test",
        args={"order": order, "table": t, "items": items},
    )
    await r.xadd(streams.COMMANDS, as_fields(streams.to_fields(rec)))
    return order


async def statuses(r: aioredis.Redis, order: str) -> list[str]:
    return [
        e["data"]["status"] for e in await events(r, "order.status") if e["data"]["order"] == order
    ]


DELIVERED = ["placed", "cooking", "ready", "delivering", "delivered"]


ORIGIN = "http://dash.test"


PASSWORD = "correct horse battery staple"


def e2e_settings(
    redis_url: str, tmp_path: Path, *, cook_seconds: float = 0.3, **overrides: Any
) -> Settings:
    """One config for the gateway and the web tier, as on the edge box (``overrides``:
    whole sections, e.g. ``floor`` or ``robots``)."""
    sections: dict[str, Any] = {
        "floor": FLOOR,
        "gateway": {"heartbeat_s": 0.2, "stale_after_s": 0.8, "offline_after_s": 1.5},
        "tcp": {"port": free_port()},  # the same after a gateway restart: robots reconnect
        "commands": {"ack_timeout_s": 1, "max_attempts": 3, "ttl_s": 10},
        "dispatch": {"cook_seconds": cook_seconds, "min_battery": 30, "dock_below": 20},
        "web": {
            "name": "web-e2e",
            "secret": "e2e-secret-" + "s" * 40,
            "origins": [ORIGIN],
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8,
            "argon2_parallelism": 1,
            "hub_block_ms": 200,
            "shutdown_timeout_s": 2,
        },
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/e2e.sqlite3"},
        "data": {"key": "5a" * 32},
    }
    sections.update(overrides)
    return gateway_settings(redis_url, tmp_path, **sections)


class Restaurant:
    """The web tier with the demo restaurant, logged in as staff."""

    def __init__(self, client: TestClient[Any, Any], token: str) -> None:
        self.client = client
        self.h = {"Authorization": f"Bearer {token}"}
        self.menu: dict[str, int] = {}
        self.tables: dict[str, int] = {}

    async def load(self) -> Restaurant:
        menu = await (await self.client.get("/api/menu", headers=self.h)).json()
        tables = await (await self.client.get("/api/tables", headers=self.h)).json()
        self.menu = {m["name_en"]: m["id"] for m in menu["items"]}
        self.tables = {t["name"]: t["id"] for t in tables["items"]}
        return self

    async def order(self, table: str, *items: tuple[str, int]) -> dict[str, Any]:
        r = await self.client.post(
            "/api/orders",
            headers=self.h,
            json={
                "table_id": self.tables[table],
                "items": [{"menu_item_id": self.menu[n], "quantity": q} for n, q in items],
            },
        )
        assert r.status == 201, await r.text()
        body: dict[str, Any] = await r.json()
        return body

    async def get(self, order: str) -> dict[str, Any]:
        body: dict[str, Any] = await (
            await self.client.get(f"/api/orders/{order}", headers=self.h)
        ).json()
        return body

    def delivered(self, order: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return bool((await self.get(order))["status"] == "delivered")

        return check


@pytest.fixture
async def open_restaurant(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> Callable[[Settings], Awaitable[Restaurant]]:
    async def start(settings: Settings) -> Restaurant:
        client = await aiohttp_client(create_app(settings))
        app = client.app
        assert app is not None
        await load_demo(app[DB], settings)
        await UserService(app[DB], app[PASSWORDS], 8).create("staff", PASSWORD, Role.STAFF)
        r = await client.post("/api/auth/login", json={"username": "staff", "password": PASSWORD})
        return await Restaurant(client, (await r.json())["token"]).load()

    return start


STATES = ("charging", "idle")  # idle <-> charging is always allowed: one event per report


async def report_states(bot: Any, n: int, start: int = 0, pause: float = 0.01) -> list[str]:
    sent = []
    for i in range(start, start + n):
        state = STATES[i % 2]
        bot.state(state)
        bot.udp(bot.telemetry(x=float(i)))
        sent.append(state)
        await asyncio.sleep(pause)
    return sent
