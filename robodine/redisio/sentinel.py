"""Redis behind Sentinel: ``redis+sentinel://`` URLs, read by redis-py's own Sentinel support.

    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?options]

``host:port`` are the sentinels (port 26379 by default), ``service`` the
master's name in their ``sentinel monitor`` line, ``db`` the database (0).
The password is the master's (and its replicas'); ``sentinel_password`` (and
``sentinel_username``) in the query are the sentinels' own, when they have
``requirepass``. ``ssl=true`` talks TLS to the master.

A client asks the sentinels for the master when it connects
(``redis.asyncio.sentinel``: a connection to a master that was demoted is
dropped on its first READONLY reply, and the next one asks again), so a
failover looks like a short outage to every component: the gateway spools
and replays, the web tier answers 503 until the new master answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

__all__ = ["SCHEME", "SentinelUrl", "discover_master", "is_sentinel", "parse", "redis_from_url"]

SCHEME = "redis+sentinel"
DEFAULT_PORT = 26379


def is_sentinel(url: str) -> bool:
    return url.startswith(SCHEME + "://")


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    ssl: bool = False

    def master_kwargs(self) -> dict[str, Any]:
        """What a connection to the master (or a replica) is made with."""
        out: dict[str, Any] = {"db": self.db}
        if self.username is not None:
            out["username"] = self.username
        if self.password is not None:
            out["password"] = self.password
        return out

    def sentinel_kwargs(self, timeout: float) -> dict[str, Any]:
        out: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        if self.sentinel_username is not None:
            out["username"] = self.sentinel_username
        if self.sentinel_password is not None:
            out["password"] = self.sentinel_password
        return out

    def sentinel(self, timeout: float) -> Sentinel:
        return Sentinel(self.sentinels, sentinel_kwargs=self.sentinel_kwargs(timeout))


def parse(url: str) -> SentinelUrl:
    """The parts of a ``redis+sentinel://`` URL; ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise ValueError(f"not a {SCHEME}:// URL")
    userinfo, at, hosts = parts.netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels: list[tuple[str, int]] = []
    for host in filter(None, hosts.split(",")):
        name, port = host, DEFAULT_PORT
        if host.startswith("["):  # [v6]:port
            name, _, rest = host[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
        elif ":" in host:
            name, _, p = host.rpartition(":")
            port = int(p)
        if not name or not 0 < port < 65536:
            raise ValueError(f"bad sentinel address {host!r}")
        sentinels.append((name, port))
    if not sentinels:
        raise ValueError("no sentinel address (redis+sentinel://host:26379,.../service)")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("the path must be /service or /service/db")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise ValueError(f"the database must be a number, not {path[1]!r}")
        db = int(path[1])
    query = parse_qs(parts.query)

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    return SentinelUrl(
        sentinels=sentinels,
        service=unquote(path[0]),
        db=db,
        username=username,
        password=password,
        sentinel_username=one("sentinel_username"),
        sentinel_password=one("sentinel_password"),
        ssl=(one("ssl") or "").lower() in ("1", "true", "yes"),
    )


async def discover_master(url: str, timeout: float) -> str:
    """A ``redis://`` (or ``rediss://``) URL of the current master: for connections that
    are made from a URL (the lean RESP connection)."""
    spec = parse(url)
    sentinel = spec.sentinel(timeout)
    try:
        host, port = await sentinel.discover_master(spec.service)
    finally:
        await sentinel.aclose()
    scheme = "rediss" if spec.ssl else "redis"
    auth = ""
    if spec.password is not None:
        auth = f"{quote(spec.username or '', safe='')}:{quote(spec.password, safe='')}@"
    h = f"[{host}]" if ":" in str(host) else str(host)
    return f"{scheme}://{auth}{h}:{port}/{spec.db}"


def redis_from_url(url: str, **kwargs: Any) -> Redis:
    """``Redis.from_url`` that also takes ``redis+sentinel://`` (a client of the master)."""
    if not is_sentinel(url):
        return Redis.from_url(url, **kwargs)
    spec = parse(url)
    timeout = kwargs.get("socket_connect_timeout") or 2.0
    sentinel = spec.sentinel(timeout)
    kwargs.update(spec.master_kwargs())
    if spec.ssl:
        kwargs["ssl"] = True
    client: Redis = sentinel.master_for(spec.service, redis_class=Redis, **kwargs)
    return client
