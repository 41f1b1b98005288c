"""Login, token refresh, who am I."""

from __future__ import annotations

from typing import cast

import structlog
from aiohttp import web
from sqlalchemy import select

from web.db.models import User
from web.http.api import Routes
from web.http.problems import Problem
from web.http.schemas import RoleName
from web.keys import DB, LOGIN_LIMITER, METRICS, PASSWORDS, SETTINGS, TOKENS, USER
from web.security import ALL_ROLES, Role, iso
from web.users.schemas import LoginIn, MeOut, TokenOut
from web.users.service import UserService

log = structlog.get_logger("web.auth")
routes = Routes("auth", "Log in for a bearer token (Authorization: Bearer <token>).")


@routes.route(
    "POST",
    "/api/auth/login",
    summary="Log in",
    roles=None,
    body=LoginIn,
    response=TokenOut,
    errors=(400, 401, 413, 415, 422, 429),
)
async def login(request: web.Request, body: LoginIn) -> TokenOut:
    """Exchange username and password for a token that expires after `web.token_ttl_s`.

    Failed attempts are limited per client address and username (`web.login_attempts_per_min`),
    per username (`web.login_attempts_per_user_per_min`) and per address
    (`web.login_attempts_per_address_per_min`): a 429 names the `limit` that held it and
    says in `retry_after` (as `Retry-After` does) how many seconds to wait.
    """
    app = request.app
    limits = app[LOGIN_LIMITER]
    client = request.remote or "?"
    username = body.username.strip().lower()
    wait, limit = limits.wait(client, username)
    if wait > 0:
        app[METRICS].login_failures.labels("rate_limited").inc()
        seconds = max(1, round(wait))
        raise Problem(
            429,
            "too_many_attempts",
            f"too many failed logins; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
            extra={"limit": limit, "retry_after": seconds},
        )
    async with app[DB]() as s:
        u = await s.scalar(select(User).where(User.username == username))
    ok = await app[PASSWORDS].verify(u.password_hash if u else None, body.password)
    if u is None or not ok or u.disabled:
        limits.failed(client, username)
        app[METRICS].login_failures.labels("invalid_credentials").inc()
        log.info("login_failed", user=username, client=client)
        raise Problem(401, "invalid_credentials", "wrong username or password")
    token, claims = app[TOKENS].make(u.username, Role(u.role), u.token_version)
    min_length = app[SETTINGS].web.password_min_length
    await UserService(app[DB], app[PASSWORDS], min_length).rehash_if_needed(
        u.username, body.password, u.password_hash
    )
    log.info("login", user=u.username, role=u.role)
    return TokenOut(
        token=token,
        expires_at=iso(claims.expires),
        username=u.username,
        role=cast(RoleName, u.role),
    )


@routes.route(
    "POST",
    "/api/auth/refresh",
    summary="A fresh token for the caller",
    roles=ALL_ROLES,
    response=TokenOut,
    errors=(401,),
)
async def refresh(request: web.Request) -> TokenOut:
    """A new token with a new expiry, for a caller whose token is still valid.

    Send it on open WebSockets as `{"type": "auth", "token": ...}` to keep them.
    """
    user = request[USER]
    async with request.app[DB]() as s:
        version = await s.scalar(select(User.token_version).where(User.username == user.username))
    token, claims = request.app[TOKENS].make(user.username, user.role, int(version or 0))
    return TokenOut(
        token=token,
        expires_at=iso(claims.expires),
        username=user.username,
        role=cast(RoleName, str(user.role)),
    )


@routes.route(
    "GET",
    "/api/auth/me",
    summary="Who the token belongs to",
    roles=ALL_ROLES,
    response=MeOut,
    errors=(401,),
)
async def me(request: web.Request) -> MeOut:
    user = request[USER]
    return MeOut(
        username=user.username,
        role=cast(RoleName, str(user.role)),
        expires_at=iso(user.expires),
    )
