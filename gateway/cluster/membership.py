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
import json
import os
import socket
import time
import uuid

import structlog
from redis.asyncio import Redis

from config import ConfigError, Settings
from config.loader import problem
from gateway.cluster.leases import Leases
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from gateway.streams.writer import StreamWriter
from protocol import cluster

log = structlog.get_logger("gateway.cluster")

__all__ = ["describe", "join", "leases_for", "wait_for_name"]


def leases_for(
    settings: Settings, fleet: Fleet, writer: StreamWriter, stats: Stats
) -> Leases | None:
    """The gateway's leases, wired to the fleet and the writer; None without [cluster]."""
    if not settings.cluster.enabled:
        return None
    leases = Leases(settings.gateway.name, "", settings.cluster.lease_ttl_s, stats)
    fleet.leases = leases
    leases.on_lost = lambda robot, holder: fleet.moved(robot, holder, time.time())
    writer.fence_of = leases.fence
    return leases


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


def join(leases: Leases, writer: StreamWriter, info: str) -> None:
    """Start renewing: liveness and leases ride in the writer's flushes from now on."""
    leases.info = info
    writer.attach(leases)


async def wait_for_name(client: Redis, settings: Settings) -> None:
    """Return once no other live process has this gateway's name (module docstring)."""
    key = cluster.gateway_key(settings.gateway.name)
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
        [problem("gateway.name", f"{settings.gateway.name!r} is in use by another live gateway "
                 "of this Redis ([cluster]: give each gateway a name of its own)")]
    )
