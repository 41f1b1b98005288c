"""cleanup_ctx generators, in dependency order: redis -> database -> orders -> hub -> chat.

Each creates its resource before ``yield`` and releases it after, in reverse
order at shutdown, and keeps going past errors (aiohttp's CleanupContext).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from config import Settings
from robodine.redisio.circuit import Circuit
from robodine.redisio.client import connect, open_connection
from robodine.redisio.keys import KEYS
from robodine.redisio.resp import RespConnection
from web.chat.rooms import RoomService
from web.chat.service import ChatService
from web.consumer import consumer_name
from web.db.migrate import check_not_newer, current_revision, head_revision, upgrade
from web.db.session import create_engine, sessionmaker
from web.feeds.hub import Hub
from web.feeds.topic import TopicContext
from web.keys import (
    CHAT,
    DB,
    ENGINE,
    HUB,
    METRICS,
    OUTBOX,
    PROJECTOR,
    REDIS,
    SESSION_ID,
    SETTINGS,
    TOPICS,
)
from web.orders.outbox import OutboxRelay
from web.orders.projector import Projector
from web.robots.registry import RegistryService, rotate_data_key

log = structlog.get_logger("web")


async def hub_connection(settings: Settings, reader: str) -> RespConnection:
    """A hub reader's connection: replies as str, a reply timeout longer than its BLOCK."""
    return await open_connection(
        settings.redis,
        name=f"{settings.web.name}:hub:{reader}",
        block_ms=settings.web.hub_block_ms,
        encoding="utf-8",
    )


class DatabaseNotMigrated(RuntimeError):
    pass


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """The shared client: requests, the hub's catch-up reads, chat, the outbox relay.
    A Redis that does not answer costs one request ``redis.request_timeout_s``; the
    others get their 503 at once (robodine/redisio/circuit.py)."""
    s = app[SETTINGS]
    circuit = Circuit(s.redis.probe_interval_s)
    app[REDIS] = connect(s.redis, name=f"{s.web.name}:web", decode=True, circuit=circuit)
    yield
    await app[REDIS].aclose()


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    s = app[SETTINGS]
    engine = create_engine(s.database)
    app[ENGINE] = engine
    try:
        if s.database.migrate_on_start:
            await upgrade(engine)
        else:
            current, head = await current_revision(engine), head_revision()
            check_not_newer(current)
            if current != head:
                raise DatabaseNotMigrated(
                    f"database is at revision {current}, the code needs {head}: run "
                    "`robodine db upgrade` or set database.migrate_on_start = true"
                )
        app[DB] = sessionmaker(engine)
    except BaseException:
        await engine.dispose()
        raise
    yield
    await engine.dispose()


async def orders_ctx(app: web.Application) -> AsyncIterator[None]:
    """The robots registry brought level with Redis, the outbox relay and the projector."""
    s = app[SETTINGS]
    await _registry_at_start(app)
    relay = OutboxRelay(app[DB], app[REDIS])
    projector = Projector(
        app[DB],
        lambda: connect(
            s.redis, name=f"{s.web.name}:projector", block_ms=s.web.hub_block_ms, decode=True
        ),
        consumer=consumer_name(s),
        block_ms=s.web.hub_block_ms,
    )
    app[OUTBOX], app[PROJECTOR] = relay, projector
    tasks = [
        asyncio.create_task(relay.run(), name="outbox-relay"),
        asyncio.create_task(projector.run(), name="projector"),
    ]
    yield
    relay.stop()
    projector.stop()  # a flag as well: redis-py may swallow the cancel of a blocking read
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _registry_at_start(app: web.Application) -> None:
    """A data-key rotation in progress (data.previous_key set) is finished, and API robots
    missing from rd:registry are put back. Redis down: logged, the web tier starts anyway."""
    s = app[SETTINGS]
    try:
        if s.data.previous_key is not None and s.data.key_bytes is not None:
            old = bytes.fromhex(s.data.previous_key.get_secret_value())
            await rotate_data_key(app[DB], app[REDIS], s.data.key_bytes, old, source=s.web.name)
        await RegistryService(app[DB], app[REDIS], s).reconcile()
    except RedisError as exc:
        log.warning("registry_check_skipped", error=str(exc) or type(exc).__name__)


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    s = app[SETTINGS]
    ctx = TopicContext(app[REDIS], s, app[DB])
    hub = Hub(
        app[REDIS],
        s.web,
        ctx,
        connect=lambda name: hub_connection(s, name),
    )
    rooms = RoomService(app[DB], frozenset(r.name for r in s.chat.rooms))
    chat = ChatService(app[REDIS], s.chat, hub, app[SESSION_ID], load_rooms=rooms.open_rooms)
    await chat.start()  # the rooms admins added (SQL), before the reader is made
    for stream in sorted(app[TOPICS].streams() | {KEYS.events}):  # one reader per stream
        hub.add_reader(KEYS.short(stream), [stream])
    hub.add_reader("chat", chat.streams())  # every room, one connection
    chat.attach(hub)
    hub.add_tap(KEYS.events, chat.relay)
    app[HUB] = hub
    app[CHAT] = chat
    app[METRICS].watch(hub, app[REDIS])
    task = asyncio.create_task(hub.run(), name="hub")
    if not await hub.wait_ready(s.redis.connect_timeout_s + 1):
        log.warning("hub_not_ready", detail="Redis unreachable at start; readers keep retrying")
    yield
    hub.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def chat_ctx(app: web.Application) -> AsyncIterator[None]:
    chat = app[CHAT]
    task = asyncio.create_task(chat.keep_alive(), name="chat-presence")
    yield
    chat.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
