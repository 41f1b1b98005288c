"""Past orders: filters by day, table, status and robot with the day's totals; one order's
tasks (who cooked, who carried, who dropped out and why)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from protocol.streams import Level
from tests.support.web import MakeEnv
from tests.waiting import wait_for as until
from tests.web.shop import Shop, open_shop
from web.db.orders import Order
from web.keys import DB

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture
async def shop(make_env: MakeEnv) -> Shop:
    return await Shop(await open_shop(make_env)).load()


async def listed(shop: Shop, **query: Any) -> dict[str, Any]:
    r = await shop.env.client.get(
        "/api/orders", headers=shop.env.auth("viewer"), params={k: str(v) for k, v in query.items()}
    )
    assert r.status == 200, await r.text()
    body: dict[str, Any] = await r.json()
    return body


async def test_filters_and_the_days_totals(shop: Shop) -> None:
    env = shop.env
    ids = []
    for items, table in (
        ([("Bibimbap", 2)], "T1"),
        ([("Cola", 1)], "T2"),
        ([("Bulgogi", 1), ("Cola", 2)], "T1"),
        ([("Sikhye", 1)], "T3"),
    ):
        r = await shop.order(items, table)
        assert r.status == 201, await r.text()
        ids.append((await r.json())["id"])
    # the last one was placed yesterday evening, Seoul time
    today = datetime.now(SEOUL).date()
    yesterday_evening = datetime.combine(
        today - timedelta(days=1), datetime.min.time(), SEOUL
    ) + timedelta(hours=23, minutes=30)
    async with env.app[DB]() as s, s.begin():
        await s.execute(
            update(Order)
            .where(Order.id == ids[3])
            .values(created_at=yesterday_evening.astimezone(UTC))
        )
    r = await env.client.post(f"/api/orders/{ids[1]}/cancel", headers=env.auth("staff"))
    assert r.status == 200

    day = await listed(shop, day=today.isoformat(), tz="Asia/Seoul")
    assert sorted(o["id"] for o in day["items"]) == sorted(ids[:3])
    totals = day["totals"]
    assert totals["orders"] == day["total"] == 3
    assert (totals["by_status"]["placed"], totals["by_status"]["cancelled"]) == (2, 1)
    assert totals["by_status"]["delivered"] == 0 and set(totals["by_status"]) == {
        "placed",
        "cooking",
        "ready",
        "delivering",
        "delivered",
        "cancelled",
    }
    # 2 x 11,000 + 15,000 + 2 x 2,500: the cancelled cola is not revenue
    assert totals["revenue"] == [{"currency": "KRW", "minor": 42000}]
    assert totals["delivered"] == []

    before = await listed(shop, day=(today - timedelta(days=1)).isoformat(), tz="Asia/Seoul")
    assert [o["id"] for o in before["items"]] == [ids[3]]
    t1 = await listed(
        shop,
        day=today.isoformat(),
        tz="Asia/Seoul",
        table_id=shop.tables["T1"]["id"],
        status="placed",
    )
    assert sorted(o["id"] for o in t1["items"]) == sorted([ids[0], ids[2]])
    assert t1["totals"]["revenue"] == [{"currency": "KRW", "minor": 42000}]
    paged = await listed(shop, limit=1)
    assert len(paged["items"]) == 1 and paged["totals"]["orders"] == paged["total"] == 4

    for query, field in (
        ({"tz": "Mars/Olympus", "day": today.isoformat()}, "tz"),
        ({"day": "2026-13-01"}, "day"),
        ({"robot": "a b"}, "robot"),
    ):
        r = await env.client.get("/api/orders", headers=env.auth(), params=query)
        assert r.status == 422 and (await r.json())["field"] == field, await r.text()


async def test_an_orders_tasks_say_who_cooked_who_carried_and_who_dropped_out(
    shop: Shop,
) -> None:
    env = shop.env
    r = await shop.order([("Cola", 1), ("Bibimbap", 1), ("Japchae", 2)], "T2")
    order = (await r.json())["id"]
    steps: list[tuple[str, str, Level, dict[str, Any]]] = [
        ("order.status", "", Level.INFO, {"status": "placed", "previous": None}),
        (
            "task.assigned",
            "cook-1",
            Level.INFO,
            {"task": f"{order}:c1", "kind": "cook", "attempt": 1},
        ),
        (
            "task.assigned",
            "cook-2",
            Level.INFO,
            {"task": f"{order}:c2", "kind": "cook", "attempt": 1},
        ),
        ("order.status", "", Level.INFO, {"status": "cooking", "previous": "placed"}),
        (
            "task.released",
            "cook-1",
            Level.WARNING,
            {"task": f"{order}:c1", "kind": "cook", "reason": "robot reported error"},
        ),
        (
            "task.assigned",
            "cook-2",
            Level.INFO,
            {"task": f"{order}:c1", "kind": "cook", "attempt": 2},
        ),
        ("order.status", "", Level.INFO, {"status": "ready", "previous": "cooking"}),
        (
            "task.assigned",
            "serve-2",
            Level.INFO,
            {"task": f"{order}:d", "kind": "deliver", "attempt": 1},
        ),
        (
            "task.released",
            "serve-2",
            Level.WARNING,
            {"task": f"{order}:d", "kind": "deliver", "reason": "robot offline"},
        ),
        (
            "task.assigned",
            "serve-1",
            Level.INFO,
            {"task": f"{order}:d", "kind": "deliver", "attempt": 2},
        ),
        ("order.status", "serve-1", Level.INFO, {"status": "delivering", "previous": "ready"}),
    ]
    for type_, robot, level, data in steps:
        await env.event(type_, robot, level, order=order, **data)

    async def projected() -> dict[str, Any] | None:
        got = await (await env.client.get(f"/api/orders/{order}", headers=env.auth())).json()
        return got if got["status"] == "delivering" and len(got["tasks"]) == 5 else None

    got = await until(projected, 10)
    tasks = [
        (t["task"].split(":")[1], t["robot"], t["attempt"], t["item"], t["outcome"], t["reason"])
        for t in got["tasks"]
    ]
    assert tasks == [
        ("c1", "cook-1", 1, "비빔밥", "released", "robot reported error"),
        ("c2", "cook-2", 1, "잡채", "done", ""),
        ("c1", "cook-2", 2, "비빔밥", "done", ""),
        ("d", "serve-2", 1, "", "released", "robot offline"),
        ("d", "serve-1", 2, "", "running", ""),
    ]
    assert got["tasks"][0]["line"] == 2 and got["tasks"][0]["released_at"] is not None
    assert got["cooked_by"] == ["cook-2"] and got["carried_by"] == "serve-1"
    await env.event(
        "order.status", "serve-1", order=order, status="delivered", previous="delivering"
    )
    got = await until(lambda: _status(env, order, "delivered"), 10)
    assert got["tasks"][-1]["outcome"] == "done"
    assert [h["status"] for h in got["history"]] == [
        "placed",
        "cooking",
        "ready",
        "delivering",
        "delivered",
    ]
    # the robot filter finds it by the robot that carried it
    by_robot = await listed(shop, robot="serve-1")
    assert [o["id"] for o in by_robot["items"]] == [order]
    assert by_robot["totals"]["delivered"] == [{"currency": "KRW", "minor": 29500}]


async def _status(env: Any, order: str, status: str) -> dict[str, Any] | None:
    got: dict[str, Any] = await (
        await env.client.get(f"/api/orders/{order}", headers=env.auth())
    ).json()
    return got if got["status"] == status else None
