"""A dashboard opened at an address web.origins does not list says so, instead of
reconnecting for ever, and the web tier logs the refusal once with the allowed list."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.servers import RedisServer, free_port
from tests.support.e2e import PASSWORD, Site, log_in, open_page, serve
from tests.support.integration import e2e_settings
from web.keys import DB, PASSWORDS
from web.security import Role
from web.users.service import UserService

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_refused_origin_is_shown_not_retried(
    browser: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = e2e_settings(redis_server.url, tmp_path)
    allowed = ["http://127.0.0.1:8080", "http://localhost:8080"]  # the port was changed, not these
    settings = base.model_copy(
        update={"web": base.web.model_copy(update={"origins": allowed, "port": port})}
    )
    async with serve(settings, port) as (app, server):
        await UserService(app[DB], app[PASSWORDS], 8).create("minji", PASSWORD, Role.STAFF)
        page = await open_page(browser, Site(url, settings, app, server), "en-US")
        sockets: list[Any] = []
        page.on("websocket", lambda ws: sockets.append(ws))
        with structlog.testing.capture_logs() as logs:
            await log_in(page, "minji")
            status = page.locator("header .live.refused")
            await status.wait_for(timeout=15_000)
            assert await status.inner_text() == "This address is not allowed: add it to web.origins"
            await asyncio.sleep(1)  # events of sockets opened before the verdict still arrive
            before = len(sockets)
            await asyncio.sleep(3)  # a reconnecting dashboard would have retried by now
        assert before >= 1 and len(sockets) == before
        refused = [e for e in logs if e["event"] == "origin_refused"]
        assert len(refused) == 1, refused  # once per origin, however many feeds were refused
        assert refused[0]["origin"] == url and refused[0]["allowed"] == sorted(allowed)
        assert not page.js_errors, page.js_errors
