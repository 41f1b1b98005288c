"""Every Redis client of the project: redis-py clients and lean connections, made alike.

- Fail fast: redis-py 8 retries a failed command ten times by default, which
  turns an outage into minutes of silence and re-sends blocking reads. Each
  caller has its own outage handling (the gateway's spool and backoff, the
  web tier's 503), so these clients do not retry a timeout, ever.
- One reply timeout per kind of command: ``redis.request_timeout_s`` for one
  that does not block (a flush, a request's command: a Redis that takes
  longer is treated as away), and BLOCK plus ``BLOCK_MARGIN_S`` for a
  blocking read, so an idle XREAD is never taken for a dead server.
- A client that serves requests (``circuit`` given) connects within the same
  bound, answers at once while Redis does not (``robodine.redisio.circuit``),
  and retries once on a connection error: what a pooled socket that Redis
  closed while it was idle gives (a restart, its ``timeout`` setting). The
  retry runs on a new connection; if that connect fails, the circuit opens.
- Pack commands in C: redis-py's asyncio connection packs every command in
  Python, which once capped telemetry ingest; hiredis (already our parser)
  packs the same bytes several times faster (docs/performance.md). Names with
  a space ("XGROUP CREATE") still go through redis-py, which splits them.
- RESP2 reply shapes (lists, not dicts) for stream commands, everywhere.
- Every client sets the process's key namespace from ``redis.key_prefix``
  (``robodine.redisio.keys``): code that names a key has a client to use it with.
- A ``redis+sentinel://`` URL (robodine.redisio.sentinel) gives the same
  clients on redis-py's Sentinel pool: each connection asks the sentinels for
  the master, and one that finds its master demoted reconnects; a lean
  connection asks them when it opens.
"""

from __future__ import annotations

from typing import Any, ClassVar

import hiredis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import (
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import RedisSettings
from robodine.redisio import keys, sentinel
from robodine.redisio.circuit import Circuit
from robodine.redisio.resp import RespConnection

__all__ = ["BLOCK_MARGIN_S", "connect", "open_connection", "redacted_url", "reply_timeout"]

BLOCK_MARGIN_S = 5.0  # a blocking read's reply timeout: its BLOCK plus this


def reply_timeout(settings: RedisSettings, block_ms: int | None = None) -> float:
    """How long a reply may take: a command that blocks ``block_ms``, or one that does not."""
    return settings.request_timeout_s if block_ms is None else block_ms / 1000 + BLOCK_MARGIN_S


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
    for cls in (
        Connection,
        SSLConnection,
        UnixDomainSocketConnection,
        SentinelManagedConnection,
        SentinelManagedSSLConnection,
    )
}


class _Guarded(AbstractConnection):
    """Tells the circuit what became of each connect, each write and each reply."""

    circuit: ClassVar[Circuit]

    async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().connect_check_health(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self.circuit.failed(exc)
            raise

    async def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().send_packed_command(*args, **kwargs)
        except RedisTimeoutError as exc:  # a reset socket is for the retry to find out
            self.circuit.failed(exc)
            raise

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = await super().read_response(*args, **kwargs)
        except RedisTimeoutError as exc:
            self.circuit.failed(exc)
            raise
        except ResponseError:
            self.circuit.answered()  # an error reply is an answer
            raise
        if self.circuit.open_since is not None:
            self.circuit.answered()
        return response


class _GuardedPool(ConnectionPool):
    """Refuses a connection, so every command and pipeline, while the circuit is open."""

    circuit: Circuit

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        self.circuit.check()
        conn: AbstractConnection = await super().get_connection(  # type: ignore[no-untyped-call]
            *args, **kwargs
        )
        return conn


class _SentinelPool(SentinelConnectionPool):
    """Closes its sentinels' connections with its own (the client owns both)."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:
            await self.sentinel_manager.aclose()


class _GuardedSentinelPool(_SentinelPool):
    circuit: Circuit

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        # its own method: _GuardedPool's zero-argument super() is bound to _GuardedPool
        self.circuit.check()
        conn: AbstractConnection = await super().get_connection(  # type: ignore[no-untyped-call]
            *args, **kwargs
        )
        return conn


def connect(
    settings: RedisSettings,
    *,
    name: str,
    block_ms: int | None = None,
    decode: bool = False,
    circuit: Circuit | None = None,
) -> Redis:
    """A client named ``name`` (CLIENT SETNAME). ``block_ms``: its commands block that
    long (XREAD BLOCK); ``decode``: replies as str; ``circuit``: it serves requests
    (module docstring)."""
    keys.configure(settings.key_prefix)
    timeout = reply_timeout(settings, block_ms)
    connect_timeout = settings.connect_timeout_s
    retry = Retry(NoBackoff(), 0)
    if circuit is not None:
        connect_timeout = min(connect_timeout, timeout)
        retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": retry,
        "health_check_interval": 30,
        "client_name": name,
        "protocol": 2,
        "decode_responses": decode,
    }
    pool: ConnectionPool
    if sentinel.is_sentinel(settings.url):
        spec = sentinel.parse(settings.url)
        pool = (_SentinelPool if circuit is None else _GuardedSentinelPool)(  # type: ignore[no-untyped-call]
            spec.service,
            spec.sentinel(connect_timeout),
            ssl=spec.ssl,
            **spec.master_kwargs(),
            **kwargs,
        )
    else:
        pool = (ConnectionPool if circuit is None else _GuardedPool).from_url(
            settings.url, **kwargs
        )
    cls = _PACKED.get(pool.connection_class, pool.connection_class)
    if isinstance(pool, (_GuardedPool, _GuardedSentinelPool)) and circuit is not None:
        pool.circuit = circuit
        cls = type(f"Guarded{cls.__name__}", (_Guarded, cls), {"circuit": circuit})
    pool.connection_class = cls
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections


async def open_connection(
    settings: RedisSettings, *, name: str, block_ms: int | None = None, encoding: str | None = None
) -> RespConnection:
    """A lean connection (robodine.redisio.resp) with the reply timeout of its kind, to
    the master when the URL names sentinels."""
    keys.configure(settings.key_prefix)
    url = settings.url
    if sentinel.is_sentinel(url):
        url = await sentinel.discover_master(url, settings.connect_timeout_s)
    return await RespConnection.open(
        url,
        name=name,
        timeout=settings.connect_timeout_s,
        reply_timeout=reply_timeout(settings, block_ms),
        encoding=encoding,
    )


def redacted_url(url: str) -> str:
    """redis://user:secret@host -> redis://user:***@host, so a password never reaches a log."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
