"""Order progress: the projector (rd:events -> SQL, once), the /ws/orders board, per-order SSE."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, cast

import orjson
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from config.settings import DatabaseSettings, RedisSettings
from protocol.streams import EVENTS, EventRecord, to_fields
from robodine.redisio.client import connect
from tests.servers import RedisServer
from tests.support.replies import RawEntries, RawStreams, as_fields
from tests.support.web import ORIGIN, MakeEnv, WebEnv, recv, recv_until, web_settings
from tests.waiting import wait_for as until
from tests.web.shop import TABLES, Shop, open_shop
from web.db.orders import OrderEvent
from web.db.session import create_engine, sessionmaker
from web.demo import load_demo
from web.keys import DB
from web.orders.projector import GROUP, Projector, apply_event, moves
from web.orders.schemas import OrderIn, OrderLineIn
from web.orders.service import OrderService

DELIVERED = ["placed", "cooking", "ready", "delivering", "delivered"]


@pytest.fixture
async def shop(make_env: MakeEnv) -> Shop:
    return await Shop(await open_shop(make_env)).load()


def status_event(order: str, status: str, previous: str | None, robot: str = "") -> EventRecord:
    return EventRecord(
        eid=uuid.uuid4().hex,
        type="order.status",
        ts=time.time(),
        robot=robot,
        src="gw-test",
        data={"order": order, "status": status, "previous": previous, "table": "T1"},
    )


async def history(env: WebEnv, order: str) -> list[str]:
    r = await env.client.get(f"/api/orders/{order}", headers=env.auth("viewer"))
    return [h["status"] for h in (await r.json())["history"]]


def test_statuses_only_move_forward_and_delivered_wins_over_a_late_cancel() -> None:
    assert moves("placed", "cooking") and moves("cooking", "delivering")
    assert not moves("ready", "cooking") and not moves("placed", "placed")
    assert moves("delivering", "cancelled") and not moves("cancelled", "ready")
    assert moves("cancelled", "delivered") and not moves("delivered", "delivered")
    assert not moves("delivered", "cancelled")


async def test_the_projector_applies_each_event_once_and_in_status_order(
    make_env: MakeEnv, any_db_url: str
) -> None:
    shop = await Shop(await open_shop(make_env, any_db_url)).load()
    env = shop.env
    order = (await (await shop.order([("Bibimbap", 1)])).json())["id"]
    await env.event("order.status", order=order, status="placed", previous=None, table="T1")
    await env.event("order.status", order=order, status="cooking", previous="placed")
    await env.event(
        "task.assigned", "cook-1", order=order, task=f"{order}:c0", kind="cook", attempt=1
    )
    await env.event("order.status", order=order, status="ready", previous="cooking")
    late = await env.event("order.status", order=order, status="cooking", previous="placed")
    await env.event(
        "task.released",
        "serve-1",
        order=order,
        task=f"{order}:d",
        kind="deliver",
        reason="robot offline",
    )
    await env.event("order.status", "serve-2", order=order, status="delivering", previous="ready")
    await env.event(
        "order.status", "serve-2", order=order, status="delivered", previous="delivering"
    )
    await env.event("order.status", order="someone-elses", status="placed")  # not in SQL: skipped
    await until(lambda: _is(history(env, order), DELIVERED))
    r = await env.client.get(f"/api/orders/{order}", headers=env.auth("viewer"))
    o = await r.json()
    assert o["status"] == "delivered" and o["robot"] == "serve-2" and o["accepted_at"]
    assert [(h["status"], h["previous"], h["source"]) for h in o["history"][1:]] == [
        ("cooking", "placed", "gw-test"),
        ("ready", "cooking", "gw-test"),
        ("delivering", "ready", "gw-test"),
        ("delivered", "delivering", "gw-test"),
    ]
    assert [(e["type"], e["robot"], e["data"].get("reason")) for e in o["log"]] == [
        ("task.assigned", "cook-1", None),
        ("task.released", "serve-1", "robot offline"),
    ]
    # the same event delivered again (a replay after an outage) changes nothing
    raw = cast(RawEntries, await env.redis.xrange(EVENTS, min=late, max=late))
    await env.redis.xadd(EVENTS, as_fields(raw[0][1]))
    await until(lambda: _drained(env.redis))
    assert await history(env, order) == DELIVERED
    async with env.app[DB]() as s:
        n = await s.scalar(
            select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order)
        )
    assert n == 1 + 8  # placed by the web, then one row per distinct event


async def _is(coro: Any, expected: Any) -> bool:
    return bool(await coro == expected)


async def _drained(r: aioredis.Redis) -> bool:
    [g] = [g for g in await r.xinfo_groups(EVENTS) if g["name"] == GROUP.encode()]
    return bool(g["pending"] == 0 and g["lag"] == 0)


async def test_a_projector_restarted_after_a_crash_applies_what_it_had_read_once(
    redis_server: RedisServer, redis_client: aioredis.Redis, sqlite_url: str
) -> None:
    """No web app: a projector of its own, whose consumer read entries and died before XACK."""
    engine = create_engine(DatabaseSettings(url=sqlite_url))
    db = sessionmaker(engine)
    projector = Projector(db, lambda: _client(redis_server.url), consumer="web-9", block_ms=100)
    try:
        await load_demo(db, web_settings(redis_server.url, sqlite_url, floor={"tables": TABLES}))
        order, _, _ = await OrderService(db, source="test").place(
            OrderIn(table_id=1, items=[OrderLineIn(menu_item_id=1)]), "staff"
        )
        await redis_client.xgroup_create(EVENTS, GROUP, id="0", mkstream=True)
        events = [
            status_event(order.id, s, p)
            for s, p in (("cooking", "placed"), ("ready", "cooking"), ("delivering", "ready"))
        ]
        ids = [
            cast(bytes, await redis_client.xadd(EVENTS, as_fields(to_fields(e)))).decode()
            for e in events
        ]
        # web-9 read all three, committed the first, and died before any XACK
        got = cast(
            RawStreams, await redis_client.xreadgroup(GROUP, "web-9", {EVENTS: ">"}, count=10)
        )
        assert [i.decode() for i, _ in got[0][1]] == ids
        async with db() as s, s.begin():
            assert await apply_event(s, ids[0], events[0])
        task = asyncio.create_task(projector.run())  # web-9 again, after a restart
        await until(lambda: _drained(redis_client))
        async with db() as s:
            rows = await s.scalars(
                select(OrderEvent.status)
                .where(OrderEvent.order_id == order.id)
                .order_by(OrderEvent.id)
            )
            assert list(rows) == ["placed", "cooking", "ready", "delivering"]
        assert projector.applied == 2  # the first was a no-op: its eid was there
    finally:
        projector.stop()
        if "task" in locals():
            await asyncio.wait_for(task, 5)
        await engine.dispose()


def _client(url: str) -> aioredis.Redis:
    settings = RedisSettings(url=url, connect_timeout_s=0.5)
    return connect(settings, name="t", block_ms=100, decode=True)


async def test_the_orders_board_gets_the_snapshot_then_every_change(shop: Shop) -> None:
    env = shop.env
    first = (await (await shop.order([("Cola", 1)])).json())["id"]
    ws = await env.ws("/ws/orders", "viewer")
    assert (await recv(ws))["type"] == "hello"
    snap = await recv(ws)
    assert snap["type"] == "snapshot" and [o["id"] for o in snap["items"]] == [first]
    assert snap["items"][0]["items"][0]["name"] == "콜라"
    second = (await (await shop.order([("Japchae", 2)], table="T3")).json())["id"]
    await env.event("order.status", order=second, status="placed", previous=None, table="T3")
    await env.event(
        "task.assigned", "cook-1", order=second, task=f"{second}:c0", kind="cook", attempt=1
    )
    await env.event("robot.state", "cook-1", state="cooking")  # not an order frame
    await env.event("order.status", order=second, status="cooking", previous="placed", table="T3")
    placed = await recv_until(ws, "order")
    assert (placed["order"], placed["status"], placed["table"]) == (second, "placed", "T3")
    assert (
        placed["detail"]["items"][0]["name"] == "잡채" and placed["detail"]["total_minor"] == 16000
    )
    task = await recv(ws)
    assert (task["type"], task["event"], task["robot"], task["kind"]) == (
        "task",
        "task.assigned",
        "cook-1",
        "cook",
    )
    cooking = await recv(ws)
    assert (cooking["type"], cooking["status"], cooking["previous"]) == (
        "order",
        "cooking",
        "placed",
    )
    assert cooking["detail"] is None
    await ws.close()
    # a client following one order only
    one = await env.ws("/ws/orders", "viewer", order=first)
    await recv(one)
    assert [o["id"] for o in (await recv(one))["items"]] == [first]
    await env.event("order.status", order=second, status="ready", previous="cooking")
    await env.event("order.status", order=first, status="cancelled", previous="placed")
    f = await recv_until(one, "order")
    assert (f["order"], f["status"]) == (first, "cancelled")
    await one.close()


async def test_one_orders_progress_as_server_sent_events(shop: Shop) -> None:
    env = shop.env
    order = (await (await shop.order([("Hotteok", 1)])).json())["id"]
    other = (await (await shop.order([("Cola", 1)])).json())["id"]
    h = {**env.auth("viewer"), "Origin": ORIGIN}
    assert (await env.client.get("/api/orders/nope/events", headers=h)).status == 404
    assert (await env.client.get(f"/api/orders/{order}/events")).status == 401
    bad = await env.client.get(f"/api/orders/{order}/events", headers=h, params={"since": "x"})
    assert bad.status == 422
    evil = await env.client.get(
        f"/api/orders/{order}/events", headers={**h, "Origin": "https://evil.example"}
    )
    assert evil.status == 403
    r = await env.client.get(f"/api/orders/{order}/events", headers=h)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    await env.event("order.status", order=other, status="placed", previous=None)
    for s, p in (("placed", None), ("cooking", "placed"), ("ready", "cooking")):
        await env.event("order.status", order=order, status=s, previous=p)
    got = await _sse(r, 5)
    assert [e["event"] for e in got] == ["hello", "snapshot", "order", "order", "order"]
    assert [o["id"] for o in got[1]["data"]["items"]] == [order]
    assert [e["data"]["status"] for e in got[2:]] == ["placed", "cooking", "ready"]
    assert all(e["id"] == e["data"]["id"] for e in got[2:])
    r.close()
    # resume after the first status: the rest, nothing twice
    again = await env.client.get(
        f"/api/orders/{order}/events", headers={**h, "Last-Event-ID": got[2]["id"]}
    )
    resumed = await _sse(again, 3)
    assert [e["event"] for e in resumed] == ["hello", "order", "order"]
    assert resumed[0]["data"]["resumed"] is True
    assert [e["data"]["status"] for e in resumed[1:]] == ["cooking", "ready"]
    again.close()


async def _sse(resp: Any, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    while len(out) < n:
        line = (await resp.content.readline()).decode().rstrip("\n")
        if line.startswith(("event:", "id:", "data:")):
            k, _, v = line.partition(":")
            current[k] = orjson.loads(v.strip()) if k == "data" else v.strip()
        elif line == "" and current:
            out.append(current)
            current = {}
    return out
