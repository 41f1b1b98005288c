"""User management (admin only)."""

from __future__ import annotations

import structlog
from aiohttp import web

from web.http.api import Routes
from web.keys import DB, FEEDS, PASSWORDS, SETTINGS, USER, USER_CACHE
from web.security import ADMINS, Role
from web.users.schemas import UserIn, UserList, UserOut, UserPatch, UserPath
from web.users.service import UserService

log = structlog.get_logger("web.users")
routes = Routes("users", "User accounts and roles (admin only).")


def _service(request: web.Request) -> UserService:
    app = request.app
    return UserService(app[DB], app[PASSWORDS], app[SETTINGS].web.password_min_length)


@routes.route(
    "GET", "/api/users", summary="List users", roles=ADMINS, response=UserList, errors=(401, 403)
)
async def list_users(request: web.Request) -> UserList:
    """Every user, by name, with role and whether disabled. Never a password or its hash."""
    return UserList(items=await _service(request).list())


@routes.route(
    "POST",
    "/api/users",
    summary="Create a user",
    roles=ADMINS,
    body=UserIn,
    response=UserOut,
    status=201,
    errors=(400, 401, 403, 409, 413, 415, 422),
)
async def create_user(request: web.Request, body: UserIn) -> UserOut:
    """The password must have at least `web.password_min_length` characters; it is stored
    hashed with argon2id. A name in use is a 409."""
    out = await _service(request).create(body.username, body.password, Role(body.role))
    log.info("user_created", user=out.username, role=out.role, by=request[USER].username)
    return out


@routes.route(
    "GET",
    "/api/users/{username}",
    summary="One user",
    roles=ADMINS,
    params=UserPath,
    response=UserOut,
    errors=(401, 403, 404),
)
async def get_user(request: web.Request, params: UserPath) -> UserOut:
    """One user: role, disabled, when made and last changed."""
    return await _service(request).get(params.username)


@routes.route(
    "PATCH",
    "/api/users/{username}",
    summary="Change role, password or disabled",
    roles=ADMINS,
    params=UserPath,
    body=UserPatch,
    response=UserOut,
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
async def update_user(request: web.Request, params: UserPath, body: UserPatch) -> UserOut:
    """Any change ends the user's current tokens (they log in again)."""
    out = await _service(request).update(params.username, body, acting=request[USER].username)
    request.app[USER_CACHE].forget(params.username)  # a revocation applies at once here
    request.app[FEEDS].end_user(params.username)  # every token of theirs is void: so are its feeds
    log.info(
        "user_updated",
        user=out.username,
        role=out.role,
        disabled=out.disabled,
        by=request[USER].username,
    )
    return out


@routes.route(
    "DELETE",
    "/api/users/{username}",
    summary="Remove a user",
    roles=ADMINS,
    params=UserPath,
    status=204,
    errors=(401, 403, 404, 409),
)
async def delete_user(request: web.Request, params: UserPath) -> None:
    """Their tokens end at once and their open feeds close (4001). The last active admin cannot
    be removed (409 `last_admin`)."""
    await _service(request).delete(params.username, acting=request[USER].username)
    request.app[USER_CACHE].forget(params.username)
    request.app[FEEDS].end_user(params.username)
    log.info("user_deleted", user=params.username, by=request[USER].username)
