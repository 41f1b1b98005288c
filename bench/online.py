"""Bring a fleet online through the real gateway: a few signed datagrams from every robot.

The gateway marks a robot online when it is heard and writes its snapshot
(``rd:robot:{id}``), exactly as in production; the benchmark config keeps it
online for minutes without more traffic (gateway.stale_after_s).
"""

from __future__ import annotations

import time

import redis

from bench.harness import Context, Ports
from bench.loadgen.udp_sender import UdpSender
from robodine.redisio.keys import KEYS
from robodine.testing.servers import RedisServer


def fleet_online(ctx: Context, robots: int) -> tuple[RedisServer, str, Ports]:
    """Redis, the run's config and the gateway with every robot online: (Redis, its URL, the
    ports), for the web tier's scenarios."""
    redis_svc, url = ctx.redis()
    ports = ctx.config(robots, url)
    gw = ctx.gateway(robots, url, ports=ports)
    sender = UdpSender(
        "127.0.0.1", gw.udp_port, [(r.id, r.key_bytes) for r in gw.config.robot_configs()]
    )
    try:
        bring_online(ctx, sender, url, robots)
    finally:
        sender.close()
    return redis_svc, url, ports


def bring_online(
    ctx: Context, sender: UdpSender, redis_url: str, robots: int, per_robot: int = 2
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        base = int(client.xlen(KEYS.telemetry))
        rate = min(5000, robots * per_robot * 4)
        n = sender.prepare(rate, robots * per_robot / rate)
        sender.go()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            online = _online(client)
            if int(client.xlen(KEYS.telemetry)) - base >= n and online >= robots:
                ctx.log(f"{online} robots online")
                return
            time.sleep(0.1)
        raise TimeoutError(f"robots did not come online: {_online(client)} of {robots}")
    finally:
        client.close()


def _online(client: redis.Redis) -> int:
    ids = client.smembers(KEYS.robots)
    pipe = client.pipeline(transaction=False)
    for rid in ids:
        pipe.hget(KEYS.robot(rid.decode() if isinstance(rid, bytes) else rid), "connection")
    return sum(1 for v in pipe.execute() if v == b"online")
