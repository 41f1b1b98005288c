"""A web process with the demo restaurant loaded, and the helpers order tests share."""

from __future__ import annotations

from typing import Any, cast

from protocol.streams import COMMANDS, decode_fields
from tests.support.replies import RawEntries
from tests.support.web import MakeEnv, WebEnv
from tests.waiting import wait_for as until
from web.demo import load_demo
from web.keys import DB

TABLES = [
    {"name": "T1", "x": 4.0, "y": 4.0},
    {"name": "T2", "x": 8.0, "y": 6.0},
    {"name": "T3", "x": 10.0, "y": 2.0},
]


async def open_shop(make_env: MakeEnv, db_url: str | None = None, **overrides: Any) -> WebEnv:
    env = await make_env(db_url, floor={"tables": TABLES}, **overrides)
    await load_demo(env.app[DB], env.settings)
    return env


class Shop:
    """Names -> ids of the demo data, read through the API like a client would."""

    def __init__(self, env: WebEnv) -> None:
        self.env = env
        self.tables: dict[str, dict[str, Any]] = {}
        self.menu: dict[str, dict[str, Any]] = {}
        self.stock: dict[str, dict[str, Any]] = {}

    async def load(self) -> Shop:
        c, h = self.env.client, self.env.auth("viewer")
        self.tables = {
            t["name"]: t for t in (await (await c.get("/api/tables", headers=h)).json())["items"]
        }
        self.menu = {
            m["name_en"]: m for m in (await (await c.get("/api/menu", headers=h)).json())["items"]
        }
        inv = (await (await c.get("/api/inventory", headers=h)).json())["items"]
        self.stock = {i["name"]: i for i in inv}
        return self

    def item(self, name_en: str) -> int:
        return int(self.menu[name_en]["id"])

    async def portions(self, name_en: str) -> int | None:
        r = await self.env.client.get(f"/api/menu/{self.item(name_en)}", headers=self.env.auth())
        stock: int | None = (await r.json())["stock"]
        return stock

    async def set_stock(self, name: str, stock: int) -> None:
        r = await self.env.client.patch(
            f"/api/inventory/{self.stock[name]['id']}",
            headers=self.env.auth("staff"),
            json={"stock": stock},
        )
        assert r.status == 200, await r.text()

    async def order(
        self, items: list[tuple[str, int]], table: str = "T1", who: str = "staff", **extra: Any
    ) -> Any:
        body = {
            "table_id": self.tables[table]["id"],
            "items": [{"menu_item_id": self.item(n), "quantity": q} for n, q in items],
            **extra,
        }
        return await self.env.client.post("/api/orders", headers=self.env.auth(who), json=body)


async def commands(env: WebEnv, n: int, timeout: float = 5.0) -> list[tuple[str, dict[str, Any]]]:
    """The first ``n`` rd:commands entries (waits for the relay), decoded."""
    await until(lambda: _xlen_at_least(env, n), timeout)
    raw = cast(RawEntries, await env.redis.xrange(COMMANDS))
    return [(i.decode(), decode_fields(f)) for i, f in raw]


async def _xlen_at_least(env: WebEnv, n: int) -> bool:
    return int(await env.redis.xlen(COMMANDS)) >= n
