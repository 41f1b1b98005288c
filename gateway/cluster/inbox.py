"""A gateway's own command stream, ``rd:inbox:{name}``: the commands for robots it holds.

The leader routes robot commands here (gateway/cluster/routing.py); this
reader takes them like the one gateway of a site takes rd:commands (its own
pending entries first after a restart, acknowledged with their outcome). A
command for a robot this gateway no longer holds moves on to the gateway
that does, or fails as ``robot_offline`` when none does. The open orders are
the leader's (gateway/cluster/leader.py), not read here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis

from config.settings import RedisSettings
from gateway.cluster.routing import Routes
from gateway.fleet.fleet import Fleet
from gateway.streams.commands import CommandReader
from protocol.streams import CommandRecord, EventType, Level
from robodine.redisio.keys import KEYS

__all__ = ["InboxReader"]


class InboxReader(CommandReader):
    def __init__(
        self,
        redis: Redis,
        fleet: Fleet,
        settings: RedisSettings,
        routes: Routes,
        *,
        consumer: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            redis, fleet, settings, consumer=consumer, clock=clock, stream=KEYS.inbox(consumer)
        )
        self.routes = routes

    async def _load_orders(self) -> None:
        pass  # the leader's

    async def _robot_command(
        self,
        rec: CommandRecord,
        ref: str,
        fields: dict[bytes, bytes],
        now: float,
        *,
        recovered: bool,
    ) -> None:
        leases = self.fleet.leases
        here = leases is None or leases.holds(rec.robot) or rec.robot not in self.fleet.sessions
        if not here:
            outcome = await self.routes.to_holder(fields, ref, rec.robot)
            if outcome == "sent":
                return
            if outcome == "none" and not recovered:  # recovered: it may come back here
                self.routes.fail_offline(
                    rec.id, rec.robot, rec.action, ref, "no gateway holds the robot"
                )
                return
        await super()._robot_command(rec, ref, fields, now, recovered=recovered)

    async def _order_command(
        self, rec: CommandRecord, ref: str, fields: dict[bytes, bytes], now: float
    ) -> None:
        self.writer.event(  # orders go to the leader from rd:commands, never to an inbox
            EventType.COMMAND_FAILED,
            level=Level.WARNING,
            ack=ref,
            data={"command": rec.id, "reason": "misrouted", "type": rec.type},
        )
