"""Every object the application shares, as a typed ``web.AppKey``: one place to look,
and mypy checks each use."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config import Settings
from web.metrics import WebMetrics
from web.security import AuthUser, Claims, Passwords, Tokens, UserCache

if TYPE_CHECKING:
    from robodine.media import MediaStore
    from web.chat.service import ChatService
    from web.feeds.connections import Feeds
    from web.feeds.hub import Hub
    from web.feeds.topic import TopicRegistry
    from web.http.api import Endpoint
    from web.http.edge import Edge
    from web.http.integration_auth import IntegrationAuth
    from web.http.ratelimit import LoginLimits
    from web.http.revocations import Revocations
    from web.jobs.queue import JobQueue
    from web.orders.outbox import OutboxRelay
    from web.orders.projector import Projector

SETTINGS = web.AppKey("settings", Settings)
SESSION_ID = web.AppKey("session_id", str)  # names this server process run (first frame of a feed)
REDIS = web.AppKey("redis", Redis)  # commands: short timeouts, fails fast
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey[async_sessionmaker[AsyncSession]]("db")
PASSWORDS = web.AppKey("passwords", Passwords)
TOKENS = web.AppKey("tokens", Tokens)
USER_CACHE = web.AppKey("user_cache", UserCache)  # token checks without a query per request
# Types only under TYPE_CHECKING (these modules import this one): annotated, not subscripted.
TOPICS: web.AppKey[TopicRegistry] = web.AppKey("topics")
HUB: web.AppKey[Hub] = web.AppKey("hub")
CHAT: web.AppKey[ChatService] = web.AppKey("chat")
ENDPOINTS: web.AppKey[list[Endpoint]] = web.AppKey("endpoints")
LOGIN_LIMITER: web.AppKey[LoginLimits] = web.AppKey("login_limiter")
WEBSOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("websockets")
OUTBOX: web.AppKey[OutboxRelay] = web.AppKey("outbox")  # wake it after an order commits
PROJECTOR: web.AppKey[Projector] = web.AppKey("projector")
EDGE: web.AppKey[Edge] = web.AppKey("edge")  # wraps every handler (web/http/edge.py)
MEDIA: web.AppKey[MediaStore] = web.AppKey("media")  # uploads, job outputs (robodine/media)
JOBS: web.AppKey[JobQueue] = web.AppKey("jobs")  # the job queue (web/jobs/queue.py)
FEEDS: web.AppKey[Feeds] = web.AppKey("feeds")  # open feeds per user and token: limits, revocation
METRICS = web.AppKey("metrics", WebMetrics)  # this application's Prometheus registry
REVOKED: web.AppKey[Revocations] = web.AppKey("revoked")  # logged-out tokens (rd:revoked)
INTEGRATIONS: web.AppKey[IntegrationAuth] = web.AppKey("integrations")  # integration keys

USER = web.RequestKey("user", AuthUser)
REQUEST_ID = web.RequestKey("request_id", str)
CLAIMS = web.RequestKey("claims", Claims)  # the checked token's (set by auth.authenticate)

__all__ = [name for name, v in globals().items() if isinstance(v, web.AppKey | web.RequestKey)]
