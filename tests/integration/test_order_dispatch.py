"""Orders through the gateway's dispatcher, cooked and carried by simulated robots."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config import Settings
from protocol import streams
from tests.integration.sim import FLOOR, all_idle, simulated
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.integration import events, place, statuses
from tests.support.replies import as_fields
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def settings_for(redis_url: str, tmp_path: Path) -> Settings:
    return gateway_settings(
        redis_url,
        tmp_path,
        floor=FLOOR,
        gateway={"heartbeat_s": 0.2, "stale_after_s": 0.8, "offline_after_s": 1.5},
        commands={"ack_timeout_s": 1, "max_attempts": 3, "ttl_s": 10},
        dispatch={"cook_seconds": 0.3, "min_battery": 30, "dock_below": 20},
    )


async def order_command(r: aioredis.Redis, kind: str, order: str) -> str:
    rec = streams.CommandRecord(
        id=uuid.uuid4().hex,
        robot="",
        action=kind.split(".")[1],
        ts=time.time(),
        type=kind,
        args={"order": order},
    )
    await r.xadd(streams.COMMANDS, as_fields(streams.to_fields(rec)))
    return rec.id


ITEMS = [
    {"line": "1", "name": "Bibimbap", "recipe": "bibimbap", "quantity": 1},
    {"line": "2", "name": "Japchae", "recipe": "japchae", "quantity": 2},
    {"line": "3", "name": "Barley tea", "quantity": 2},
]  # no recipe: staff pours it


async def test_an_order_is_cooked_and_delivered(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = settings_for(redis_server.url, tmp_path)
    async with run_gateway(settings) as gw, simulated(settings, gw):
        await wait_for(lambda: all_idle(redis_client), timeout=10)
        order = await place(redis_client, ITEMS)

        async def delivered() -> bool:
            return (await statuses(redis_client, order))[-1:] == ["delivered"]

        await wait_for(delivered, timeout=20)
        assert await statuses(redis_client, order) == [
            "placed",
            "cooking",
            "ready",
            "delivering",
            "delivered",
        ]
        evs = await events(redis_client)
        assigned = [e for e in evs if e["type"] == "task.assigned" and e["data"]["order"] == order]
        assert [(e["data"]["kind"], e["robot"]) for e in assigned] == [
            ("cook", "cook-1"),
            ("cook", "cook-1"),
            ("deliver", assigned[-1]["robot"]),
        ]
        assert assigned[-1]["robot"] in ("serve-1", "serve-2")
        cooks = [e for e in evs if e["type"] == "command.sent" and e["data"]["action"] == "cook"]
        assert {c["data"]["args"]["recipe"] for c in cooks} == {"bibimbap", "japchae"}
        assert next(c for c in cooks if c["data"]["args"]["recipe"] == "japchae")["data"]["args"][
            "seconds"
        ] == pytest.approx(0.6)
        await gw.drained()
        assert await redis_client.hlen(streams.DISPATCH) == 0  # finished orders leave the hash


async def test_a_robot_killed_mid_delivery_is_replaced_and_the_order_delivered_once(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = settings_for(redis_server.url, tmp_path)
    async with run_gateway(settings) as gw, simulated(settings, gw, speed=1.5) as fleet:
        await wait_for(lambda: all_idle(redis_client), timeout=10)
        order = await place(redis_client, [{"line": "1", "name": "Tea", "quantity": 1}])

        async def carrier() -> str | None:
            for e in await events(redis_client, "robot.state"):
                if e["data"]["state"] == "en_route" and e["data"]["task"] == f"{order}:d":
                    robot: str = e["robot"]
                    return robot
            return None

        first = await wait_for(carrier, timeout=10)
        fleet.robots[first].go_silent()  # dead: no more messages, never back

        async def delivered() -> bool:
            return (await statuses(redis_client, order))[-1:] == ["delivered"]

        await wait_for(delivered, timeout=25)
        evs = await events(redis_client)
        released = [e for e in evs if e["type"] == "task.released"]
        assert [(e["robot"], e["data"]["reason"]) for e in released] == [(first, "robot offline")]
        carriers = [
            e["robot"]
            for e in evs
            if e["type"] == "task.assigned" and e["data"]["kind"] == "deliver"
        ]
        second = carriers[-1]
        assert carriers == [first, second] and second != first
        assert (await statuses(redis_client, order)).count("delivered") == 1
        at_table = {
            e["robot"]
            for e in evs
            if e["type"] == "robot.state" and e["data"]["state"] == "at_table"
        }
        assert at_table == {second}


async def test_an_order_survives_a_gateway_restart(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = settings_for(redis_server.url, tmp_path).model_copy(
        update={
            "dispatch": settings_for(redis_server.url, tmp_path).dispatch.model_copy(
                update={"cook_seconds": 2.0}
            )
        }
    )
    async with run_gateway(settings) as gw:
        # no robots yet: the order waits, pending, in rd:dispatch
        order = await place(redis_client, ITEMS[:1])
        await wait_for(lambda: statuses(redis_client, order))
        await gw.drained()
        assert await redis_client.hexists(streams.DISPATCH, order)
    async with run_gateway(settings) as gw, simulated(settings, gw):

        async def delivered() -> bool:
            return (await statuses(redis_client, order))[-1:] == ["delivered"]

        await wait_for(delivered, timeout=25)
        assert await statuses(redis_client, order) == [
            "placed",
            "cooking",
            "ready",
            "delivering",
            "delivered",
        ]


async def test_cancel_and_bad_order_commands(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = settings_for(redis_server.url, tmp_path)
    async with run_gateway(settings):
        order = await place(redis_client, ITEMS)  # no robots: stays placed
        await wait_for(lambda: statuses(redis_client, order))
        await order_command(redis_client, "order.cancel", order)

        async def cancelled() -> bool:
            return (await statuses(redis_client, order))[-1:] == ["cancelled"]

        await wait_for(cancelled)
        again = await order_command(redis_client, "order.cancel", order)
        bad = streams.CommandRecord(
            id=uuid.uuid4().hex,
            robot="",
            action="place",
            ts=time.time(),
            type="order.place",
            args={"order": "o1", "table": {"name": "T1"}, "items": []},
        )
        await redis_client.xadd(streams.COMMANDS, as_fields(streams.to_fields(bad)))
        dup = await place(redis_client, ITEMS, order="o-dup")
        await place(redis_client, ITEMS, order=dup)
        weird = streams.CommandRecord(
            id="w1", robot="", action="x", ts=time.time(), type="order.eat"
        )

        await redis_client.xadd(streams.COMMANDS, as_fields(streams.to_fields(weird)))

        async def failures() -> dict[str, str]:
            out = {}
            for e in await events(redis_client, "command.failed"):
                out[e["data"].get("command") or e["data"].get("order")] = e["data"]["reason"]
            return out if len(out) >= 3 else {}

        got = await wait_for(failures)
        assert got[again] == "unknown_order"
        assert got[bad.id] == "invalid_order"
        assert got["w1"] == "unknown_type"
        dups = await wait_for(lambda: events(redis_client, "command.duplicate"))
        assert dups[0]["data"]["order"] == dup


async def test_low_battery_robot_docks_instead_of_delivering(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = settings_for(redis_server.url, tmp_path)
    async with run_gateway(settings) as gw, simulated(settings, gw) as fleet:
        await wait_for(lambda: all_idle(redis_client), timeout=10)
        # below dock_below (20), above the robot's own self-docking threshold (15)
        fleet.robots["serve-1"].model.battery = 18.0

        async def docked() -> bool:
            return any(
                e["robot"] == "serve-1" and e["data"]["action"] == "dock"
                for e in await events(redis_client, "command.sent")
            )

        await wait_for(docked, timeout=10)
        order = await place(redis_client, [{"line": "1", "name": "Tea", "quantity": 1}])

        async def assigned() -> list[str]:
            return [
                e["robot"]
                for e in await events(redis_client, "task.assigned")
                if e["data"]["order"] == order
            ]

        assert await wait_for(assigned, timeout=10) == ["serve-2"]
