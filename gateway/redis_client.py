"""Redis clients configured for how the gateway uses them (STACK-NOTES 1).

redis-py 8 retries a failed command ten times by default, which turns a Redis
outage into minutes of silence and re-sends blocking reads. The gateway has
its own outage handling (spool, backoff), so its clients fail fast, and the
blocking reader gets a socket timeout longer than its BLOCK.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from config.settings import RedisSettings


def connect(settings: RedisSettings, *, name: str, block_ms: int | None = None) -> Redis:
    socket_timeout = 5.0 if block_ms is None else block_ms / 1000 + 5.0
    return Redis.from_url(
        settings.url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=settings.connect_timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
        client_name=name,
        protocol=2,  # RESP2 reply shapes (lists, not dicts) for stream commands
    )
