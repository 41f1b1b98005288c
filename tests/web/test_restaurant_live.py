"""The ``restaurant`` topic: menu, prices, availability, tables and stock, pushed as committed."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse

from tests.support.web import MakeEnv, recv, recv_until
from tests.web.shop import Shop, open_shop


@pytest.fixture
async def shop(make_env: MakeEnv) -> Shop:
    return await Shop(await open_shop(make_env)).load()


async def _follow(shop: Shop, who: str = "viewer", **params: Any) -> ClientWebSocketResponse:
    ws = await shop.env.ws("/ws/restaurant", who, **params)
    assert (await recv(ws))["type"] == "hello"
    return ws


async def test_a_price_change_is_seen_live_by_a_second_client(shop: Shop) -> None:
    env = shop.env
    second = await _follow(shop)
    snap = await recv(second)
    assert snap["type"] == "snapshot" and snap["topic"] == "restaurant"
    kinds = {e["kind"] for e in snap["items"]}
    assert kinds == {"table", "menu_item", "inventory"}
    cola = next(e["item"] for e in snap["items"] if e["item"].get("name_en") == "Cola")
    r = await env.client.patch(
        f"/api/menu/{cola['id']}",
        headers=env.auth(),
        json={"price_minor": cola["price_minor"] + 500},
    )
    assert r.status == 200
    f = await recv_until(second, "menu_item")
    assert f["op"] == "updated" and f["by"] == "admin" and f["id"]
    assert f["item"]["id"] == cola["id"]
    assert f["item"]["price_minor"] == cola["price_minor"] + 500
    r = await env.client.patch(
        f"/api/menu/{cola['id']}", headers=env.auth(), json={"available": False}
    )
    f = await recv_until(second, "menu_item")
    assert f["item"]["available"] is False
    await second.close()


async def test_an_order_pushes_the_stock_it_took(shop: Shop) -> None:
    env = shop.env
    ws = await _follow(shop, kind="inventory,menu_item")
    snap = await recv(ws)
    assert {e["kind"] for e in snap["items"]} == {"menu_item", "inventory"}
    before = await shop.portions("Cola")
    assert before is not None and before >= 2
    r = await shop.order([("Cola", 2)])
    assert r.status == 201, await r.text()
    seen: dict[str, dict[str, Any]] = {}
    while "inventory" not in seen or "menu_item" not in seen:
        f = await recv(ws)
        seen[f["type"]] = f
    assert seen["inventory"]["item"]["name"] == "콜라" and seen["inventory"]["by"] == "staff"
    assert seen["menu_item"]["item"]["stock"] == before - 2
    order = (await r.json())["id"]
    r = await env.client.post(f"/api/orders/{order}/cancel", headers=env.auth("staff"))
    assert r.status == 200
    f = await recv_until(ws, "menu_item")
    assert f["item"]["stock"] == before, "a cancel while placed gives the stock back, live"
    await ws.close()


async def test_tables_and_stock_rows_and_resuming(shop: Shop) -> None:
    env = shop.env
    ws = await _follow(shop, "staff", kind="table")
    snap = await recv(ws)
    assert {e["kind"] for e in snap["items"]} == {"table"} and len(snap["items"]) == 3
    r = await env.client.post(
        "/api/tables", headers=env.auth(), json={"name": "T9", "seats": 2, "x": 1.0, "y": 1.0}
    )
    table = (await r.json())["id"]
    created = await recv_until(ws, "table")
    assert created["op"] == "created" and created["item"]["name"] == "T9"
    r = await env.client.delete(f"/api/tables/{table}", headers=env.auth())
    assert r.status == 204
    deleted = await recv_until(ws, "table")
    assert deleted["op"] == "deleted" and deleted["item"]["id"] == table
    await ws.close()
    # a stock count while away: resumed from `since`, no snapshot
    cola = shop.stock["콜라"]
    r = await env.client.patch(
        f"/api/inventory/{cola['id']}", headers=env.auth("staff"), json={"stock": 7}
    )
    assert r.status == 200
    again = await env.ws("/ws/restaurant", "viewer", since=created["id"])
    hello = await recv(again)
    assert hello["resumed"] is True
    replay = [await recv(again) for _ in range(3)]
    assert [f["type"] for f in replay] == ["table", "inventory", "menu_item"]
    assert replay[0]["op"] == "deleted" and replay[1]["item"]["stock"] == 7
    assert replay[2]["item"]["stock"] == 7
    await again.close()


async def test_the_feed_as_server_sent_events(shop: Shop) -> None:
    env = shop.env
    r = await env.client.get(
        "/api/stream/restaurant", params={"token": env.tokens["viewer"], "kind": "menu_item"}
    )
    assert r.status == 200
    hot = shop.menu["Cola"]
    await env.client.patch(f"/api/menu/{hot['id']}", headers=env.auth(), json={"name_en": "Coke"})
    events: list[str] = []
    while "event: menu_item" not in events:
        line = (await r.content.readline()).decode().strip()
        events.append(line)
    rest = [(await r.content.readline()).decode() for _ in range(2)]  # id: and data:
    assert rest[0].startswith("id: ") and rest[1].startswith("data: ")
    assert '"name_en":"Coke"' in rest[1]
    r.close()


async def test_a_bad_kind_is_refused_before_the_upgrade(shop: Shop) -> None:
    r = await shop.env.client.get(
        "/ws/restaurant", params={"token": shop.env.tokens["viewer"], "kind": "chairs"}
    )
    assert r.status == 422 and (await r.json())["field"] == "kind[0]"
