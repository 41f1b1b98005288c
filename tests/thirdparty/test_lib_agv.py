"""A VDA 5050 AGV nobody here wrote: vda-5050-lib's AgvController with its VirtualAgvAdapter,
as a 2.0.0 (and a 1.1.0) AGV, served by the real gateway, mosquitto and web tier.

The restaurant's staff place an order over REST; the simulated cook (TCP) cooks
it; the gateway, as master control, sends the AGV to the table as a base and a
horizon, updates the order as it drives, and brings it back after
``pickup_done``. Then a cancel mid-route, pause and resume, the e-stop plan and
the last will. Everything on ``uagv/#`` is checked against the AGV's version:
the official schemas and the library's own validators.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from config import Settings
from protocol import streams
from protocol.vda5050 import Subtopic
from tests.integration.mqtt_support import FLOOR, events, robot_events, states_of
from tests.integration.sim import simulated
from tests.robot import robots_config
from tests.servers import MosquittoServer, RedisServer
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.integration import DELIVERED, Restaurant, e2e_settings
from tests.support.thirdparty import Wire, lib_agv
from tests.thirdparty.vdalib import NodeParty
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Floor:
    shop: Restaurant
    gw: RunningGateway
    agv: NodeParty
    wire: Wire
    r: aioredis.Redis
    version: str

    async def command(self, action: str, **args: Any) -> str:
        body: dict[str, Any] = {"action": action}
        if args:
            body["args"] = args
        resp = await self.shop.client.post(
            "/api/robots/agv-1/commands", headers=self.shop.h, json=body
        )
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["command"])

    async def outcome(self, cid: str, timeout: float = 10.0) -> dict[str, Any]:
        async def find() -> dict[str, Any] | None:
            for ev in await events(self.r):
                if ev["type"] in ("command.acked", "command.failed") and (
                    ev["data"].get("command") == cid
                ):
                    return ev
            return None

        found: dict[str, Any] = await wait_for(find, timeout)
        return found

    async def states(self) -> list[str]:
        return states_of(await events(self.r, "robot.state"), "agv-1")

    async def reaches(self, *want: str, timeout: float = 15.0) -> None:
        async def there() -> bool:
            return (await self.states())[-len(want) :] == list(want)

        await wait_for(there, timeout)

    def lib_states(self) -> list[dict[str, Any]]:
        return self.wire.of(Subtopic.STATE)


def settings_for(redis_url: str, tmp_path: Path, broker_url: str) -> Settings:
    robots = [r for r in robots_config() if r["id"] == "cook-1"] + [
        {"id": "agv-1", "kind": "serving", "vda": {"manufacturer": "Acme", "serial": "SN-1"}}
    ]
    return e2e_settings(
        redis_url,
        tmp_path,
        floor=FLOOR,
        robots=robots,
        mqtt={
            "enabled": True,
            "url": broker_url,
            "client_id": "gw-thirdparty",
            "reconnect_max_s": 0.5,
            "keepalive_s": 5,
        },
        vda5050={
            "enabled": True,
            "resend_s": 1.0,
            "max_resends": 5,
            "return_after_s": 60.0,
            "stale_after_s": 10.0,
        },
        commands={"ack_timeout_s": 2, "max_attempts": 3, "ttl_s": 20},
    )


@contextlib.asynccontextmanager
async def floor(
    version: str,
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto: MosquittoServer,
    wire: Wire,
    start: Callable[[Settings], Awaitable[Restaurant]],
) -> AsyncIterator[Floor]:
    settings = settings_for(redis_server.url, tmp_path, mosquitto.url)
    shop = await start(settings)
    async with (
        run_gateway(settings) as gw,
        simulated(settings, gw, robots=("cook-1",)),
        lib_agv(mosquitto.port, version) as agv,
    ):
        f = Floor(shop, gw, agv, wire, redis_client, version)
        await f.reaches("idle")
        yield f


@pytest.fixture(params=["2.0.0", "1.1.0"])
async def world(
    request: pytest.FixtureRequest,
    vdalib: Path,
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
    wire: Wire,
    open_restaurant: Callable[[Settings], Awaitable[Restaurant]],
) -> AsyncIterator[Floor]:
    async with floor(
        request.param,
        redis_server,
        redis_client,
        tmp_path,
        mosquitto_private,
        wire,
        open_restaurant,
    ) as f:
        yield f


@pytest.fixture
async def world20(
    vdalib: Path,
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
    wire: Wire,
    open_restaurant: Callable[[Settings], Awaitable[Restaurant]],
) -> AsyncIterator[Floor]:
    async with floor(
        "2.0.0", redis_server, redis_client, tmp_path, mosquitto_private, wire, open_restaurant
    ) as f:
        yield f


async def test_an_order_placed_over_rest_is_cooked_and_delivered_by_the_agv(world: Floor) -> None:
    f = world
    placed = await f.shop.order("T3", ("Bibimbap", 1))
    await f.reaches("at_table", timeout=30)
    pid = await f.command("pickup_done")
    assert (await f.outcome(pid))["type"] == "command.acked"
    await wait_for(f.shop.delivered(placed["id"]), timeout=20)
    await f.reaches("returning", "idle")
    await f.gw.drained()

    done = await f.shop.get(placed["id"])
    assert [h["status"] for h in done["history"]] == DELIVERED
    assert done["robot"] == "agv-1"
    assert await f.states() == ["idle", "assigned", "en_route", "at_table", "returning", "idle"]
    orders = f.wire.of(Subtopic.ORDER)
    delivery = [o for o in orders if o["nodes"][-1]["nodeId"] == "T3"]
    back = [o for o in orders if o["nodes"][-1]["nodeId"] == "pass"]
    # Base and horizon: dock-1 pass T1 | T2 T3, then updates stitched as it drives.
    assert [[n["released"] for n in o["nodes"]] for o in delivery[:1]] == [
        [True, True, True, False, False]
    ]
    assert [o["orderUpdateId"] for o in delivery] == [0, 1, 2]
    assert {o["orderId"] for o in delivery} == {delivery[0]["orderId"]}
    assert back and back[0]["nodes"][0]["nodeId"] == "T3"
    lib = f.lib_states()
    assert lib[-1]["lastNodeId"] == "pass" and lib[-1]["orderId"] == back[0]["orderId"]
    assert not any(s["errors"] for s in lib)  # the AGV refused nothing
    evs = await events(f.r)
    assert robot_events(evs, "agv-1", "order_rejected") == []
    assert f.gw.gateway.stats.total("vda_dropped") == 0
    counts = await f.wire.check(f.version)
    assert counts["order"] == len(orders) and counts["state"] >= 5
    snap = await f.r.hgetall(streams.robot_key("agv-1"))
    assert snap[b"connection"] == b"online" and snap[b"transport"] == b"vda5050"


async def _driving(f: Floor) -> None:
    async def moving() -> bool:
        states = f.lib_states()
        return bool(states) and states[-1]["driving"] and states[-1]["lastNodeId"] == "pass"

    await wait_for(moving, timeout=15)


async def test_a_cancel_mid_route_brings_the_dish_back(world20: Floor) -> None:
    f = world20
    gid = await f.command("goto", table="T3")
    assert (await f.outcome(gid))["type"] == "command.acked"
    await _driving(f)
    cid = await f.command("cancel")
    ack = await f.outcome(cid)
    await f.reaches("returning", "idle", timeout=20)
    await f.gw.drained()
    assert ack["type"] == "command.acked" and ack["data"]["result"]["cancelled"]
    cancels = [
        a
        for m in f.wire.of(Subtopic.INSTANT_ACTIONS)
        for a in m["actions"]
        if a["actionType"] == "cancelOrder"
    ]
    assert len(cancels) >= 1
    lib = f.lib_states()
    assert any(
        a["actionId"] == cancels[0]["actionId"] and a["actionStatus"] == "FINISHED"
        for s in lib
        for a in s["actionStates"]
    )
    assert lib[-1]["lastNodeId"] == "pass" and not lib[-1]["nodeStates"]
    assert await f.states() == ["idle", "assigned", "en_route", "returning", "idle"]
    await f.wire.check("2.0.0")


async def test_pause_stops_the_agv_and_resume_lets_it_arrive(world20: Floor) -> None:
    f = world20
    await f.command("goto", table="T3")
    await _driving(f)
    pid = await f.command("pause")
    paused = await f.outcome(pid)
    assert paused["type"] == "command.acked", (
        paused,
        f.wire.of(Subtopic.INSTANT_ACTIONS),
        f.lib_states()[-3:],
    )

    async def stopped() -> bool:
        s = f.lib_states()
        return bool(s) and s[-1]["paused"] is True and s[-1]["driving"] is False

    await wait_for(stopped, timeout=10)
    where, seen = f.lib_states()[-1]["agvPosition"], len(f.lib_states())
    await wait_for(lambda: len(f.lib_states()) >= seen + 2, timeout=5)
    assert f.lib_states()[-1]["agvPosition"]["x"] == where["x"]  # it stays put
    rid = await f.command("resume")
    assert (await f.outcome(rid))["type"] == "command.acked"
    await f.reaches("at_table", timeout=20)
    assert await f.states() == ["idle", "assigned", "en_route", "at_table"]
    await f.wire.check("2.0.0")


async def test_the_estop_plan_pauses_and_release_cancels_the_order(world20: Floor) -> None:
    f = world20
    await f.command("goto", table="T3")
    await _driving(f)
    eid = await f.command("estop")
    ack = await f.outcome(eid)
    await f.reaches("estop")
    rid = await f.command("release")
    released = await f.outcome(rid)

    async def stopped() -> bool:
        s = f.lib_states()
        return bool(s) and not s[-1]["driving"] and not s[-1]["nodeStates"]

    await wait_for(stopped, timeout=10)
    await f.reaches("idle", timeout=10)
    await f.gw.drained()
    states = await f.states()
    # This AGV's cancelOrder lifts its pause and finishes the edge it is on (the standard
    # lets it stop at the next node): en_route without a task until it stands, then idle.
    assert states[:4] == ["idle", "assigned", "en_route", "estop"]
    assert set(states[4:]) <= {"idle", "en_route"} and states[-1] == "idle"
    assert ack["type"] == released["type"] == "command.acked"
    kinds = [[a["actionType"] for a in m["actions"]] for m in f.wire.of(Subtopic.INSTANT_ACTIONS)]
    # No factsheet lists our vendor e-stop: a pause alone; the release cancels, then resumes.
    assert kinds[0] == ["startPause"]
    assert ["cancelOrder"] in kinds and kinds[-1] == ["stopPause"]
    lib = f.lib_states()[-1]
    assert lib["paused"] is False and lib["orderId"] == f.wire.of(Subtopic.ORDER)[0]["orderId"]
    (st,) = [e for e in await events(f.r, "robot.state", "agv-1") if e["data"]["state"] == "estop"]
    assert st["level"] == "alarm"
    await f.wire.check("2.0.0")


async def test_an_agv_whose_broker_connection_breaks_goes_offline_by_its_last_will(
    world20: Floor,
) -> None:
    f = world20
    f.agv.kill()  # no DISCONNECT: the broker publishes the AGV's will

    async def offline() -> bool:
        conn = [
            (e["data"]["state"], e["data"]["reason"])
            for e in await events(f.r, "robot.connection", "agv-1")
        ]
        return conn[-1:] == [("offline", "connection_broken")]

    await wait_for(offline, timeout=10)
    robot = await (await f.shop.client.get("/api/robots/agv-1", headers=f.shop.h)).json()
    assert robot["connection"] == "offline"
    wills = [
        m for m in f.wire.of(Subtopic.CONNECTION) if m["connectionState"] == "CONNECTIONBROKEN"
    ]
    assert wills and wills[-1]["version"] == "2.0.0"
    cid = await f.command("goto", table="T1")
    assert (await f.outcome(cid))["data"]["reason"] == "robot_offline"
