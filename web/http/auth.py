"""Who is calling: token from the request, checked against the users table, role checks.

The token says who; the users table says what they may do *now*: a disabled
user, a changed password or a changed role (``token_version``) ends every
token issued before, and the role always comes from the table.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TypeGuard

from aiohttp import hdrs, web
from sqlalchemy import select

from web.db.models import User
from web.http.integration_auth import UNKNOWN_KEY, integration_of, is_key
from web.http.problems import Problem, unauthorized
from web.keys import CLAIMS, DB, INTEGRATIONS, REVOKED, TOKENS, USER, USER_CACHE
from web.security import AuthUser, Claims, Role, TokenError, UserRow

REVOKED_DETAIL = "the token was revoked; log in again"


def token_from(request: web.Request, *, allow_query: bool) -> str:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if not value or scheme.lower() != "bearer":
            raise unauthorized("invalid_token", "Authorization must be 'Bearer <token>'")
        return value
    if allow_query:
        values = request.query.getall("token", [])
        if len(values) == 1 and values[0]:
            return values[0]
        if len(values) > 1:
            raise unauthorized("invalid_token", "give one token")
    where = "the Authorization header or ?token=" if allow_query else "the Authorization header"
    raise unauthorized("missing_token", f"log in first: send a bearer token in {where}")


async def check_token(app: web.Application, token: str) -> tuple[AuthUser, Claims]:
    """Validate a token (or an integration key) and load its user; raise a 401 Problem
    saying why not."""
    if is_key(token):
        claims = await app[INTEGRATIONS].verify(token)
    else:
        try:
            claims = app[TOKENS].verify(token)
        except TokenError as exc:
            raise unauthorized(exc.code, exc.detail) from None
    if claims.id in app[REVOKED]:
        raise unauthorized("invalid_token", REVOKED_DETAIL)
    users = app[USER_CACHE]
    cached, row = users.get(claims.username)
    if not cached:
        row = await users.load(claims.username, lambda: _user_row(app, claims.username))
    if admits(row, claims):
        return AuthUser(claims.username, row[0], claims.expires), claims
    if integration_of(claims.username) is not None:  # not saying a key was revoked
        raise unauthorized("invalid_token", UNKNOWN_KEY)
    raise unauthorized("invalid_token", REVOKED_DETAIL)


async def user_for_token(app: web.Application, token: str) -> AuthUser:
    return (await check_token(app, token))[0]


def admits(row: UserRow | None, claims: Claims) -> TypeGuard[UserRow]:
    """Does the user's row still let this token in: user there, enabled, same token_version."""
    return row is not None and not row[1] and row[2] == claims.version


async def _user_row(app: web.Application, username: str) -> UserRow | None:
    name = integration_of(username)
    if name is not None:
        return (await app[INTEGRATIONS].rows([name]))[name]
    async with app[DB]() as session:
        found = (
            await session.execute(
                select(User.role, User.disabled, User.token_version).where(
                    User.username == username
                )
            )
        ).one_or_none()
    return (Role(found.role), found.disabled, found.token_version) if found is not None else None


async def user_rows(app: web.Application, usernames: Collection[str]) -> dict[str, UserRow | None]:
    """The rows of these users as the database has them now (None: no such user), in one
    query per 500 names; the cache takes them too, so requests see them as fresh."""
    started = time.monotonic()
    keys = {n: name for n in usernames if (name := integration_of(n)) is not None}
    names = sorted(set(usernames) - set(keys))
    out: dict[str, UserRow | None] = dict.fromkeys(names)
    found = await app[INTEGRATIONS].rows(list(keys.values())) if keys else {}
    out.update({user: found.get(name) for user, name in keys.items()})
    async with app[DB]() as session:
        for i in range(0, len(names), 500):
            rows = await session.execute(
                select(User.username, User.role, User.disabled, User.token_version).where(
                    User.username.in_(names[i : i + 500])
                )
            )
            for r in rows:
                out[r.username] = (Role(r.role), r.disabled, r.token_version)
    cache = app[USER_CACHE]
    for name, row in out.items():
        cache.put(name, row, started)
    return out


def known_user(request: web.Request, app: web.Application) -> AuthUser | None:
    """The caller, without I/O or a coroutine, when the bearer token in the Authorization
    header passed ``Tokens.verify`` before and the user's row is cached and still lets it
    in: nearly every request of a logged-in client. None: ask ``authenticate``, which
    decides everything else (other header forms, a query token, a load, a 401).
    ``app`` is ``request.app``, given by a caller that has it at hand."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None or not header.startswith("Bearer "):
        return None
    token = header[7:]
    claims = app[TOKENS].remembered(token)
    if claims is None:
        if not is_key(token) or (claims := app[INTEGRATIONS].remembered(token)) is None:
            return None
    elif claims.id in app[REVOKED]:
        return None
    cached, row = app[USER_CACHE].get(claims.username)
    if not (cached and admits(row, claims)):
        return None
    user = AuthUser(claims.username, row[0], claims.expires)
    request[USER] = user  # before the gate: a refused integration's write is audited too
    if integration_of(user.username) is not None:
        app[INTEGRATIONS].gate(request, user)
    return user


async def authenticate(request: web.Request, *, allow_query: bool = False) -> AuthUser:
    user, claims = await check_token(request.app, token_from(request, allow_query=allow_query))
    gate = USER not in request and integration_of(user.username) is not None  # once a request
    request[USER] = user
    if gate:
        request.app[INTEGRATIONS].gate(request, user)
    request[CLAIMS] = claims  # a feed opened by this request is tracked by its token
    return user


def require(user: AuthUser, roles: frozenset[Role]) -> None:
    if user.role not in roles:
        need = " or ".join(sorted(roles))
        raise Problem(
            403,
            "forbidden",
            f"this needs role {need}; you are {user.role}",
            extra={"role": str(user.role)},
        )
