"""Open feeds (topic WebSockets, SSE streams, chat sockets) per user and per token.

Two jobs share one index of leases, one per open feed:

- Limits. A feed is admitted before its upgrade: 429 when its user already has
  ``web.max_feeds_per_user`` open in this process, 503 when the process has
  ``web.max_feeds``, both problem+json with ``Retry-After``. Each socket costs
  memory (about 50 KB); without a cap one token could open thousands.
- Revocation. REST checks every request's token against the users table
  (web/http/auth.py); a feed outlives the request that opened it. ``watch``
  therefore re-reads the rows of every user with an open feed, in one query,
  every ``web.auth_cache_s / 2`` (at least every 0.25 s), and ends each feed
  whose token its row no longer lets in (user disabled, removed, or changed:
  role, password): close 4001 ``token revoked``, or the SSE ``goodbye``. A
  change made by another process or by ``robodine users`` is in the table, so
  it is seen at the next read, within ``web.auth_cache_s``. A change made
  through this process ends the user's feeds at once (``end_user``: any change
  voids every token issued before it).

``end_token`` ends the feeds of one token (for a logout).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping

import structlog
from aiohttp import web

from config.settings import WebSettings
from web.feeds.subscription import Subscription
from web.http.auth import admits, user_rows
from web.http.problems import Problem
from web.keys import CLAIMS, FEEDS
from web.metrics import WebMetrics
from web.security import Claims, UserRow

log = structlog.get_logger("web.feeds")

CLOSE_TOKEN_REVOKED = 4001  # as an expired token: log in again (docs/api.md, Close codes)
MIN_CHECK_S = 0.25  # the revocation check's shortest period (web.auth_cache_s may be 0)
RETRY_AFTER_S = 5

Load = Callable[[Collection[str]], Awaitable[Mapping[str, UserRow | None]]]


class Lease:
    """One open feed: whose token, which kind, and its subscription once it has one."""

    __slots__ = ("claims", "ended", "kind", "sub")

    def __init__(self, claims: Claims, kind: str) -> None:
        self.claims = claims
        self.kind = kind
        self.sub: Subscription | None = None
        self.ended: tuple[int, str] | None = None

    def attach(self, sub: Subscription) -> None:
        """The feed's subscription: ending the lease ends it (at once, if already ended)."""
        self.sub = sub
        if self.ended is not None:
            sub.end(*self.ended)

    def end(self, code: int, reason: str) -> None:
        if self.ended is None:
            self.ended = (code, reason)
        if self.sub is not None:
            self.sub.end(code, reason)


class Feeds:
    def __init__(self, settings: WebSettings, metrics: WebMetrics) -> None:
        self.per_user = settings.max_feeds_per_user
        self.total = settings.max_feeds
        self.interval = max(MIN_CHECK_S, settings.auth_cache_s / 2)
        self.metrics = metrics
        self._by_user: dict[str, set[Lease]] = {}
        self._by_token: dict[str, set[Lease]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def of_user(self, username: str) -> int:
        return len(self._by_user.get(username, ()))

    # ---- admission -----------------------------------------------------------------

    @contextlib.contextmanager
    def open(self, request: web.Request, kind: str) -> Iterator[Lease]:
        """A lease for the feed ``request`` opens (after ``auth.authenticate``), held while
        the handler runs; raises the 429/503 Problem when a limit is reached."""
        lease = self.admit(request[CLAIMS], kind)
        try:
            yield lease
        finally:
            self.release(lease)

    def admit(self, claims: Claims, kind: str) -> Lease:
        mine = self._by_user.get(claims.username)
        if mine is not None and len(mine) >= self.per_user:
            self._refused("user", claims.username)
            raise Problem(
                429,
                "too_many_feeds",
                f"{claims.username!r} has {len(mine)} feeds open here, the most one user may "
                "(web.max_feeds_per_user); close one first",
                headers={"Retry-After": str(RETRY_AFTER_S)},
                extra={"limit": self.per_user},
            )
        if self._count >= self.total:
            self._refused("total", claims.username)
            raise Problem(
                503,
                "feeds_full",
                f"this server has {self._count} feeds open, the most it takes "
                "(web.max_feeds); try again shortly",
                headers={"Retry-After": str(RETRY_AFTER_S)},
                extra={"limit": self.total},
            )
        lease = Lease(claims, kind)
        self._by_user.setdefault(claims.username, set()).add(lease)
        self._by_token.setdefault(claims.id, set()).add(lease)
        self._count += 1
        self.metrics.feeds_open.labels(kind).inc()
        return lease

    def _refused(self, limit: str, username: str) -> None:
        self.metrics.feeds_refused.labels(limit).inc()
        log.info("feed_refused", limit=limit, user=username, open=self._count)

    def release(self, lease: Lease) -> None:
        _discard(self._by_user, lease.claims.username, lease)
        _discard(self._by_token, lease.claims.id, lease)
        self._count -= 1
        self.metrics.feeds_open.labels(lease.kind).dec()

    def renew(self, lease: Lease, claims: Claims) -> None:
        """The feed's token was replaced in-band (same user): track it by the new one."""
        assert claims.username == lease.claims.username
        _discard(self._by_token, lease.claims.id, lease)
        lease.claims = claims
        self._by_token.setdefault(claims.id, set()).add(lease)

    # ---- revocation ------------------------------------------------------------------

    def end_user(self, username: str, reason: str = "token revoked") -> int:
        """End every feed of ``username``; how many were open."""
        return self._end(list(self._by_user.get(username, ())), reason)

    def end_token(self, token_id: str, reason: str = "token revoked") -> int:
        """End every feed opened (or renewed) with the token ``token_id`` names."""
        return self._end(list(self._by_token.get(token_id, ())), reason)

    def sweep(self, rows: Mapping[str, UserRow | None]) -> int:
        """End the feeds whose token the user's row (as just read) no longer lets in."""
        revoked = [
            lease
            for name, row in rows.items()
            for lease in self._by_user.get(name, ())
            if lease.ended is None and not admits(row, lease.claims)
        ]
        return self._end(revoked, "token revoked")

    def _end(self, leases: list[Lease], reason: str) -> int:
        leases = [lease for lease in leases if lease.ended is None]
        for lease in leases:
            lease.end(CLOSE_TOKEN_REVOKED, reason)
        if leases:
            self.metrics.feeds_revoked.inc(len(leases))
            users = sorted({lease.claims.username for lease in leases})
            log.info("feeds_revoked", users=users, feeds=len(leases), reason=reason)
        return len(leases)

    async def watch(self, load: Load) -> None:
        """Every ``interval``: read the rows of the users with open feeds, ``sweep``. The
        database away: the feeds stay (their tokens cannot be checked), said once until it
        answers again."""
        failing = False
        while True:
            await asyncio.sleep(self.interval)
            names = list(self._by_user)
            if not names:
                continue
            try:
                rows = await load(names)
            except Exception as exc:  # any failure of the read: report, retry next period
                if not failing:
                    log.warning("feeds_recheck_failed", error=str(exc) or type(exc).__name__)
                failing = True
                continue
            if failing:
                log.info("feeds_recheck_recovered")
                failing = False
            self.sweep(rows)


def _discard(index: dict[str, set[Lease]], key: str, lease: Lease) -> None:
    leases = index.get(key)
    if leases is not None:
        leases.discard(lease)
        if not leases:
            del index[key]


async def feeds_ctx(app: web.Application) -> AsyncIterator[None]:
    """The revocation check, for as long as the application runs (after the database)."""
    task = asyncio.create_task(
        app[FEEDS].watch(lambda names: user_rows(app, names)), name="feeds-recheck"
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
