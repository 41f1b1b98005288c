"""/api/integrations (admin): keys for other systems, each with a role, a scope and a limit."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiohttp import web

from web.http.api import Routes
from web.http.integration_auth import NAME_PREFIX, integration_of
from web.http.jsonutil import json_response
from web.http.problems import Problem
from web.integrations.schemas import (
    IntegrationCreated,
    IntegrationIn,
    IntegrationList,
    IntegrationOut,
    IntegrationPath,
)
from web.integrations.service import IntegrationService
from web.keys import DB, FEEDS, INTEGRATIONS, SETTINGS, USER, USER_CACHE
from web.security import ADMINS

log = structlog.get_logger("web.integrations")
routes = Routes(
    "integrations",
    "Keys for other systems (a POS, a building system): each a bearer token with a role, "
    "optional robot and route scopes and its own rate limit. Admins only, and never an "
    "integration itself.",
)


def _service(request: web.Request) -> IntegrationService:
    user = request[USER]
    if integration_of(user.username) is not None:
        raise Problem(403, "forbidden", "integrations are managed by a person, not by a key")
    app = request.app
    return IntegrationService(app[DB], app[SETTINGS].web.integration_rate_per_min)


def _with_last_use(request: web.Request, out: IntegrationOut) -> IntegrationOut:
    """This process's newer use of the key than the one in SQL (written every 10 s)."""
    seen = request.app[INTEGRATIONS].last_used(out.name)
    if seen is None:
        return out
    when = datetime.fromtimestamp(seen[0], UTC)
    if out.last_used_at is not None and out.last_used_at >= when:
        return out
    out.last_used_at, out.last_used_address = when, seen[1] or None
    return out


@routes.route(
    "POST",
    "/api/integrations",
    summary="Add an integration (its key is shown once)",
    roles=ADMINS,
    body=IntegrationIn,
    response=IntegrationCreated,
    status=201,
    errors=(409,),
    response_headers=("Location",),
)
async def create_integration(request: web.Request, body: IntegrationIn) -> web.Response:
    """The answer's `key` is shown this once and never again (only its SHA-256 is kept): give
    it to the other system, which sends it as `Authorization: Bearer <key>` on REST and on
    WebSocket and SSE feeds. A name in use is a 409."""
    out = await _service(request).create(body, request[USER].username)
    log.info("integration_created", integration=out.name, role=out.role, by=request[USER].username)
    return json_response(out, status=201, headers={"Location": f"/api/integrations/{out.name}"})


@routes.route(
    "GET",
    "/api/integrations",
    summary="List integrations",
    roles=ADMINS,
    response=IntegrationList,
)
async def list_integrations(request: web.Request) -> IntegrationList:
    """Every integration, revoked ones too (`active`), with the last time and address its key
    was used. Never a key."""
    items = await _service(request).list()
    return IntegrationList(items=[_with_last_use(request, i) for i in items])


@routes.route(
    "GET",
    "/api/integrations/{name}",
    summary="One integration",
    roles=ADMINS,
    params=IntegrationPath,
    response=IntegrationOut,
)
async def get_integration(request: web.Request, params: IntegrationPath) -> IntegrationOut:
    """As in the list; never the key."""
    return _with_last_use(request, await _service(request).get(params.name))


@routes.route(
    "POST",
    "/api/integrations/{name}/revoke",
    summary="Revoke an integration's key",
    roles=ADMINS,
    params=IntegrationPath,
    response=IntegrationOut,
)
async def revoke_integration(request: web.Request, params: IntegrationPath) -> IntegrationOut:
    """The key stops working at once on this web process (REST answers 401, its sockets close
    with 4001) and within `web.auth_cache_s` on the others. Revoking a revoked integration
    answers it unchanged. The record stays, for the audit events that name it."""
    out, changed = await _service(request).revoke(params.name)
    if changed:
        app = request.app
        app[INTEGRATIONS].forget(params.name)
        app[USER_CACHE].forget(NAME_PREFIX + params.name)
        feeds = app[FEEDS].end_user(NAME_PREFIX + params.name, "integration revoked")
        log.info(
            "integration_revoked", integration=out.name, by=request[USER].username, feeds=feeds
        )
    return out
