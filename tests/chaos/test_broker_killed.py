"""mosquitto SIGKILLed while MQTT robots and VDA 5050 AGVs are mid-order, restarted: every
order completes, commands sent during the outage are delivered after it, TCP robots never
notice, and the outage is logged once each way (docs/mqtt.md, The gateway's client)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from protocol import streams
from tests.chaos.probes import record, settle, stream_probes, tally
from tests.chaos.world import wait_until
from tests.servers import MosquittoServer, RedisServer
from tests.support.chaos import OUTAGES, MakeWorld
from tests.support.replies import RawEntries, as_fields

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VDA = {"manufacturer": "Acme"}
EXTRA = [
    {"id": "mq-1", "kind": "serving", "transport": "mqtt"},
    {"id": "mq-2", "kind": "serving", "transport": "mqtt"},
    {"id": "agv-1", "kind": "serving", "vda": {**VDA, "serial": "SN-1"}},
    {"id": "agv-2", "kind": "serving", "vda": {**VDA, "serial": "SN-2"}},
]
TCP = ["serve-001", "serve-002", "cook-001"]
MQTT = ["mq-1", "mq-2"]
AGVS = ["agv-1", "agv-2"]
BEFORE = {"mq-1": "t2", "agv-1": "t2"}  # sent before the kill: mid-order when it comes
DURING = {"mq-2": "t1", "agv-2": "t1"}  # sent while the broker is down
# Commands sent during the outage are resent every ACK_TIMEOUT_S, 3 attempts (the default):
# an outage shorter than that window costs them nothing, a longer one fails them as `timeout`.
ACK_TIMEOUT_S = 4.0


async def goto(r: aioredis.Redis, robot: str, table: str) -> str:
    rec = streams.CommandRecord(
        id=uuid.uuid4().hex,
        robot=robot,
        action="goto",
        args={"table": table, "task": f"chaos-{robot}"},
        ts=time.time(),
        source="chaos",
    )
    await r.xadd(streams.COMMANDS, as_fields(streams.to_fields(rec)))
    return rec.id


async def history(r: aioredis.Redis) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Each robot's reported states, in order, and each command's outcome type."""
    states: dict[str, list[str]] = {}
    outcome: dict[str, str] = {}
    for _, fields in cast(RawEntries, await r.xrange(streams.EVENTS)):
        kind = fields[b"type"]
        if kind == b"robot.state":
            ev: dict[str, Any] = streams.decode_fields(fields)
            states.setdefault(ev["robot"], []).append(ev["data"]["state"])
        elif kind in (b"command.acked", b"command.failed"):
            ev = streams.decode_fields(fields)
            outcome[ev["data"]["command"]] = ev["type"]

    return states, outcome


def delivered(states: list[str]) -> bool:
    """At the table, then back at the pass (idle)."""
    return (
        "at_table" in states
        and states[-1] == "idle"
        and (states[::-1].index("idle") < states[::-1].index("at_table"))
    )


@pytest.mark.parametrize("outage_s", OUTAGES)
async def test_broker_killed_mid_order(
    redis_private: RedisServer,
    mosquitto_private: MosquittoServer,
    make_world: MakeWorld,
    outage_s: float,
) -> None:
    broker = mosquitto_private
    world = await make_world(
        redis_private,
        robots=3,
        mosquitto=broker,
        extra_robots=EXTRA,
        overrides={
            "vda5050": {"return_after_s": 1.0},
            "commands": {"ack_timeout_s": ACK_TIMEOUT_S},
        },
    )
    world.start_gateway()
    async with world.fleet(probe_hz=10.0, speed=3.0) as fleet:
        await world.online(world.robot_ids)
        cids = [await goto(world.redis, robot, table) for robot, table in BEFORE.items()]

        async def driving() -> bool:
            states, _ = await history(world.redis)
            return all("en_route" in states.get(robot, []) for robot in BEFORE)

        assert await wait_until(driving, timeout=20)
        broker.kill()
        killed = time.monotonic()
        cids += [await goto(world.redis, robot, table) for robot, table in DURING.items()]
        await asyncio.sleep(max(0.0, outage_s - (time.monotonic() - killed)))
        broker.start()  # its persistence file: the gateway's session and retained presence
        restarted = time.monotonic()

        async def acked() -> bool:
            _, outcome = await history(world.redis)
            return all(outcome.get(c) for c in cids)

        async def done() -> bool:
            states, outcome = await history(world.redis)
            return all(
                delivered(states.get(robot, []))
                for robot in [*BEFORE, *DURING]
                if outcome.get(cids[[*BEFORE, *DURING].index(robot)]) == "command.acked"
            )

        commands_s = time.monotonic() - restarted if await wait_until(acked, 60) else None
        orders_s = time.monotonic() - restarted if await wait_until(done, 60) else None
        back_s = await world.online([*MQTT, *AGVS], timeout=30)
        made = await settle(fleet, world.redis)
    seen = [(robot, n) for _, robot, n in await stream_probes(world.redis)]
    tcp = tally({r: made[r] for r in TCP}, [(r, n) for r, n in seen if r in TCP])
    mqtt = tally({r: made[r] for r in MQTT}, [(r, n) for r, n in seen if r in MQTT])
    states, outcome = await history(world.redis)
    during = [outcome.get(c) for c in cids[len(BEFORE) :]]
    m = await world.metrics()
    record(
        f"mosquitto SIGKILL {outage_s:g}s",
        f"mosquitto SIGKILLed mid-order, restarted after {outage_s:g} s",
        "3 TCP robots, 2 MQTT robots, 2 VDA 5050 AGVs; 10 events/s per TCP/MQTT robot; "
        "2 deliveries under way, 2 sent during the outage",
        "orders complete, commands sent meanwhile delivered; TCP robots unaffected",
        tcp,
        mqtt_events=mqtt.__dict__,
        during_outage=dict(Counter(during)),
        orders_done_s=_r(orders_s),
        commands_acked_s=_r(commands_s),
        robots_back_s=_r(back_s),
        recovery_s=_r(orders_s),
        mqtt_outages=m.get1("robodine_gateway_mqtt_outages_total"),
    )
    window = ACK_TIMEOUT_S * 3
    assert [outcome.get(c) for c in cids[: len(BEFORE)]] == ["command.acked"] * len(BEFORE)
    if outage_s < window / 2:  # with time to spare for the robots' reconnect backoff
        assert during == ["command.acked"] * len(DURING), during
    assert set(during) <= {"command.acked", "command.failed"}, during  # never without one
    assert orders_s is not None, states
    assert (tcp.lost, tcp.duplicated, tcp.out_of_order) == (0, 0, 0), tcp
    assert world.log_lines("gateway", "mqtt_unavailable") == 1
    assert world.log_lines("gateway", "mqtt_recovered") == 1


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
