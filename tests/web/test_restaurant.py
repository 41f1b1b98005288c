"""Tables, menu and inventory over REST; the cookbot/albabot views; `robodine demo-data`."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from protocol.streams import DISPATCH
from robodine import cli as robodine_cli
from tests.support.web import MakeEnv, WebEnv
from tests.web.shop import Shop, open_shop


@pytest.fixture
async def shop(make_env: MakeEnv) -> Shop:
    return await Shop(await open_shop(make_env)).load()


async def test_tables(shop: Shop) -> None:
    env, c = shop.env, shop.env.client
    r = await c.get("/api/tables?sort=-seats&limit=2", headers=env.auth("viewer"))
    page = await r.json()
    assert page["total"] == 3 and [t["seats"] for t in page["items"]] == [4, 4]
    body = {"name": "Patio 1", "x": 18.5, "y": 11.0, "seats": 6}
    r = await c.post("/api/tables", headers=env.auth(), json=body)
    assert r.status == 201
    made = await r.json()
    assert {k: made[k] for k in body} == body and made["active"] is True
    for who, bad, status, field in (
        ("staff", body, 403, None),
        ("admin", body, 409, "name"),
        ("admin", {**body, "name": "P2", "x": 25.0}, 422, "x"),  # the floor is 20 m wide
        ("admin", {**body, "name": "P2", "y": -1}, 422, "y"),
        ("admin", {**body, "name": "P2", "seats": 0}, 422, "seats"),
        ("admin", {**body, "name": "P2", "x": "18.5"}, 422, "x"),
        ("admin", {**body, "name": ""}, 422, "name"),
    ):
        r = await c.post("/api/tables", headers=env.auth(who), json=bad)
        assert (r.status, (await r.json()).get("field")) == (status, field), bad
    r = await c.patch(
        f"/api/tables/{made['id']}", headers=env.auth(), json={"seats": 8, "active": False}
    )
    assert (await r.json())["seats"] == 8
    assert (await c.get("/api/tables?active=true", headers=env.auth())).status == 200
    names = [
        t["name"]
        for t in (await (await c.get("/api/tables?active=true", headers=env.auth())).json())[
            "items"
        ]
    ]
    assert names == ["T1", "T2", "T3"]
    assert (
        await c.patch(f"/api/tables/{made['id']}", headers=env.auth(), json={"name": "T1"})
    ).status == 409
    assert (await c.delete(f"/api/tables/{made['id']}", headers=env.auth())).status == 204
    assert (await c.get(f"/api/tables/{made['id']}", headers=env.auth())).status == 404
    assert (await shop.order([("Cola", 1)], table="T2")).status == 201
    r = await c.delete(f"/api/tables/{shop.tables['T2']['id']}", headers=env.auth())
    assert r.status == 409 and "deactivate" in (await r.json())["detail"]
    assert (await c.get("/api/tables?sort=size", headers=env.auth())).status == 422


@pytest.mark.parametrize(
    ("price", "field"),
    [
        (12000.5, "price_minor"),
        ("12,000", "price_minor"),
        ("12000", "price_minor"),
        (-1, "price_minor"),
        (None, "price_minor"),
    ],
)
async def test_a_price_in_the_wrong_format_is_refused(env: WebEnv, price: Any, field: str) -> None:
    body = {"name": "라면", "category": "mains", "price_minor": price}
    r = await env.client.post("/api/menu", headers=env.auth(), json=body)
    assert r.status == 422
    p = await r.json()
    assert p["field"] == field and p["code"] == "invalid_field"


async def test_menu(make_env: MakeEnv, any_db_url: str) -> None:
    shop = await Shop(await open_shop(make_env, any_db_url)).load()
    env, c = shop.env, shop.env.client
    r = await c.get("/api/menu?category=drinks&sort=-price", headers=env.auth("viewer"))
    page = await r.json()
    assert [m["name_en"] for m in page["items"]] == ["Sikhye", "Cola", "Barley tea"]
    assert page["total"] == 3 and "mains" in page["categories"]
    r = await c.get("/api/menu?robot_cooked=true&sort=name&limit=3&offset=1", headers=env.auth())
    page = await r.json()
    assert (
        page["total"] == 8 and len(page["items"]) == 3 and all(m["recipe"] for m in page["items"])
    )
    bulgogi = shop.menu["Bulgogi"]
    assert (bulgogi["stock"], bulgogi["low_stock"], bulgogi["price_minor"]) == (20, False, 15000)
    body = {
        "name": "라면",
        "name_en": "Ramyeon",
        "category": "mains",
        "price_minor": 6000,
        "robot_cooked": True,
    }
    r = await c.post("/api/menu", headers=env.auth(), json=body)
    assert r.status == 422 and (await r.json())["field"] == "recipe"
    r = await c.post("/api/menu", headers=env.auth(), json={**body, "recipe": "ramyeon"})
    assert r.status == 201
    ramyeon = await r.json()
    assert ramyeon["stock"] is None and ramyeon["currency"] == "KRW"
    assert (
        await c.post("/api/menu", headers=env.auth(), json={**body, "recipe": "r"})
    ).status == 409
    assert (await c.post("/api/menu", headers=env.auth("staff"), json=body)).status == 403
    r = await c.patch(
        f"/api/menu/{ramyeon['id']}", headers=env.auth(), json={"price_minor": 6500, "recipe": None}
    )
    assert r.status == 422 and (await r.json())["field"] == "recipe"
    r = await c.patch(f"/api/menu/{ramyeon['id']}", headers=env.auth(), json={"price_minor": 6500})
    assert (await r.json())["price_minor"] == 6500
    assert (await c.delete(f"/api/menu/{ramyeon['id']}", headers=env.auth())).status == 204
    assert (await shop.order([("Japchae", 1)])).status == 201
    r = await c.delete(f"/api/menu/{shop.item('Japchae')}", headers=env.auth())
    assert r.status == 409 and "unavailable" in (await r.json())["detail"]


async def test_inventory(shop: Shop) -> None:
    env, c = shop.env, shop.env.client
    beef = shop.stock["beef"]
    assert beef["used_by"] == [
        {"menu_item_id": shop.item("Bibimbap"), "amount": 1},
        {"menu_item_id": shop.item("Bulgogi"), "amount": 2},
    ]
    r = await c.patch(
        f"/api/inventory/{beef['id']}", headers=env.auth("staff"), json={"adjust": -35}
    )
    assert (await r.json())["stock"] == 5 and (await r.json())["low"] is True
    assert await shop.portions("Bulgogi") == 2 and shop.menu["Bulgogi"]["low_stock"] is False
    r = await c.patch(
        f"/api/inventory/{beef['id']}", headers=env.auth("staff"), json={"adjust": -6}
    )
    assert r.status == 409 and (await r.json())["field"] == "adjust"
    r = await c.patch(
        f"/api/inventory/{beef['id']}", headers=env.auth("staff"), json={"adjust": 1, "stock": 3}
    )
    assert r.status == 422
    assert (
        await c.patch(
            f"/api/inventory/{beef['id']}", headers=env.auth("viewer"), json={"adjust": 1}
        )
    ).status == 403
    r = await c.get("/api/inventory?low=true&kind=ingredient", headers=env.auth("viewer"))
    assert [i["name"] for i in (await r.json())["items"]] == ["beef"]
    r = await c.post(
        "/api/inventory",
        headers=env.auth(),
        json={
            "ingredient": "noodles",
            "stock": 10,
            "low_stock": 2,
            "used_by": [{"menu_item_id": shop.item("Japchae"), "amount": 2}],
        },
    )
    assert r.status == 201
    assert await shop.portions("Japchae") == 5  # min(25 glass noodles, 10 noodles / 2)
    for bad, status, field in (
        ({"stock": 1}, 422, "menu_item_id"),
        ({"stock": 1, "menu_item_id": 1, "ingredient": "x"}, 422, "menu_item_id"),
        ({"stock": 1, "ingredient": "noodles"}, 409, None),
        ({"stock": 1, "menu_item_id": 999}, 422, "menu_item_id"),
        ({"stock": -1, "ingredient": "salt"}, 422, "stock"),
        (
            {"stock": 1, "ingredient": "salt", "used_by": [{"menu_item_id": 999}]},
            422,
            "used_by[0].menu_item_id",
        ),
    ):
        r = await c.post("/api/inventory", headers=env.auth(), json=bad)
        assert (r.status, (await r.json()).get("field")) == (status, field), bad


async def test_cookbot_and_albabot_views(shop: Shop) -> None:
    env = shop.env
    await env.snapshot("cook-1", kind="cooking", connection="online", state="cooking")
    order = {
        "id": "o1",
        "table": "T2",
        "status": "cooking",
        "placed": 100.0,
        "tasks": [
            {
                "id": "o1:c0",
                "kind": "cook",
                "args": {"recipe": "bibimbap", "item": "Bibimbap", "quantity": 2},
                "status": "assigned",
                "robot": "cook-1",
                "attempts": 1,
            },
            {
                "id": "o1:c1",
                "kind": "cook",
                "args": {"recipe": "japchae", "item": "Japchae", "quantity": 1},
                "status": "pending",
            },
            {
                "id": "o1:d",
                "kind": "deliver",
                "args": {"x": 8.0, "y": 6.0, "table": "T2"},
                "status": "pending",
            },
        ],
        "future_field": True,
    }
    delivering = {
        "id": "o2",
        "table": "T1",
        "status": "delivering",
        "placed": 90.0,
        "tasks": [
            {
                "id": "o2:d",
                "kind": "deliver",
                "args": {"x": 4.0, "y": 4.0, "table": "T1"},
                "status": "assigned",
                "robot": "serve-2",
                "attempts": 2,
            }
        ],
    }
    await env.redis.hset(
        DISPATCH,
        mapping={
            "o1": msgspec.json.encode(order),
            "o2": msgspec.json.encode(delivering),
            "bad": b"{",
        },
    )
    cook = await (await env.client.get("/api/cookbot", headers=env.auth("viewer"))).json()
    assert [(e["robot"]["id"], e["task"] and e["task"]["recipe"]) for e in cook["robots"]] == [
        ("cook-1", "bibimbap")
    ]
    assert cook["robots"][0]["robot"]["state"] == "cooking"
    assert [(t["task"], t["recipe"], t["quantity"], t["table"]) for t in cook["queue"]] == [
        ("o1:c1", "japchae", 1, "T2")
    ]
    assert {r["recipe"]: r["menu_items"] for r in cook["recipes"]}["bibimbap"] == ["비빔밥"]
    alba = await (await env.client.get("/api/albabot", headers=env.auth("viewer"))).json()
    by = {e["robot"]["id"]: e["task"] for e in alba["robots"]}
    assert set(by) == {"serve-1", "serve-2"} and by["serve-1"] is None
    assert (by["serve-2"]["order"], by["serve-2"]["attempts"], by["serve-2"]["ready"]) == (
        "o2",
        2,
        True,
    )
    assert [(d["order"], d["ready"], d["x"]) for d in alba["queue"]] == [("o1", False, 8.0)]


def _cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, *argv: str, stdin: str = ""
) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    monkeypatch.setattr(robodine_cli, "configure_logging", lambda *a, **k: None)
    for key in [k for k in os.environ if k.startswith("ROBODINE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ROBODINE_DATABASE_URL", db)
    monkeypatch.setenv("ROBODINE_WEB_ARGON2_MEMORY_KIB", "8")
    monkeypatch.setenv("ROBODINE_WEB_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ROBODINE_WEB_ARGON2_PARALLELISM", "1")
    config = Path(__file__).parents[2] / "config" / "example.toml"
    return robodine_cli.main(["--config", str(config), *argv])


def test_demo_data_loads_a_restaurant_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/demo.sqlite3"
    secret = tmp_path / "var" / "admin-password"
    assert _cli(monkeypatch, tmp_path, db, "demo-data", "--password-file", str(secret)) == 0
    out = capsys.readouterr().out
    assert "added 12 tables, 12 menu items, 9 stock rows, 9 robots, user 'admin' (admin)" in out
    password = secret.read_text().strip()
    assert f"(shown once, also in {secret}): {password}" in out and len(password) >= 20
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert _cli(monkeypatch, tmp_path, db, "demo-data", "--password-file", str(secret)) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert _cli(monkeypatch, tmp_path, db, "demo-data", "--if-empty") == 0
    assert "not empty; nothing done" in capsys.readouterr().out
    assert secret.read_text().strip() == password

    fresh = f"sqlite+aiosqlite:///{tmp_path}/given.sqlite3"
    other = tmp_path / "other-password"
    given = "the admin's own password"
    assert (
        _cli(
            monkeypatch,
            tmp_path,
            fresh,
            "demo-data",
            "--password-file",
            str(other),
            stdin=given + "\n",
        )
        == 0
    )
    assert given not in capsys.readouterr().out and not other.exists()
    assert (
        _cli(
            monkeypatch,
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path}/short.sqlite3",
            "demo-data",
            stdin="short\n",
        )
        == 2
    )
    assert "at least 10 characters" in capsys.readouterr().err


async def test_after_demo_data_a_client_can_place_an_order(
    make_env: MakeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    db = f"sqlite+aiosqlite:///{tmp_path}/demo.sqlite3"
    given = "the admin's own password"
    assert (
        await asyncio.to_thread(_cli, monkeypatch, tmp_path, db, "demo-data", stdin=given + "\n")
        == 0
    )
    env = await make_env(db, users=False)
    await env.login("admin", given)
    tables = (await (await env.client.get("/api/tables", headers=env.auth())).json())["items"]
    menu = (await (await env.client.get("/api/menu", headers=env.auth())).json())["items"]
    assert [t["name"] for t in tables] == [f"T{i}" for i in range(1, 13)]
    assert (tables[2]["x"], tables[2]["y"]) == (10.0, 2.0)
    assert len(menu) == 12 and {m["currency"] for m in menu} == {"KRW"}
    assert sum(m["robot_cooked"] for m in menu) == 8
    robots = (await (await env.client.get("/api/robots", headers=env.auth())).json())["items"]
    assert {r["id"] for r in robots} >= {"serve-1", "cook-1"}  # the test's config robots
    r = await env.client.post(
        "/api/orders",
        headers=env.auth(),
        json={
            "table_id": tables[0]["id"],
            "items": [{"menu_item_id": menu[0]["id"], "quantity": 1}],
        },
    )
    assert r.status == 201 and (await r.json())["status"] == "placed"
