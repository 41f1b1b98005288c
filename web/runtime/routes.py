"""GET and PATCH /api/settings: what an admin may change without a restart."""

from __future__ import annotations

import time
import uuid

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from protocol.streams import EventRecord, Level, to_fields
from robodine.redisio.keys import KEYS
from web.http.api import Routes
from web.keys import REDIS, SETTINGS, USER
from web.runtime.schemas import SettingsOut, SettingsPatch
from web.runtime.store import RUNTIME
from web.security import ADMINS

log = structlog.get_logger("web.runtime")


routes = Routes(
    "settings", "The box's settings that are safe to change while it runs (admin only)."
)


@routes.route(
    "GET",
    "/api/settings",
    summary="The settings an admin may change while running",
    roles=ADMINS,
    response=SettingsOut,
    errors=(401, 403),
)
async def get_settings(request: web.Request) -> SettingsOut:
    """Each with the value in force, the config file's, its bounds and who set it. Gateway
    settings are not among them: the gateway reads its settings at start."""
    return SettingsOut(items=await request.app[RUNTIME].items())


@routes.route(
    "PATCH",
    "/api/settings",
    summary="Change settings while running",
    roles=ADMINS,
    body=SettingsPatch,
    response=SettingsOut,
    errors=(400, 401, 403, 413, 415, 422),
)
async def patch_settings(request: web.Request, body: SettingsPatch) -> SettingsOut:
    """Only the keys sent change; `null` puts one back to the config file's value. This process
    applies a change at once, the others within `web.auth_cache_s`. Recorded as a
    `settings.changed` event (who, what)."""
    user = request[USER].username
    runtime = request.app[RUNTIME]
    changes = await runtime.update(body, user)
    if changes:
        log.info("settings_changed", changes=changes, user=user)
        rec = EventRecord(
            eid=uuid.uuid4().hex,
            type="settings.changed",
            ts=time.time(),
            level=Level.INFO,
            src=request.app[SETTINGS].web.name,
            data={"by": user, "changes": changes},
        )
        try:
            await request.app[REDIS].xadd(KEYS.events, dict(to_fields(rec)))  # type: ignore[arg-type]
        except RedisError as exc:  # the change stands; only its audit line is missing
            log.warning("settings_event_failed", error=str(exc))
    return SettingsOut(items=await runtime.items())
