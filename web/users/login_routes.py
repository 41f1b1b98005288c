"""Login, token refresh, who am I."""

from __future__ import annotations

from typing import cast

import structlog
from aiohttp import web
from sqlalchemy import select

from web.db.models import User
from web.http import auth
from web.http.api import Routes
from web.http.integration_auth import integration_of, is_key
from web.http.problems import Problem, unauthorized
from web.http.ratelimit import LoginLimits
from web.http.schemas import RoleName
from web.keys import (
    DB,
    FEEDS,
    LOGIN_LIMITER,
    METRICS,
    PASSWORDS,
    REDIS,
    REVOKED,
    SETTINGS,
    TOKENS,
    USER,
    USER_CACHE,
)
from web.metrics import WebMetrics
from web.security import ALL_ROLES, Role, TokenError, iso
from web.users.schemas import LoginIn, MeOut, PasswordIn, TokenOut, UserPatch
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
    errors=(400, 401, 413, 415, 422, 429, 503),
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
    _check_limits(limits, client, username, app[METRICS])
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


def _no_key(username: str, why: str) -> None:
    if integration_of(username) is not None:
        raise Problem(403, "forbidden", f"an integration key {why}")


def _check_limits(limits: LoginLimits, client: str, username: str, metrics: WebMetrics) -> None:
    """429 while any of the failed-login limits holds this address and username."""
    wait, limit = limits.wait(client, username)
    if wait > 0:
        metrics.login_failures.labels("rate_limited").inc()
        seconds = max(1, round(wait))
        raise Problem(
            429,
            "too_many_attempts",
            f"too many failed logins; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
            extra={"limit": limit, "retry_after": seconds},
        )


@routes.route(
    "POST",
    "/api/auth/logout",
    summary="End this token",
    roles=None,
    bearer=True,
    status=204,
    errors=(401, 403, 503),
)
async def logout(request: web.Request) -> None:
    """The token in `Authorization` stops working on every web process, and the sockets
    opened with it close (4001). Already ended (expired, revoked, logged out): 204 all the
    same. A malformed or forged token is a 401."""
    app = request.app
    token = auth.token_from(request, allow_query=False)
    if is_key(token):
        raise Problem(
            403,
            "forbidden",
            "an integration key is ended by revoking it (POST /api/integrations/{name}/revoke)",
        )
    try:
        claims = app[TOKENS].verify(token)
    except TokenError as exc:
        if exc.code == "token_expired":  # the signature was checked first: it was ours
            return
        raise unauthorized(exc.code, exc.detail) from None
    if claims.id in app[REVOKED]:
        return
    await app[REVOKED].revoke(app[REDIS], claims.id, claims.expires)
    feeds = app[FEEDS].end_token(claims.id, "logged out")
    log.info("logout", user=claims.username, feeds=feeds)


@routes.route(
    "POST",
    "/api/auth/password",
    summary="Change your own password",
    roles=ALL_ROLES,
    body=PasswordIn,
    response=TokenOut,
    errors=(403, 429),
)
async def change_password(request: web.Request, body: PasswordIn) -> TokenOut:
    """The old password is required: a wrong one is a 403 `wrong_password`, counted with the
    failed logins (so it meets their 429 too). The change ends every token of the user issued
    before it, this one included, and closes the user's sockets (4001); the answer is a new
    token for this session."""
    app = request.app
    user = request[USER]
    _no_key(user.username, "has no password")
    limits = app[LOGIN_LIMITER]
    client = request.remote or "?"
    _check_limits(limits, client, user.username, request.app[METRICS])
    async with app[DB]() as s:
        stored = await s.scalar(select(User.password_hash).where(User.username == user.username))
    if not await app[PASSWORDS].verify(stored, body.old_password):
        limits.failed(client, user.username)
        log.info("password_change_refused", user=user.username, client=client)
        raise Problem(403, "wrong_password", "the old password is wrong", field="old_password")
    min_length = app[SETTINGS].web.password_min_length
    if len(body.new_password) < min_length:
        raise Problem(
            422,
            "invalid_field",
            f"new_password: at least {min_length} characters",
            field="new_password",
            extra={"in": "body"},
        )
    service = UserService(app[DB], app[PASSWORDS], min_length)
    await service.update(user.username, UserPatch(password=body.new_password))
    app[USER_CACHE].forget(user.username)
    app[FEEDS].end_user(user.username, "password changed")
    async with app[DB]() as s:
        version = await s.scalar(select(User.token_version).where(User.username == user.username))
    token, claims = app[TOKENS].make(user.username, user.role, int(version or 0))
    log.info("password_changed", user=user.username)
    return TokenOut(
        token=token,
        expires_at=iso(claims.expires),
        username=user.username,
        role=cast(RoleName, str(user.role)),
    )


@routes.route(
    "POST",
    "/api/auth/refresh",
    summary="A fresh token for the caller",
    roles=ALL_ROLES,
    response=TokenOut,
    errors=(401, 403),
)
async def refresh(request: web.Request) -> TokenOut:
    """A new token with a new expiry, for a caller whose token is still valid.

    Send it on open WebSockets as `{"type": "auth", "token": ...}` to keep them.
    """
    user = request[USER]
    _no_key(user.username, "does not expire: it needs no refresh")
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
    """The caller as the token says and the users table confirms: username, role now, and when
    the token expires. For an integration key: `integration:<name>` and its role."""
    user = request[USER]
    return MeOut(
        username=user.username,
        role=cast(RoleName, str(user.role)),
        expires_at=iso(user.expires),
    )
