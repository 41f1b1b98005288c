"""Orders over REST: placing (stock, outbox), bad input, the last-portion race, cancel."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import jsonschema
import pytest
from sqlalchemy import func, select, update

from protocol.streams import COMMANDS, EVENTS
from tests.support.replies import RawEntries
from tests.support.web import MakeEnv
from tests.waiting import wait_for as until
from tests.web.shop import Shop, commands, open_shop
from web.db.orders import Order, OutboxRow
from web.keys import DB, OUTBOX


@pytest.fixture
async def shop(make_env: MakeEnv) -> Shop:
    return await Shop(await open_shop(make_env)).load()


async def test_an_order_is_placed_with_its_stock_taken_and_handed_to_the_gateway(
    shop: Shop,
) -> None:
    env = shop.env
    before = await shop.portions("Bulgogi")  # 40 beef / 2 per portion
    assert before == 20
    r = await shop.order(
        [("Bulgogi", 2), ("Cola", 1), ("Barley tea", 3)], table="T2", note="no MSG"
    )
    assert r.status == 201, await r.text()
    order = await r.json()
    assert r.headers["Location"] == f"/api/orders/{order['id']}"
    assert order["status"] == "placed" and order["table"] == "T2"
    assert order["total_minor"] == 2 * 15000 + 2500 + 3 * 2000 and order["currency"] == "KRW"
    assert [(i["line"], i["name"], i["recipe"], i["quantity"]) for i in order["items"]] == [
        (1, "불고기", "bulgogi", 2),
        (2, "콜라", None, 1),
        (3, "보리차", None, 3),
    ]
    assert [(h["status"], h["previous"], h["source"]) for h in order["history"]] == [
        ("placed", None, "staff")
    ]
    assert order["created_by"] == "staff" and order["note"] == "no MSG"
    assert await shop.portions("Bulgogi") == before - 2
    assert await shop.portions("Barley tea") is None  # not counted

    [(_, cmd)] = await commands(env, 1)
    assert cmd["type"] == "order.place" and cmd["action"] == "place" and cmd["robot"] == ""
    assert cmd["source"] == "staff"
    assert cmd["args"] == {
        "order": order["id"],
        "table": {"name": "T2", "x": 8.0, "y": 6.0},
        "items": [
            {"line": "1", "name": "Bulgogi", "recipe": "bulgogi", "quantity": 2},
            {"line": "2", "name": "Cola", "recipe": None, "quantity": 1},
            {"line": "3", "name": "Barley tea", "recipe": None, "quantity": 3},
        ],
    }
    async with env.app[DB]() as s:
        row = await s.scalar(select(OutboxRow))
    assert row is not None and row.id == cmd["id"] and row.sent_at is not None

    got = await env.client.get(f"/api/orders/{order['id']}", headers=env.auth("viewer"))
    assert (await got.json()) == order
    listed = await (await env.client.get("/api/orders?open=true", headers=env.auth())).json()
    assert [o["id"] for o in listed["items"]] == [order["id"]] and listed["total"] == 1


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"table_id": 999, "items": [{"menu_item_id": 1}]}, 422, "invalid_field", "table_id"),
        (
            {"table_id": 1, "items": [{"menu_item_id": 999}]},
            422,
            "invalid_field",
            "items[0].menu_item_id",
        ),
        (
            {"table_id": 1, "items": [{"menu_item_id": 1, "quantity": 0}]},
            422,
            "invalid_field",
            "items[0].quantity",
        ),
        (
            {"table_id": 1, "items": [{"menu_item_id": 1, "quantity": -2}]},
            422,
            "invalid_field",
            "items[0].quantity",
        ),
        (
            {"table_id": 1, "items": [{"menu_item_id": 1, "quantity": "2"}]},
            422,
            "invalid_field",
            "items[0].quantity",
        ),
        (
            {"table_id": 1, "items": [{"menu_item_id": 1, "quantity": 1.5}]},
            422,
            "invalid_field",
            "items[0].quantity",
        ),
        ({"table_id": 1, "items": []}, 422, "invalid_field", "items"),
        ({"table_id": 1}, 422, "invalid_field", "items"),
        (
            {"table_id": 1, "items": [{"menu_item_id": 1}], "price": 5},
            422,
            "invalid_field",
            "price",
        ),
        ({"table": "T99", "items": [{"menu_item_id": 1}]}, 422, "invalid_field", "table"),
        ({"items": [{"menu_item_id": 1}]}, 422, "invalid_field", "table_id"),
        (
            {"table_id": 1, "table": "T1", "items": [{"menu_item_id": 1}]},
            422,
            "invalid_field",
            "table_id",
        ),
        ({"table": "", "items": [{"menu_item_id": 1}]}, 422, "invalid_field", "table"),
    ],
)
async def test_bad_orders_are_refused_and_take_nothing(
    shop: Shop, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    env = shop.env
    r = await env.client.post("/api/orders", headers=env.auth("staff"), json=body)
    assert r.status == status
    problem = await r.json()
    assert (problem["code"], problem["field"]) == (code, field)
    async with env.app[DB]() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 0
        assert await s.scalar(select(func.count()).select_from(OutboxRow)) == 0


async def test_an_order_names_its_table_as_robot_commands_do(shop: Shop) -> None:
    env = shop.env
    body = {"table": "T2", "items": [{"menu_item_id": shop.item("Cola"), "quantity": 2}]}
    r = await env.client.post("/api/orders", headers=env.auth("staff"), json=body)
    assert r.status == 201, await r.text()
    order = await r.json()
    assert (order["table"], order["table_id"]) == ("T2", shop.tables["T2"]["id"])
    [(_, cmd)] = await commands(env, 1)
    assert cmd["args"]["table"] == {"name": "T2", "x": 8.0, "y": 6.0}
    spec = await (await env.client.get("/api/openapi.json")).json()
    fields = spec["components"]["schemas"]["OrderIn"]["properties"]
    assert {"table", "table_id"} <= fields.keys() and "T5" in fields["table"]["description"]
    assert "items" in spec["components"]["schemas"]["OrderIn"]["required"]


async def test_orders_need_a_writer_and_an_item_in_service(shop: Shop) -> None:
    env = shop.env
    assert (await shop.order([("Cola", 1)], who="viewer")).status == 403
    r = await env.client.patch(
        f"/api/menu/{shop.item('Cola')}", headers=env.auth(), json={"available": False}
    )
    assert r.status == 200
    r = await shop.order([("Bibimbap", 1), ("Cola", 1)])
    assert r.status == 409
    p = await r.json()
    assert (p["code"], p["field"], p["item"]) == ("unavailable", "items[1].menu_item_id", "콜라")
    r = await env.client.patch(
        f"/api/tables/{shop.tables['T3']['id']}", headers=env.auth(), json={"active": False}
    )
    assert r.status == 200
    r = await shop.order([("Bibimbap", 1)], table="T3")
    p = await r.json()
    assert r.status == 409 and (p["field"], p["table"]) == ("table_id", "T3")
    assert (await shop.order([("Bibimbap", 1)], table="T1")).status == 201


async def test_out_of_stock_is_a_409_naming_the_item_and_the_order_takes_nothing(
    shop: Shop,
) -> None:
    await shop.set_stock("콜라", 1)
    bulgogi = await shop.portions("Bulgogi")
    r = await shop.order([("Bulgogi", 1), ("Cola", 2)])
    assert r.status == 409
    p = await r.json()
    assert p["code"] == "out_of_stock" and p["item"] == "콜라"
    assert p["field"] == "items[1].menu_item_id" and p["menu_item_id"] == shop.item("Cola")
    assert "콜라 is out of stock (needs 2 of 콜라, 1 left)" in p["detail"]
    assert (p["needed"], p["left"], p["short_of"]) == (2, 1, "콜라")  # for a translated message
    assert await shop.portions("Bulgogi") == bulgogi  # rolled back with the order
    # an ingredient: two portions of bulgogi need 4 beef
    await shop.set_stock("beef", 3)
    r = await shop.order([("Bulgogi", 2)])
    assert r.status == 409
    p = await r.json()
    assert "needs 4 of beef, 3 left" in p["detail"]
    assert (p["item"], p["needed"], p["left"], p["short_of"]) == ("불고기", 4, 3, "beef")
    r = await shop.order([("Bulgogi", 1), ("Cola", 1)])
    assert r.status == 201
    assert await shop.portions("Cola") == 0 and await shop.portions("Bulgogi") == 0


async def test_two_orders_racing_for_the_last_portion_exactly_one_wins(
    make_env: MakeEnv, any_db_url: str
) -> None:
    shop = await Shop(await open_shop(make_env, any_db_url)).load()
    await shop.set_stock("식혜", 1)
    tries = await asyncio.gather(
        *(shop.order([("Sikhye", 1)], table=t) for t in ("T1", "T2", "T3"))
    )
    assert sorted(r.status for r in tries) == [201, 409, 409]
    for r in tries:
        if r.status == 409:
            p = await r.json()
            assert p["code"] == "out_of_stock" and p["item"] == "식혜"
    assert await shop.portions("Sikhye") == 0
    async with shop.env.app[DB]() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 1


async def test_cancel_gives_stock_back_and_follows_the_place_to_the_gateway(shop: Shop) -> None:
    env = shop.env
    order = await (await shop.order([("Sikhye", 2)])).json()
    assert await shop.portions("Sikhye") == 28
    r = await env.client.post(f"/api/orders/{order['id']}/cancel", headers=env.auth("staff"))
    assert r.status == 200
    cancelled = await r.json()
    assert cancelled["status"] == "cancelled"
    assert [(h["status"], h["previous"]) for h in cancelled["history"]] == [
        ("placed", None),
        ("cancelled", "placed"),
    ]
    assert await shop.portions("Sikhye") == 30
    place, cancel = await commands(env, 2)
    assert place[1]["type"] == "order.place" and cancel[1]["type"] == "order.cancel"
    assert cancel[1]["args"] == {"order": order["id"]} and place[0] < cancel[0]
    again = await env.client.post(f"/api/orders/{order['id']}/cancel", headers=env.auth("staff"))
    assert again.status == 200 and (await again.json()) == cancelled
    await asyncio.sleep(0.1)
    assert await env.redis.xlen(COMMANDS) == 2  # nothing more to tell the gateway
    assert (
        await env.client.post("/api/orders/nope/cancel", headers=env.auth("staff"))
    ).status == 404
    assert (
        await env.client.post("/api/orders/a%20b/cancel", headers=env.auth("staff"))
    ).status == 404
    assert (
        await env.client.post(f"/api/orders/{order['id']}/cancel", headers=env.auth("viewer"))
    ).status == 403


async def test_a_delivered_order_cannot_be_cancelled(shop: Shop) -> None:
    env = shop.env
    order = await (await shop.order([("Cola", 1)])).json()
    for prev, status in (
        (None, "placed"),
        ("placed", "ready"),
        ("ready", "delivering"),
        ("delivering", "delivered"),
    ):
        await env.event(
            "order.status", "serve-1", order=order["id"], status=status, previous=prev, table="T1"
        )

    async def delivered() -> bool:
        r = await env.client.get(f"/api/orders/{order['id']}", headers=env.auth())
        return bool((await r.json())["status"] == "delivered")

    await until(delivered)
    r = await env.client.post(f"/api/orders/{order['id']}/cancel", headers=env.auth("staff"))
    assert r.status == 409
    p = await r.json()
    assert p["status"] == 409, "the HTTP status, never the order's (RFC 9457)"
    assert p["code"] == "conflict" and p["order_status"] == "delivered"
    assert "delivered" in p["detail"]
    doc = await (await env.client.get("/api/openapi.json")).json()
    jsonschema.validate(p, {**doc, "$ref": "#/components/schemas/ProblemOut"})
    r = await env.client.post(f"/api/orders/{order['id']}/pickup", headers=env.auth("staff"))
    assert r.status == 409


async def test_a_retried_post_with_an_idempotency_key_places_one_order(shop: Shop) -> None:
    env = shop.env
    body = {"table_id": shop.tables["T1"]["id"], "items": [{"menu_item_id": shop.item("Cola")}]}
    h = {**env.auth("staff"), "Idempotency-Key": "tablet-7:order-1"}
    first, second = await asyncio.gather(
        env.client.post("/api/orders", headers=h, json=body),
        env.client.post("/api/orders", headers=h, json=body),
    )
    assert sorted([first.status, second.status]) == [200, 201]
    assert (await first.json())["id"] == (await second.json())["id"]
    assert await shop.portions("Cola") == 47
    other = await env.client.post(
        "/api/orders",
        headers=h,
        json={**body, "items": [{"menu_item_id": shop.item("Cola"), "quantity": 2}]},
    )
    assert other.status == 422 and (await other.json())["field"] == "Idempotency-Key"
    async with env.app[DB]() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 1


async def test_a_crash_between_xadd_and_mark_sends_the_order_once(shop: Shop) -> None:
    env = shop.env
    order = await (await shop.order([("Cola", 1)])).json()
    [(sid, cmd)] = await commands(env, 1)
    async with env.app[DB]() as s, s.begin():  # the mark was lost: the relay sends it again
        await s.execute(update(OutboxRow).values(sent_at=None, stream_id=""))
    relay = env.app[OUTBOX]
    assert await relay.publish_pending() == 1
    assert await env.redis.xlen(COMMANDS) == 1  # the marker key answered the first stream id
    async with env.app[DB]() as s:
        row = await s.scalar(select(OutboxRow))
    assert row is not None and row.stream_id == sid and row.sent_at is not None
    assert cmd["args"]["order"] == order["id"]


async def test_stock_going_low_is_an_event(shop: Shop) -> None:
    env = shop.env
    await shop.set_stock("콜라", 13)  # threshold 12
    assert (await shop.order([("Cola", 1)])).status == 201
    raw = cast(RawEntries, await env.redis.xrange(EVENTS))
    low = [f for _, f in raw if f[b"type"] == b"inventory.low"]
    assert len(low) == 1 and b'"stock":12' in low[0][b"data"] and low[0][b"level"] == b"warning"
    r = await env.client.get("/api/inventory?low=true", headers=env.auth("viewer"))
    assert [i["name"] for i in (await r.json())["items"]] == ["콜라"]
