"""The real simulator through the real gateway into real Redis: the demo, asserted."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from protocol import streams
from tests.integration.sim import FLOOR, all_idle, simulated
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.integration import events, outcome, submit
from tests.support.replies import RawEntries
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def states_of(evs: list[dict[str, Any]], robot: str) -> list[str]:
    return [e["data"]["state"] for e in evs if e["type"] == "robot.state" and e["robot"] == robot]


async def test_simulated_fleet_delivers_cooks_and_obeys(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = gateway_settings(
        redis_server.url,
        tmp_path,
        floor=FLOOR,
        gateway={"heartbeat_s": 0.2, "stale_after_s": 2, "offline_after_s": 4},
        commands={"ack_timeout_s": 1, "max_attempts": 3, "ttl_s": 10},
    )
    async with run_gateway(settings) as gw, simulated(settings, gw):
        await wait_for(lambda: all_idle(redis_client), timeout=10)

        deliver = await submit(
            redis_client,
            "serve-1",
            "goto",
            args={"x": 4.0, "y": 4.0, "table": "T1", "task": "order-7"},
        )
        cook = await submit(
            redis_client,
            "cook-1",
            "cook",
            args={"recipe": "bibimbap", "order": "order-7", "seconds": 0.4},
        )
        assert (await outcome(redis_client, deliver))["type"] == "command.acked"
        assert (await outcome(redis_client, cook))["type"] == "command.acked"

        async def trips_done() -> bool:
            evs = await events(redis_client)
            return (
                states_of(evs, "serve-1")[-1:] == ["idle"]
                and "returning" in states_of(evs, "serve-1")
                and states_of(evs, "cook-1")[-1:] == ["idle"]
                and "ready" in states_of(evs, "cook-1")
            )

        await wait_for(trips_done, timeout=20)
        evs = await events(redis_client)
        trip = states_of(evs, "serve-1")
        assert trip[trip.index("assigned") :] == [
            "assigned",
            "en_route",
            "at_table",
            "returning",
            "idle",
        ]
        at_table = next(
            e for e in evs if e["type"] == "robot.state" and e["data"]["state"] == "at_table"
        )
        assert at_table["data"]["task"] == "order-7"
        assert states_of(evs, "cook-1")[-3:] == ["cooking", "ready", "idle"]
        assert not [e for e in evs if e["type"] == "robot.transition_refused"]

        # the robot was really there: a telemetry sample near table T1
        samples = [
            streams.from_fields(streams.TelemetryRecord, f)
            for _, f in cast(RawEntries, await redis_client.xrange(streams.TELEMETRY))
        ]
        mine = [s for s in samples if s.robot == "serve-1"]
        assert any(abs(s.x - 4.0) < 0.3 and abs(s.y - 4.0) < 0.3 for s in mine)
        seqs = [s.seq for s in mine]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert {s.robot for s in samples} == {"serve-1", "serve-2", "cook-1"}

        # emergency stop and release
        assert (await outcome(redis_client, await submit(redis_client, "serve-2", "estop")))[
            "type"
        ] == "command.acked"
        await wait_for(lambda: _state_is(redis_client, "serve-2", "estop"))
        refused = await submit(redis_client, "serve-2", "goto", args={"x": 8.0, "y": 6.0})
        assert (await outcome(redis_client, refused))["data"]["reason"] == "refused"
        await submit(redis_client, "serve-2", "release")
        await wait_for(lambda: _state_is(redis_client, "serve-2", "idle"))

        # a cook command for a serving robot never reaches it
        wrong = await submit(redis_client, "serve-1", "cook", args={"recipe": "x"})
        assert (await outcome(redis_client, wrong))["data"]["reason"] == "unsupported_for_kind"
    snaps = {
        r: await redis_client.hget(streams.robot_key(r), "connection")
        for r in ("serve-1", "serve-2", "cook-1")
    }
    assert set(snaps.values()) == {b"offline"}


async def _state_is(r: aioredis.Redis, robot: str, state: str) -> bool:
    return await r.hget(streams.robot_key(robot), "state") == state.encode()
