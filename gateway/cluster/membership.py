"""A gateway joining and leaving the site's gateways on one Redis (``[cluster] enabled``).

Joining: the gateway's name must not be live (``rd:gateway:{name}``) in another
process; a previous process of this gateway that died leaves its key until it
expires, so the start waits for that (at most ``cluster.lease_ttl_s``), and a
name still renewed after twice that is a configuration error. Then the leases
ride in the stream writer's flushes and the fleet asks them before it takes a
robot. Leaving: every lease is let go in the writer's last flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from redis.asyncio import Redis

from config import ConfigError, Settings
from config.loader import problem
from gateway.cluster.inbox import InboxReader
from gateway.cluster.leader import Leadership
from gateway.cluster.leases import Leases
from gateway.cluster.routing import Routes
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from gateway.streams.writer import StreamWriter
from robodine.redisio.client import connect
from robodine.redisio.keys import KEYS

log = structlog.get_logger("gateway.cluster")

__all__ = ["Member", "describe", "member", "wait_for_name"]


class Member:
    """What a gateway runs to be one of several: its leases, the routes of its commands
    and, while it leads, the router of rd:commands (gateway/cluster/leader.py)."""

    def __init__(
        self,
        settings: Settings,
        fleet: Fleet,
        writer: StreamWriter,
        stats: Stats,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        s = settings
        name = s.gateway.name
        self.settings, self.fleet, self.writer = settings, fleet, writer
        self.leases = Leases(name, "", s.cluster.lease_ttl_s, stats)
        stats.probe("leases_held", "", lambda: len(self.leases.held))
        stats.set("leader", "", 0)
        self._clients = [
            connect(s.redis, name=f"{name}:route"),
            connect(s.redis, name=f"{name}:leader", block_ms=s.redis.command_block_ms),
        ]
        self.routes = Routes(self._clients[0], name, writer, stats)
        self.routes.local = lambda rec, ref: fleet.commands.submit(rec, ref, clock())
        self.leadership = Leadership(
            s, fleet, writer, self.leases, self.routes, self._clients[1], stats, clock=clock
        )
        fleet.leases = self.leases
        fleet.dispatching = False  # the leader's (gateway/cluster/dispatch.py)
        fleet.commands.on_outcome = None
        writer.fence_of = self.leases.fence
        self.leases.on_lost = lambda robot, holder: self.routes.hand_over(
            robot, fleet.moved(robot, holder, clock())
        )
        self.clock = clock

    def reader(self, redis: Redis) -> InboxReader:
        """The reader of this gateway's inbox, where rd:commands' reader would be."""
        return InboxReader(
            redis,
            self.fleet,
            self.settings.redis,
            self.routes,
            consumer=self.settings.gateway.name,
            clock=self.clock,
        )

    def start(self, tg: asyncio.TaskGroup, tcp_port: int, udp_port: int) -> list[asyncio.Task[Any]]:
        """Once the ports are open: liveness and leases in the writer's flushes, the
        hand-overs and the leadership running; the tasks, for the gateway to end."""
        self.leases.info = describe(self.settings, tcp_port, udp_port)
        self.writer.attach(self.leases)
        return [
            tg.create_task(self.routes.run(), name="cluster-handovers"),
            tg.create_task(self.leadership.run(), name="cluster-leadership"),
        ]

    async def stop_leading(self) -> None:
        await self.leadership.stop()

    def leave(self) -> None:
        """Every lease let go in the writer's last flush."""
        self.leases.stop()

    async def aclose(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                await client.aclose()


def member(
    settings: Settings,
    fleet: Fleet,
    writer: StreamWriter,
    stats: Stats,
    clock: Callable[[], float] = time.time,
) -> Member | None:
    """The gateway's membership; None without [cluster] (one gateway per Redis)."""
    return Member(settings, fleet, writer, stats, clock=clock) if settings.cluster.enabled else None


def describe(settings: Settings, tcp_port: int, udp_port: int) -> str:
    """The liveness value: who this process is and where robots reach it (one per process)."""
    return json.dumps(
        {
            "name": settings.gateway.name,
            "instance": uuid.uuid4().hex,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "tcp": tcp_port,
            "udp": udp_port,
            "started": round(time.time(), 3),
        },
        separators=(",", ":"),
    )


async def wait_for_name(client: Redis, settings: Settings) -> None:
    """Return once no other live process has this gateway's name (module docstring)."""
    key = KEYS.gateway(settings.gateway.name)
    ttl = settings.cluster.lease_ttl_s
    first = await client.get(key)
    if first is None:
        return
    log.info("gateway_name_waiting", gateway=settings.gateway.name, within_s=ttl)
    deadline = time.monotonic() + 2 * ttl
    while time.monotonic() < deadline:
        await asyncio.sleep(min(0.2, ttl / 5))
        if await client.get(key) is None:
            return
    raise ConfigError(
        [
            problem(
                "gateway.name",
                f"{settings.gateway.name!r} is in use by another live gateway "
                "of this Redis ([cluster]: give each gateway a name of its own)",
            )
        ]
    )
