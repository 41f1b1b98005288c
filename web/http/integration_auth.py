"""Integration keys as bearer tokens: who they are, what they may reach, how often.

A key is ``rdk_<prefix>_<secret>``: the prefix finds its row, the SHA-256 of the
whole key proves it (the secret has 256 bits of randomness, so a slow hash would
add nothing but CPU). A key that checked out is remembered, like a JWT, so a
request costs no hash and no query; what it may do *now* comes from its row,
which the user cache (``web.auth_cache_s``) holds beside the users' rows under
the name ``integration:<name>``: a revocation bumps the row's version, which
ends the key on every process within that time (here: at once) and closes its
sockets, exactly as for a user whose password changed.

Each request by a key then passes ``gate``: its route scope (path prefixes,
optionally with a method), its robot scope (routes naming a robot in their
path), its own rate limit, and its last use (written to SQL at most every
``TOUCH_EVERY_S``). An unknown key, a wrong secret and a revoked key get the
same 401, which does not say which.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import orjson
import structlog
from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import WebSettings
from robodine.backoff import Backoff
from robodine.supervisor import Supervisor
from web.db.integrations import Integration
from web.http.problems import Problem, unauthorized
from web.http.ratelimit import KeyedLimiter
from web.keys import DB, INTEGRATIONS, SETTINGS
from web.security import AuthUser, Claims, Role, UserRow, token_id

log = structlog.get_logger("web.integrations")

KEY_PREFIX: Final = "rdk_"
NAME_PREFIX: Final = "integration:"
NEVER: Final = 253402300799.0  # 9999-12-31T23:59:59Z: a key has no expiry of its own
TOUCH_EVERY_S: Final = 10.0
UNKNOWN_KEY: Final = "unknown or revoked integration key"
_REMEMBERED: Final = 1024


def is_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def integration_of(username: str) -> str | None:
    """The integration's name when ``username`` is one's (``integration:<name>``)."""
    return username[len(NAME_PREFIX) :] if username.startswith(NAME_PREFIX) else None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key."""
    body = key[len(KEY_PREFIX) :] if is_key(key) else ""
    prefix, sep, secret = body.partition("_")
    if not sep or not (8 <= len(prefix) <= 16) or len(secret) < 32 or not prefix.isalnum():
        return None
    return prefix, secret


@dataclass(frozen=True, slots=True)
class Scope:
    """What one integration may reach, as its row says now."""

    id: int
    name: str
    robots: frozenset[str] | None  # None: every robot
    routes: tuple[tuple[str | None, str], ...] | None  # (method or None, path prefix); None: all
    rate_per_min: int

    def allows_route(self, method: str, path: str) -> bool:
        if self.routes is None:
            return True
        return any(
            (m is None or m == method) and (path == p or path.startswith(p.rstrip("/") + "/"))
            for m, p in self.routes
        )


def parse_route(entry: str) -> tuple[str | None, str]:
    method, _, path = entry.partition(" ")
    return (method, path) if path else (None, method)


def _scope(row: Integration, default_rate: int) -> Scope:
    robots = orjson.loads(row.robots) if row.robots else None
    routes = orjson.loads(row.routes) if row.routes else None
    return Scope(
        id=row.id,
        name=row.name,
        robots=None if robots is None else frozenset(robots),
        routes=None if routes is None else tuple(parse_route(r) for r in routes),
        rate_per_min=row.rate_per_min or default_rate,
    )


class IntegrationAuth:
    def __init__(self, db: async_sessionmaker[AsyncSession], settings: WebSettings) -> None:
        self.db = db
        self.settings = settings
        self._verified: OrderedDict[str, Claims] = OrderedDict()
        self._scopes: dict[str, Scope] = {}
        self._limiters: dict[int, KeyedLimiter] = {}  # one per rate; keyed by integration
        self._used: dict[str, tuple[float, str]] = {}  # name -> (when, address), not in SQL yet

    # ---- keys -> claims ---------------------------------------------------------------

    def remembered(self, key: str) -> Claims | None:
        claims = self._verified.get(key)
        if claims is not None:
            self._verified.move_to_end(key)
        return claims

    async def verify(self, key: str) -> Claims:
        """The claims of a good key (its row's version); a 401 Problem otherwise."""
        claims = self.remembered(key)
        if claims is not None:
            return claims
        parts = split_key(key)
        row = None
        if parts is not None:
            async with self.db() as s:
                row = await s.scalar(select(Integration).where(Integration.prefix == parts[0]))
        # compared even without a row, so a wrong prefix costs what a wrong secret does
        good = hmac.compare_digest(key_hash(key), row.key_hash if row else "0" * 64)
        if row is None or not good or row.revoked_at is not None:
            raise _unknown()
        claims = Claims(NAME_PREFIX + row.name, Role(row.role), row.version, NEVER, token_id(key))
        self._verified[key] = claims
        if len(self._verified) > _REMEMBERED:
            self._verified.popitem(last=False)
        self._scopes[row.name] = _scope(row, self.settings.integration_rate_per_min)
        return claims

    async def rows(self, names: Collection[str]) -> dict[str, UserRow | None]:
        """(role, revoked, version) of these integrations (by name), for the user cache;
        their scopes are taken in with them."""
        out: dict[str, UserRow | None] = dict.fromkeys(names)
        if not names:
            return out
        async with self.db() as s:
            found = await s.scalars(select(Integration).where(Integration.name.in_(list(names))))
            for row in found:
                out[row.name] = (Role(row.role), row.revoked_at is not None, row.version)
                self._scopes[row.name] = _scope(row, self.settings.integration_rate_per_min)
        return out

    def forget(self, name: str) -> None:
        """A change made here (revocation): its remembered keys go at once."""
        self._scopes.pop(name, None)
        for key in [k for k, c in self._verified.items() if c.username == NAME_PREFIX + name]:
            del self._verified[key]

    # ---- each request ------------------------------------------------------------------

    def gate(self, request: web.Request, user: AuthUser) -> None:
        """Rate limit (429: every request counts), route scope and robot scope (403
        ``out_of_scope``), last use."""
        name = integration_of(user.username)
        assert name is not None
        scope = self._scopes.get(name)
        if scope is None:  # its row was read without a scope: refuse rather than guess
            raise _unknown()
        rate = scope.rate_per_min
        limiter = self._limiters.get(rate)
        if limiter is None:
            limiter = self._limiters[rate] = KeyedLimiter(rate / 60.0, rate)
        if not limiter.allow(name):
            wait = max(1, round(limiter.retry_after(name)))
            raise Problem(
                429,
                "rate_limited",
                f"integration {name!r} is over its {scope.rate_per_min} requests a minute; "
                f"retry in {wait} s",
                headers={"Retry-After": str(wait)},
                extra={"limit": scope.rate_per_min, "integration": name},
            )
        method, path = request.method, request.path
        if not scope.allows_route(method, path):
            raise Problem(
                403,
                "out_of_scope",
                f"integration {name!r} may not call {method} {path}",
                extra={"integration": name},
            )
        robot = request.match_info.get("robot_id")
        if robot is not None and scope.robots is not None and robot not in scope.robots:
            raise Problem(
                403,
                "out_of_scope",
                f"integration {name!r} may not reach robot {robot!r}",
                field="robot_id",
                extra={"in": "path", "integration": name},
            )
        self._used[name] = (time.time(), request.remote or "")

    def last_used(self, name: str) -> tuple[float, str] | None:
        """This process's newest use of the key that is not in SQL yet."""
        return self._used.get(name)

    async def flush(self) -> None:
        """Write the last uses seen since the previous flush."""
        if not self._used:
            return
        used, self._used = self._used, {}
        try:
            async with self.db() as s, s.begin():
                for name, (when, address) in used.items():
                    await s.execute(
                        update(Integration)
                        .where(Integration.name == name)
                        .values(
                            last_used_at=datetime.fromtimestamp(when, UTC),
                            last_used_address=address[:64] or None,
                        )
                    )
        except BaseException:
            self._used = {**used, **self._used}  # newer uses win; written next time
            raise


def _unknown() -> Problem:
    return unauthorized("invalid_token", UNKNOWN_KEY)


async def integrations_ctx(app: web.Application) -> AsyncIterator[None]:
    """The keys' checker (after the database), and their last uses to SQL every
    ``TOUCH_EVERY_S`` (once more at the end)."""
    auth = app[INTEGRATIONS] = IntegrationAuth(app[DB], app[SETTINGS].web)
    supervisor = Supervisor(
        log,
        lost="integration_last_used_unavailable",
        recovered="integration_last_used_recovered",
        backoff=Backoff(1.0, 30.0),
        policy="kept in memory, written when the database answers",
    )

    async def step() -> None:
        await asyncio.sleep(TOUCH_EVERY_S)
        await auth.flush()
        supervisor.ok()

    task = asyncio.create_task(
        supervisor.run(step, errors=(SQLAlchemyError, OSError)), name="integrations-last-used"
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(SQLAlchemyError, OSError):
        await auth.flush()
