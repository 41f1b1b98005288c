"""The product's story end to end: orders placed over REST, cooked and carried by simulated
robots through the real gateway, projected back into SQL, watched on /ws/orders and SSE."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp import ClientWebSocketResponse, WSMsgType

from config import Settings
from tests.integration.sim import all_idle, simulated
from tests.servers import RedisServer
from tests.support.gateway import run_gateway
from tests.support.integration import (
    DELIVERED,
    ORIGIN,
    Restaurant,
    e2e_settings,
    events,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@contextlib.asynccontextmanager
async def board(shop: Restaurant) -> AsyncIterator[list[dict[str, Any]]]:
    """Every frame a /ws/orders client receives, collected while the block runs."""
    ws = await shop.client.ws_connect(
        "/ws/orders", params={"token": shop.h["Authorization"][7:]}, headers={"Origin": ORIGIN}
    )
    frames: list[dict[str, Any]] = []

    async def read(sock: ClientWebSocketResponse) -> None:
        async for msg in sock:
            if msg.type is WSMsgType.TEXT:
                frames.append(orjson.loads(msg.data))

    task = asyncio.create_task(read(ws))
    try:
        yield frames
    finally:
        await ws.close()
        await task


def statuses_on_board(frames: list[dict[str, Any]], order: str) -> list[str]:
    return [f["status"] for f in frames if f["type"] == "order" and f["order"] == order]


async def sse_statuses(shop: Restaurant, order: str, since_ms: int) -> list[str]:
    """The order's SSE stream from before it was placed, up to `delivered`."""
    r = await shop.client.get(
        f"/api/orders/{order}/events", headers=shop.h, params={"since": str(since_ms)}
    )
    assert r.status == 200
    out: list[str] = []
    kinds: list[str] = []
    async with asyncio.timeout(10):
        while "delivered" not in out:
            line = (await r.content.readline()).decode()
            if line.startswith("event:"):
                kinds.append(line.split(":", 1)[1].strip())
            if line.startswith("data:"):
                frame = orjson.loads(line[5:])
                assert frame.get("order", order) == order  # only this order's frames
                if frame["type"] == "order":
                    out.append(frame["status"])
    r.close()
    assert kinds[0] == "hello" and "snapshot" not in kinds  # resumed from `since`
    assert "task" in kinds
    return out


async def test_orders_are_cooked_and_delivered_and_everyone_sees_it(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    open_restaurant: Callable[[Settings], Awaitable[Restaurant]],
) -> None:
    settings = e2e_settings(redis_server.url, tmp_path)
    shop = await open_restaurant(settings)
    async with run_gateway(settings) as gw, simulated(settings, gw):
        await wait_for(lambda: all_idle(redis_client), timeout=10)
        since = int(time.time() * 1000) - 1
        async with board(shop) as frames:
            first = await shop.order("T2", ("Bibimbap", 1), ("Japchae", 2), ("Barley tea", 2))
            second = await shop.order("T1", ("Tteokbokki", 1))
            assert first["status"] == second["status"] == "placed"
            for o in (first, second):
                await wait_for(shop.delivered(o["id"]), timeout=30)
            await wait_for(lambda: statuses_on_board(frames, second["id"])[-1:] == ["delivered"])
        for o in (first, second):
            done = await shop.get(o["id"])
            assert [h["status"] for h in done["history"]] == DELIVERED
            assert done["robot"] in ("serve-1", "serve-2") and done["accepted_at"]
            assigned = [
                (e["data"]["kind"], e["robot"]) for e in done["log"] if e["type"] == "task.assigned"
            ]
            cooks = sum(1 for item in o["items"] if item["recipe"])
            assert assigned[:cooks] == [("cook", "cook-1")] * cooks
            assert assigned[cooks:] == [("deliver", done["robot"])]
            assert statuses_on_board(frames, o["id"]) == DELIVERED
        assert frames[0]["type"] == "hello" and frames[1]["type"] == "snapshot"
        placed = next(
            f for f in frames if f.get("status") == "placed" and f["order"] == first["id"]
        )
        assert [i["name"] for i in placed["detail"]["items"]] == ["비빔밥", "잡채", "보리차"]
        assert await sse_statuses(shop, first["id"], since) == DELIVERED
        cooked = [
            e["data"]["args"]
            for e in await events(redis_client, "command.sent")
            if e["data"]["action"] == "cook"
        ]
        assert sorted(c["recipe"] for c in cooked) == ["bibimbap", "japchae", "tteokbokki"]
        menu = {
            m["name_en"]: m
            for m in (await (await shop.client.get("/api/menu", headers=shop.h)).json())["items"]
        }
        assert menu["Japchae"]["stock"] == 23 and menu["Tteokbokki"]["stock"] == 29


async def test_a_serving_robot_killed_mid_delivery_is_replaced_and_the_order_delivered_once(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    open_restaurant: Callable[[Settings], Awaitable[Restaurant]],
) -> None:
    settings = e2e_settings(redis_server.url, tmp_path)
    shop = await open_restaurant(settings)
    async with run_gateway(settings) as gw, simulated(settings, gw, speed=1.5) as fleet:
        await wait_for(lambda: all_idle(redis_client), timeout=10)
        order = (await shop.order("T2", ("Hotteok", 1)))["id"]

        async def carrier() -> str | None:
            for e in await events(redis_client, "robot.state"):
                if e["data"]["state"] == "en_route" and e["data"]["task"] == f"{order}:d":
                    return str(e["robot"])
            return None

        first = await wait_for(carrier, timeout=15)
        fleet.robots[first].go_silent()  # dead: no more messages, never back
        await wait_for(shop.delivered(order), timeout=30)
        done = await shop.get(order)
        assert [h["status"] for h in done["history"]] == DELIVERED  # delivered once
        log = [(e["type"], e["robot"], e["data"]["kind"]) for e in done["log"]]
        second = done["robot"]
        assert second != first and second in ("serve-1", "serve-2")
        assert log == [
            ("task.assigned", "cook-1", "cook"),
            ("task.assigned", first, "deliver"),
            ("task.released", first, "deliver"),
            ("task.assigned", second, "deliver"),
        ]
        released = next(e for e in done["log"] if e["type"] == "task.released")
        assert released["data"]["reason"] == "robot offline"


async def test_an_order_completes_across_a_gateway_restart(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    open_restaurant: Callable[[Settings], Awaitable[Restaurant]],
) -> None:
    settings = e2e_settings(redis_server.url, tmp_path, cook_seconds=1.5)
    shop = await open_restaurant(settings)
    async with run_gateway(settings) as gw1, simulated(settings, gw1):
        await wait_for(lambda: all_idle(redis_client), timeout=10)
        order = (await shop.order("T1", ("Kimchi stew", 1)))["id"]

        async def cooking() -> bool:
            return bool((await shop.get(order))["status"] == "cooking")

        await wait_for(cooking, timeout=10)
        await gw1.stop()  # mid-cook; the robots keep trying to reconnect
        async with run_gateway(settings):
            await wait_for(shop.delivered(order), timeout=30)
    done = await shop.get(order)
    assert [h["status"] for h in done["history"]] == DELIVERED
    evs = await events(redis_client)
    restarted = [i for i, e in enumerate(evs) if e["type"] == "gateway.started"][-1]
    ready = next(
        i
        for i, e in enumerate(evs)
        if e["type"] == "order.status"
        and (e["data"]["order"], e["data"]["status"]) == (order, "ready")
    )
    assert restarted < ready  # the dish was still cooking when the gateway went away
    assert (
        sum(
            1
            for e in done["log"]
            if e["data"]["kind"] == "deliver" and e["type"] == "task.assigned"
        )
        >= 1
    )
