"""The dashboard rides out a restart of the web tier: it says it is reconnecting, resumes
every feed from its last stream id, and shows what happened meanwhile with no gap and no
repeat (an order's statuses, chat messages)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.e2e import Site, log_in, open_page, shot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DELIVERED = "placed,cooking,ready,delivering,delivered"


async def test_web_restart_reconnects_and_resumes_without_gaps_or_repeats(
    browser: Any, restaurant: Site
) -> None:
    page = await open_page(browser, restaurant, "ko-KR")
    await log_in(page, "minji")
    other = await open_page(browser, restaurant, "en-US")
    await log_in(other, "joon")
    await other.click("#tab-chat")
    await page.click("#tab-chat")
    await page.wait_for_selector("header .live:not(.down)")
    await other.wait_for_selector("header .live:not(.down)")
    await page.fill("#chat-input", "before")
    await page.press("#chat-input", "Enter")
    await other.wait_for_selector(".messages li:has-text('before')")

    # An order goes in; the web tier goes down while the robots work on it.
    await page.click("#tab-orders")
    await page.wait_for_selector("ul.menu input[data-menu='Bibimbap']")
    await page.select_option("#order-table", label="테이블 T2")
    await page.fill("ul.menu input[data-menu='Bibimbap']", "1")
    await page.click(".order-form button[type=submit]")
    await page.wait_for_selector(".board .card[data-trail^='placed']")
    await restaurant.server.stop()
    await page.wait_for_selector("header .live.down", timeout=5_000)
    assert await page.inner_text("header .live") == "다시 연결하는 중…"
    await shot(page, "10-reconnecting")
    await asyncio.sleep(3)  # the order moves on without the web tier
    await restaurant.server.start()

    await page.wait_for_selector("header .live:not(.down)", timeout=15_000)
    await page.wait_for_selector(".col-delivered .card", timeout=30_000)
    assert await page.get_attribute(".col-delivered .card", "data-trail") == DELIVERED
    assert await page.locator(".board .card").count() == 1

    await page.click("#tab-chat")
    await other.wait_for_selector("header .live:not(.down)", timeout=15_000)
    await page.fill("#chat-input", "after")
    await page.press("#chat-input", "Enter")
    await other.wait_for_selector(".messages li:has-text('after')")
    texts = await other.locator(".messages li .content").all_inner_texts()
    assert texts == ["before", "after"]
    await shot(page, "11-after-restart")
    assert not page.js_errors and not other.js_errors, page.js_errors + other.js_errors
