"""The login session: it outlives its first token (feeds swap tokens in-band before expiry)
and a wrong password is told in the page's language."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.servers import RedisServer, free_port
from tests.support.e2e import PASSWORD, Site, log_in, open_page, serve
from tests.support.integration import e2e_settings
from web.keys import DB, PASSWORDS
from web.security import Role
from web.users.service import UserService

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_feeds_refresh_the_token_before_it_expires(
    browser: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = e2e_settings(redis_server.url, tmp_path)
    web = base.web.model_copy(
        update={"origins": [url], "port": port, "token_ttl_s": 8.0, "token_warning_s": 6.0}
    )
    settings = base.model_copy(update={"web": web})
    async with serve(settings, port) as (app, server):
        await UserService(app[DB], app[PASSWORDS], 8).create("minji", PASSWORD, Role.STAFF)
        page = await open_page(browser, Site(url, settings, app, server), "en-US")
        await log_in(page, "minji")
        await page.wait_for_selector("header .live:not(.down)")
        token = await page.evaluate("JSON.parse(localStorage.getItem('robodine.session')).token")
        await asyncio.sleep(10)  # past the first token's expiry
        assert await page.inner_text("header .live") == "Live"
        assert await page.locator("form.login").count() == 0
        fresh = await page.evaluate("JSON.parse(localStorage.getItem('robodine.session')).token")
        assert fresh != token
        await page.reload()  # the refreshed session survives a reload
        await page.wait_for_selector("header nav")
        assert not page.js_errors, page.js_errors


async def test_wrong_password_is_refused_in_the_page_language(browser: Any, web_only: Site) -> None:
    page = await open_page(browser, web_only, "ko-KR")
    await page.fill("#username", "minji")
    await page.fill("#password", "not the password")
    await page.click("form.login button[type=submit]")
    await page.wait_for_selector("form.login .error:has-text('비밀번호가 틀립니다')")
    await page.select_option("form.login select.lang", "en")
    assert await page.inner_text("form.login button[type=submit]") == "Log in"
