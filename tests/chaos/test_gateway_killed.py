"""The gateway SIGKILLed with commands in flight, restarted: every command gets exactly one
outcome, acknowledged once its robot is back (docs/reliability.md: rd:commands entries
leave the pending list only with their outcome; commands for robots expected back wait)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from protocol import streams
from tests.chaos.probes import record, settle, stream_probes, tally
from tests.chaos.world import wait_until
from tests.servers import RedisServer
from tests.support.chaos import OUTAGES, MakeWorld
from tests.support.replies import RawEntries, as_fields

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROBOTS = 6
COMMANDS_PER_S = 10.0


class Commands:
    """Pause and resume, in turn, for each robot in turn: acknowledged by any robot in any
    state, so every command has one right outcome, `command.acked`. Two robots hang for a
    moment before the kill, so the dead gateway leaves commands sent but unacknowledged."""

    def __init__(self, r: aioredis.Redis, robots: list[str]) -> None:
        self.r, self.robots = r, robots
        self.sent: list[tuple[float, str]] = []  # (when, command id)

    async def run(self) -> None:
        n = 0
        while True:
            robot = self.robots[n % len(self.robots)]
            action = "pause" if (n // len(self.robots)) % 2 == 0 else "resume"
            rec = streams.CommandRecord(
                id=uuid.uuid4().hex, robot=robot, action=action, ts=time.time(), source="chaos"
            )
            await self.r.xadd(streams.COMMANDS, as_fields(streams.to_fields(rec)))
            self.sent.append((time.monotonic(), rec.id))
            n += 1
            await asyncio.sleep(1 / COMMANDS_PER_S)

    async def outcomes(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for _, fields in cast(RawEntries, await self.r.xrange(streams.EVENTS)):
            if fields[b"type"] in (b"command.acked", b"command.failed"):
                ev = streams.decode_fields(fields)
                out.setdefault(ev["data"]["command"], []).append(ev)
        return out


@pytest.mark.parametrize("outage_s", OUTAGES)
async def test_gateway_killed_with_commands_in_flight(
    redis_private: RedisServer, make_world: MakeWorld, outage_s: float
) -> None:
    world = await make_world(redis_private, robots=ROBOTS)
    world.start_gateway()
    async with world.fleet(probe_hz=10.0) as fleet:
        await world.online(world.robot_ids)
        commands = Commands(world.redis, world.robot_ids)
        submitting = asyncio.create_task(commands.run())
        await asyncio.sleep(0.5)
        for robot in world.robot_ids[:2]:  # hung for a moment: what they get stays unacked
            fleet.robots[robot].go_silent(2.0)
        await asyncio.sleep(1.0)
        world.kill(world.gateway)
        killed = len(commands.sent)
        info = await world.redis.xpending(streams.COMMANDS, streams.COMMANDS_GROUP)
        in_flight = info["pending"]  # read by the dead gateway, no outcome yet
        await asyncio.sleep(outage_s)  # commands keep coming into rd:commands meanwhile
        while_down = len(commands.sent) - killed
        world.start_gateway()
        restarted = time.monotonic()
        before = {cid for _, cid in commands.sent}
        robots_back = await world.online(world.robot_ids, timeout=60)

        async def answered() -> bool:
            return before <= set(await commands.outcomes())

        done = await wait_until(answered, timeout=60)
        recovery = round(time.monotonic() - restarted, 2) if done else None
        await asyncio.sleep(2.0)
        submitting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await submitting
        sent = {cid for _, cid in commands.sent}

        async def all_answered() -> bool:
            return sent <= set(await commands.outcomes())

        await wait_until(all_answered, timeout=60)
        made = await settle(fleet, world.redis)
        resent_acked_again = fleet.stats.duplicates
    outcomes = await commands.outcomes()
    kinds = Counter(evs[0]["type"] for cid, evs in outcomes.items() if cid in sent)
    failed = Counter(
        evs[0]["data"].get("reason")
        for evs in outcomes.values()
        if evs[0]["type"] == "command.failed"
    )
    twice = sum(1 for evs in outcomes.values() if len(evs) > 1)
    missing = len(sent - set(outcomes))
    pending = (await world.redis.xpending(streams.COMMANDS, streams.COMMANDS_GROUP))["pending"]
    t = tally(made, [(robot, n) for _, robot, n in await stream_probes(world.redis)])
    record(
        f"gateway SIGKILL {outage_s:g}s",
        f"gateway SIGKILLed with commands in flight, restarted after {outage_s:g} s",
        f"{ROBOTS} TCP robots, {COMMANDS_PER_S:g} commands/s, 10 events/s per robot",
        "every command one outcome (acknowledged); events: none twice or out of order",
        t,
        commands=len(sent),
        in_flight_at_kill=in_flight,
        sent_while_down=while_down,
        acked=kinds["command.acked"],
        failed=sum(failed.values()),
        failed_reasons=dict(failed),
        outcomes_twice=twice,
        no_outcome=missing,
        pending_left=pending,
        resends_acked_again=resent_acked_again,
        robots_back_s=round(robots_back, 2),
        recovery_s=recovery,
    )
    assert missing == 0 and twice == 0 and pending == 0
    assert kinds["command.acked"] == len(sent), failed
    assert t.duplicated == 0 and t.out_of_order == 0, t
    assert recovery is not None
    assert in_flight > 0  # the case this is about: sent, not acknowledged, gateway gone
