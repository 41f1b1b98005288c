"""Every manager screen opens in both languages without a script error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.manager_support import add_admin, log_in, open_page, shot
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABS = ["alarms", "history", "log", "admin"]
SECTIONS = ["users", "menu", "tables", "stock", "robots", "settings"]


async def test_every_manager_screen_opens(browser: Any, web_only: Site) -> None:
    await add_admin(web_only)
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "boss")
    for tab in TABS:
        await page.click(f"#tab-{tab}")
        await page.wait_for_selector(f"#view-{tab}:not([hidden])")
    for section in SECTIONS:
        await page.click(f"#admin-{section}")
        await page.wait_for_selector(f"#admin-{section}[aria-selected='true']")
        await page.wait_for_timeout(300)
        await shot(page, f"smoke-admin-{section}")
    assert not page.js_errors, page.js_errors
