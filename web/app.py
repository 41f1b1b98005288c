"""``create_app(settings)``: the whole web tier as one aiohttp Application.

Shared objects are typed AppKeys (web/keys.py); resources come up in
dependency order through cleanup_ctx (web/resources.py) and go down in
reverse. At shutdown, every open feed is ended and every WebSocket closed
with 1001 GOING_AWAY before aiohttp waits for the handlers.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref

import structlog
from aiohttp import WSCloseCode, web

from config import Settings
from web import dashboard, health, origin, topics
from web.alarms import routes as alarms
from web.alarms.runner import alarms_ctx
from web.cameras import recording_routes as recordings
from web.cameras import routes as cameras
from web.cameras.context import cameras_ctx
from web.chat import routes as chat
from web.db.session import DatabaseConfigError, database_url
from web.events import routes as events
from web.feeds import routes as feeds
from web.feeds.connections import Feeds, feeds_ctx
from web.feeds.topic import TopicRegistry
from web.http import openapi
from web.http.edge import Edge
from web.http.integration_auth import integrations_ctx
from web.http.ratelimit import LoginLimits
from web.http.revocations import Revocations, revocations_ctx
from web.integrations import routes as integrations
from web.jobs import routes as jobs
from web.jobs.queue_ctx import jobs_ctx
from web.keys import (
    EDGE,
    ENDPOINTS,
    FEEDS,
    HUB,
    LOGIN_LIMITER,
    METRICS,
    PASSWORDS,
    REVOKED,
    SESSION_ID,
    SETTINGS,
    TOKENS,
    TOPICS,
    USER_CACHE,
    WEBSOCKETS,
)
from web.metrics import WebMetrics
from web.orders import routes as orders
from web.resources import chat_ctx, database_ctx, hub_ctx, orders_ctx, redis_ctx
from web.restaurant import floor_routes, inventory_routes, menu_routes
from web.robots import kind_routes
from web.robots import routes as robots
from web.robots.command_status import command_status_ctx
from web.runtime import routes as runtime
from web.runtime.store import runtime_ctx
from web.security import MIN_SECRET_BYTES, Passwords, Tokens, UserCache
from web.status import routes as status
from web.todos import routes as todos
from web.topics import default_topics
from web.uploads import routes as uploads
from web.uploads.store_ctx import media_ctx
from web.users import login_routes
from web.users import routes as users
from web.webhooks import inbound_routes as webhooks_in
from web.webhooks import routes as webhooks

log = structlog.get_logger("web")

ROUTE_MODULES = (
    health,
    login_routes,
    users,
    robots,
    kind_routes,
    floor_routes,
    menu_routes,
    inventory_routes,
    orders,
    events,
    todos,
    topics,
    feeds,
    chat,
    uploads,
    jobs,
    webhooks,
    webhooks_in,
    cameras,
    recordings,
    alarms,
    runtime,
    integrations,
    dashboard,
    origin,
    status,
)


class WebConfigError(ValueError):
    """A setting the web tier cannot start without (reported like config errors)."""


def check_settings(settings: Settings) -> str:
    """The checks `robodine web` makes before starting; returns the token secret."""
    secret = settings.web.secret.get_secret_value() if settings.web.secret else ""
    if not secret:
        raise WebConfigError("web.secret: required to sign login tokens (env ROBODINE_WEB_SECRET)")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise WebConfigError(
            f"web.secret: must be at least {MIN_SECRET_BYTES} bytes "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        )
    if settings.data.key is None:
        raise WebConfigError(
            "data.key: required to seal the keys of robots added through the API "
            "(env ROBODINE_DATA_KEY, 64 hex digits, the same as the gateway's; make one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    if settings.alarms.escalate_room not in {r.name for r in settings.chat.rooms}:
        raise WebConfigError(
            f"alarms.escalate_room: {settings.alarms.escalate_room!r} is not one of [[chat.rooms]]"
        )
    try:
        database_url(settings.database.url)
    except DatabaseConfigError as exc:
        raise WebConfigError(str(exc)) from None
    return secret


def create_app(
    settings: Settings, *, topics_registry: TopicRegistry | None = None
) -> web.Application:
    """The application; raises WebConfigError when a required setting is missing or wrong."""
    secret = check_settings(settings)
    app = web.Application(client_max_size=settings.web.max_body_bytes)  # no middleware: edge
    app[SETTINGS] = settings
    app[METRICS] = WebMetrics()
    app[EDGE] = Edge(settings.web, app[METRICS])
    app[SESSION_ID] = uuid.uuid4().hex
    app[PASSWORDS] = Passwords(settings.web)
    app[TOKENS] = Tokens(secret, settings.web.token_ttl_s)
    app[USER_CACHE] = UserCache(settings.web.auth_cache_s)
    app[TOPICS] = topics_registry or default_topics()
    app[ENDPOINTS] = []
    app[WEBSOCKETS] = weakref.WeakSet()
    app[FEEDS] = Feeds(settings.web, app[METRICS])
    app[LOGIN_LIMITER] = LoginLimits(settings.web)
    app[REVOKED] = Revocations()
    for module in ROUTE_MODULES:
        module.routes.install(app)
    openapi.install(app)
    app[EDGE].add_fallback(app)  # last: what no route above takes
    app.cleanup_ctx.extend([redis_ctx, database_ctx, orders_ctx, hub_ctx, chat_ctx, feeds_ctx])
    app.cleanup_ctx.extend([media_ctx, jobs_ctx])  # uploads and jobs (docs/jobs.md)
    app.cleanup_ctx.append(cameras_ctx)  # live views (docs/api.md, Cameras)
    app.cleanup_ctx.extend([runtime_ctx, alarms_ctx])  # run-time settings, alarms
    app.cleanup_ctx.append(command_status_ctx)  # after the hub: its tap on rd:events
    app.cleanup_ctx.append(revocations_ctx)  # logouts of every process (rd:revoked)
    app.cleanup_ctx.append(integrations_ctx)  # integration keys: checks, last uses
    app.on_shutdown.append(_close_feeds)
    return app


async def _close_feeds(app: web.Application) -> None:
    """End every feed (SSE says goodbye) and close every socket with GOING_AWAY."""
    if HUB in app:
        for sub in app[HUB].subscriptions():
            sub.end(WSCloseCode.GOING_AWAY, "server shutting down")
    open_sockets = app[WEBSOCKETS]
    sockets = list(open_sockets)
    if sockets:
        log.info("closing_websockets", count=len(sockets))
        await asyncio.gather(*(_close(ws) for ws in sockets), return_exceptions=True)


async def _close(ws: web.WebSocketResponse) -> None:
    async with asyncio.timeout(2.0):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
