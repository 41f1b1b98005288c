"""cleanup_ctx: the media store, opened at start and closed at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from robodine.media import StoreError, open_store
from web.keys import MEDIA, SETTINGS

log = structlog.get_logger("web.uploads")


async def media_ctx(app: web.Application) -> AsyncIterator[None]:
    store = await open_store(app[SETTINGS].media)
    try:
        await store.check()
    except StoreError as exc:  # uploads answer 503 until it is back; the rest works
        log.warning("media_store_unavailable", error=str(exc))
    app[MEDIA] = store
    yield
    await store.close()
