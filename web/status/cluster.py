"""The site's gateways as Redis holds them, for ``GET /api/cluster`` and the status
document's ``cluster`` section (docs/scaling.md, What to watch).

Read from Redis only (gateway/cluster/status.py): the liveness keys, the leader lease,
the robot leases and each gateway's inbox. With one gateway per Redis (``[cluster]``
off on the gateways) nothing is there: ``enabled`` is false.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Struct
from redis.asyncio import Redis

from config import Settings
from gateway.cluster.status import cluster_status
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import as_str
from web.http.schemas import doc


class ClusterGateway(Struct, kw_only=True):
    name: Annotated[str, doc("the gateway's `gateway.name`", "gw-1")]
    alive: Annotated[
        bool,
        doc(
            "its liveness key is in Redis (renewed every third of `cluster.lease_ttl_s`); "
            "false: it stopped or died and the leader is still moving its inbox on"
        ),
    ]
    host: Annotated[str | None, doc("the box it runs on (its hostname)", "box-a")] = None
    pid: Annotated[int | None, doc("its process id")] = None
    tcp: Annotated[int | None, doc("its TCP port for robots", 7400)] = None
    udp: Annotated[int | None, doc("its UDP telemetry port")] = None
    started: Annotated[float | None, doc("when it started, Unix seconds")] = None
    leader: Annotated[bool, doc("it is the leader (routes rd:commands, dispatches orders)")]
    robots: Annotated[list[str], doc("the robots whose lease it holds, sorted", ["serve-1"])]
    inbox_length: Annotated[int, doc("entries in its `rd:inbox:{gateway}`")]
    inbox_pending: Annotated[
        int, doc("commands routed to it and read, their outcome not written yet")
    ]


class ClusterLeader(Struct, kw_only=True):
    gateway: Annotated[str, doc("the leader's name", "gw-1")]
    epoch: Annotated[
        int,
        doc(
            "its fencing token (`rd:leader:epoch`, one more at each election): its writes "
            "of rd:dispatch apply only while `rd:leader` still names it under this epoch",
            3,
        ),
    ]
    expires_in_ms: Annotated[int, doc("time left on the leader lease (renewed by the leader)")]


class ClusterLeases(Struct, kw_only=True):
    held: Annotated[int, doc("robot leases in Redis (`rd:lease:{robot}`)", 30)]
    wanted: Annotated[
        int,
        doc("newer connections waiting at another gateway for the holder to let a robot go"),
    ]


class ClusterOut(Struct, kw_only=True):
    enabled: Annotated[
        bool, doc("gateways run with `[cluster] enabled` on this Redis (false: one gateway)")
    ]
    leader: Annotated[ClusterLeader | None, doc("null: no leader at the moment")] = None
    gateways: Annotated[
        list[ClusterGateway], doc("every gateway registered, alive or being drained, by name")
    ]
    leases: Annotated[ClusterLeases, doc("robot leases, counted")]
    unheld: Annotated[
        list[str],
        doc("configured or API-added robots no gateway holds (offline, or between gateways)"),
    ]


async def known_robots(redis: Redis, settings: Settings) -> list[str]:
    """The config's robots and those added through the API (rd:registry)."""
    ids = {r.id for r in settings.robots}
    ids.update(as_str(k) for k in await redis.hkeys(KEYS.registry))
    return sorted(ids)


async def read_cluster(redis: Redis, settings: Settings) -> ClusterOut:
    raw = await cluster_status(redis, await known_robots(redis, settings))
    return msgspec.convert(raw, ClusterOut)
