"""Every object the application shares, as a typed ``web.AppKey`` (STYLE.md lesson 12)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config import Settings
from web.security import AuthUser, Passwords, Tokens

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", Settings)
SESSION_ID = web.AppKey("session_id", str)  # names this server process run (first frame of a feed)
REDIS = web.AppKey("redis", Redis)  # commands: short timeouts, fails fast
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey[async_sessionmaker[AsyncSession]]("db")
PASSWORDS = web.AppKey("passwords", Passwords)
TOKENS = web.AppKey("tokens", Tokens)
TOPICS = web.AppKey["TopicRegistry"]("topics")
HUB = web.AppKey["Hub"]("hub")
CHAT = web.AppKey["ChatService"]("chat")
ENDPOINTS = web.AppKey["list[Endpoint]"]("endpoints")
LOGIN_LIMITER = web.AppKey["KeyedLimiter"]("login_limiter")
WEBSOCKETS = web.AppKey[weakref.WeakSet[web.WebSocketResponse]]("websockets")

USER = web.RequestKey("user", AuthUser)
REQUEST_ID = web.RequestKey("request_id", str)

__all__ = [name for name, v in globals().items() if isinstance(v, web.AppKey | web.RequestKey)]
