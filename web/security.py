"""Passwords (argon2id) and login tokens (HS256 JWT): the primitives, no HTTP.

Hashing runs in a worker thread: a default argon2 hash costs ~180 ms of CPU
on the edge box, which must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from config.settings import WebSettings

ISSUER: Final = "robodine"
ALGORITHM: Final = "HS256"
MIN_SECRET_BYTES: Final = 32


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    VIEWER = "viewer"


ALL_ROLES: Final = frozenset(Role)
WRITERS: Final = frozenset({Role.ADMIN, Role.STAFF})
ADMINS: Final = frozenset({Role.ADMIN})


class TokenError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code  # invalid_token | token_expired
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Claims:
    username: str
    role: Role
    version: int
    expires: float  # epoch seconds
    id: str  # names this one token (``token_id``): what its open feeds are tracked by


def token_id(token: str) -> str:
    """A token's name that is not the token: its SHA-256, shortened (for logs and indexes)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class AuthUser(msgspec.Struct, frozen=True):
    """Who is calling, as checked against the users table on this request.

    A msgspec Struct: one is made per authenticated request, far cheaper than a
    frozen dataclass (docs/performance.md).
    """

    username: str
    role: Role
    expires: float

    @property
    def can_write(self) -> bool:
        return self.role in WRITERS


def iso(ts: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds and a Z."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Passwords:
    def __init__(self, settings: WebSettings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Constant work whether or not the user exists (no username probing by timing)."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash("robodine-dummy-password")
            stored = self._dummy
            password = password + "\x00"  # never matches
        try:
            return await asyncio.to_thread(self.hasher.verify, stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


class Tokens:
    """Makes and checks tokens; ``verify`` remembers tokens it checked until they expire.

    A token's signature and claims cannot change, so checking one again on each
    request (with PyJWT, most of an authenticated request's CPU) proves nothing new;
    only expiry can, and ``verify`` checks it every time. Revocation is not the
    token's business: the users table decides (web/http/auth.py, ``UserCache``).
    """

    def __init__(
        self,
        secret: str,
        ttl_s: float,
        verified_max: int = 1024,
        *,
        clock: Callable[[], float] = time.time,
        leeway_s: float = 0.0,
    ) -> None:
        """``clock`` is the wall clock (seconds since the epoch) that issues and expires
        tokens; tests pass a fake one. ``leeway_s`` is PyJWT's leeway."""
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"web.secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self.ttl_s = ttl_s
        self.verified_max = verified_max
        self.clock = clock
        self.leeway_s = leeway_s
        self._verified: OrderedDict[str, Claims] = OrderedDict()  # least recently used first

    def make(
        self, username: str, role: Role, version: int, now: float | None = None
    ) -> tuple[str, Claims]:
        now = self.clock() if now is None else now
        exp = now + self.ttl_s
        payload = {
            "iss": ISSUER,
            "sub": username,
            "role": str(role),
            "ver": version,
            "iat": int(now),
            "exp": exp,
        }
        token = jwt.encode(payload, self._secret, algorithm=ALGORITHM)
        return token, Claims(username, role, version, exp, token_id(token))

    def decode(self, token: str) -> Claims:
        try:
            p = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # the times are checked below against self.clock (PyJWT reads its own)
                options={
                    "require": ["exp", "iat", "sub", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
            _check_times(p, self.clock(), self.leeway_s)
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired", "the token has expired; log in again") from None
        except jwt.PyJWTError as exc:
            raise TokenError("invalid_token", f"the token is not valid: {exc}") from None
        try:
            return Claims(
                str(p["sub"]), Role(p["role"]), int(p["ver"]), float(p["exp"]), token_id(token)
            )
        except (KeyError, ValueError, TypeError):
            raise TokenError("invalid_token", "the token is missing claims") from None

    def remembered(self, token: str, now: float | None = None) -> Claims | None:
        """The claims of a token ``verify`` passed before and that has not expired since."""
        claims = self._verified.get(token)
        if claims is not None:
            # PyJWT's own rule: good while int(exp) > now - leeway
            if (self.clock() if now is None else now) - self.leeway_s < int(claims.expires):
                self._verified.move_to_end(token)
                return claims
            del self._verified[token]
        return None

    def verify(self, token: str, now: float | None = None) -> Claims:
        """``decode``, from memory for a token that passed before and has not expired since.

        Only good tokens are remembered, at most ``verified_max`` (least recently
        used leave first), so a stream of bad ones costs what it did and holds nothing.
        """
        claims = self.remembered(token, now)
        if claims is not None:
            return claims
        claims = self.decode(token)
        self._verified[token] = claims
        if len(self._verified) > self.verified_max:
            self._verified.popitem(last=False)
        return claims


def _check_times(payload: dict[str, object], now: float, leeway: float) -> None:
    """PyJWT's checks of ``iat``, ``nbf`` and ``exp``, as jwt.api_jwt makes them, at a time
    of our choosing: whole seconds; expired when ``exp <= now - leeway``; not yet valid when
    ``iat`` or ``nbf`` is after ``now + leeway``; PyJWT's errors (tests/web/test_user_cache.py
    holds the two to the same answers)."""
    for claim in ("iat", "nbf", "exp"):
        if claim not in payload:
            continue
        try:
            value = int(payload[claim])  # type: ignore[call-overload]
        except (ValueError, TypeError, OverflowError):
            if claim == "iat":
                raise jwt.InvalidIssuedAtError(
                    "Issued At claim (iat) must be an integer."
                ) from None
            raise jwt.DecodeError(f"The {claim} claim must be an integer.") from None
        if claim == "exp":
            if value <= now - leeway:
                raise jwt.ExpiredSignatureError("Signature has expired")
        elif value > now + leeway:
            raise jwt.ImmatureSignatureError(f"The token is not yet valid ({claim})")


UserRow = tuple[Role, bool, int]  # (role, disabled, token_version)


class UserCache:
    """(role, disabled, token_version) of recently seen users, for ``web.auth_cache_s``.

    Checking every request's token against SQL kept revocation immediate but
    cost a query per request, which kept REST at a small fraction of a bare
    aiohttp server (docs/performance.md). A change made through this process
    forgets the user at once; another process (or `robodine users`) is seen
    within the TTL. When a row expires under load, the requests that find it so
    share one query (``load``) instead of each sending their own.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._rows: dict[str, tuple[float, UserRow | None]] = {}
        self._loading: dict[str, asyncio.Future[UserRow | None]] = {}

    def get(self, username: str) -> tuple[bool, UserRow | None]:
        """(cached?, the row or None for no such user)."""
        hit = self._rows.get(username)
        if hit is None or self.clock() - hit[0] > self.ttl:
            return False, None
        return True, hit[1]

    async def load(
        self, username: str, query: Callable[[], Awaitable[UserRow | None]]
    ) -> UserRow | None:
        """The row from ``query`` (one at a time per user), remembered from when it began."""
        pending = self._loading.get(username)
        if pending is None:
            pending = asyncio.ensure_future(self._query(username, query))
            self._loading[username] = pending
        return await asyncio.shield(pending)

    async def _query(
        self, username: str, query: Callable[[], Awaitable[UserRow | None]]
    ) -> UserRow | None:
        started = self.clock()
        try:
            row = await query()
        finally:
            mine = self._loading.get(username) is asyncio.current_task()  # else: forgotten
            if mine:
                del self._loading[username]
        if mine:
            self.put(username, row, started)
        return row

    def put(self, username: str, row: UserRow | None, at: float | None = None) -> None:
        if len(self._rows) > 10_000:
            self._rows.clear()
        self._rows[username] = (self.clock() if at is None else at, row)

    def forget(self, username: str) -> None:
        self._rows.pop(username, None)
        self._loading.pop(username, None)
