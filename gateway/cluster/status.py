"""The site's gateways as Redis holds them: who is alive, who leads, who holds which robot.

For ``robodine status`` and an admin view of the cluster: read only, a few
commands (SMEMBERS, SCAN of the leases, one pipeline), nothing of a gateway's
memory. With one gateway per Redis (``[cluster]`` off) there is nothing to
show: ``enabled`` is false and the lists are empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from protocol import cluster, streams
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import as_str

__all__ = ["cluster_status"]


async def cluster_status(redis: Redis, robots: Sequence[str] = ()) -> dict[str, Any]:
    """``{"enabled", "leader", "gateways": [...], "leases": {...}, "unheld": [...]}``.

    ``leader``: ``{"gateway", "epoch", "expires_in_ms"}`` or None. Each gateway:
    ``name``, ``alive`` (its liveness key is there), what it says of itself (``host``,
    ``pid``, ``tcp``, ``udp``, ``started``), ``leader``, ``robots`` (the ids it holds,
    sorted) and its inbox (``inbox_length``, ``inbox_pending``: routed commands not
    yet decided). ``leases``: ``{"held", "wanted"}``, the robot leases in Redis and the
    newer connections waiting for a holder to let go. ``unheld``: those of ``robots`` no
    gateway holds.
    """
    names = sorted(as_str(n) for n in await redis.smembers(KEYS.gateways))
    leader_raw, leader_ttl = await redis.get(KEYS.leader), await redis.pttl(KEYS.leader)
    leader = cluster.parse_holder(leader_raw)
    held: dict[str, list[str]] = {}
    keys = [as_str(k) async for k in redis.scan_iter(match=KEYS.lease_prefix + "*", count=500)]
    wanted = sum(1 for k in keys if k.endswith(":want"))
    leases = [k for k in keys if not k.endswith(":want")]
    values = await redis.mget(leases) if leases else []
    for key, value in zip(leases, values, strict=True):
        holder = cluster.parse_holder(value)
        if holder is not None:
            held.setdefault(holder.gateway, []).append(key[len(KEYS.lease_prefix) :])
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.get(KEYS.gateway(name))
        pipe.xlen(KEYS.inbox(name))
    replies = await pipe.execute()
    gateways = []
    for i, name in enumerate(names):
        info_raw, length = replies[2 * i], replies[2 * i + 1]
        info: dict[str, Any] = {}
        if info_raw is not None:
            try:
                info = orjson.loads(info_raw)
            except orjson.JSONDecodeError:
                info = {}
        pending = 0
        if length:
            try:
                summary = await redis.xpending(KEYS.inbox(name), streams.COMMANDS_GROUP)
                pending = int(summary["pending"])
            except ResponseError:  # NOGROUP: no group yet, so nothing pending
                pending = 0
        gateways.append(
            {
                "name": name,
                "alive": info_raw is not None,
                **{k: info.get(k) for k in ("host", "pid", "tcp", "udp", "started")},
                "leader": leader is not None and leader.gateway == name,
                "robots": sorted(held.get(name, [])),
                "inbox_length": int(length or 0),
                "inbox_pending": pending,
            }
        )
    holding = {r for rs in held.values() for r in rs}
    return {
        "enabled": bool(names),
        "leader": None
        if leader is None
        else {
            "gateway": leader.gateway,
            "epoch": leader.token,
            "expires_in_ms": max(0, int(leader_ttl or 0)),
        },
        "gateways": gateways,
        "leases": {"held": sum(len(rs) for rs in held.values()), "wanted": wanted},
        "unheld": sorted(r for r in robots if r not in holding),
    }
