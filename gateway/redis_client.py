"""Redis clients configured for how the gateway uses them.

- Fail fast (STACK-NOTES 1): redis-py 8 retries a failed command ten times by
  default, which turns an outage into minutes of silence and re-sends
  blocking reads. The gateway has its own outage handling (spool, backoff),
  so its clients do not retry, and the blocking reader gets a socket timeout
  longer than its BLOCK.
- Pack commands in C: redis-py's asyncio connection packs every command in
  Python, 25 us for one telemetry XADD on this box, which capped ingest near
  13,000 datagrams/s. hiredis (already our parser) packs the same bytes in
  4.6 us (bench/RESULTS.md). Names with a space ("XGROUP CREATE") still go
  through redis-py, which splits them.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from config.settings import RedisSettings


class _HiredisPacking(AbstractConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if (isinstance(first, str) and " " in first) or (
            isinstance(first, bytes) and b" " in first
        ):
            return super().pack_command(*args)
        return [hiredis.pack_command(args)]


_PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {
    cls: type(f"Hiredis{cls.__name__}", (_HiredisPacking, cls), {})
    for cls in (Connection, SSLConnection, UnixDomainSocketConnection)
}


def connect(settings: RedisSettings, *, name: str, block_ms: int | None = None) -> Redis:
    socket_timeout = 5.0 if block_ms is None else block_ms / 1000 + 5.0
    pool = ConnectionPool.from_url(
        settings.url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=settings.connect_timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
        client_name=name,
        protocol=2,  # RESP2 reply shapes (lists, not dicts) for stream commands
    )
    pool.connection_class = _PACKED.get(pool.connection_class, pool.connection_class)
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections
