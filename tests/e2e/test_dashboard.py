"""The staff dashboard in headless Chromium against the real web tier, gateway and simulated
robots: log in, watch robots move on the floor map, place an order and see it delivered on
the board, chat from one browser to another; screenshots go to test-artifacts/e2e/."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.e2e import Site, log_in, open_page, positions, shot

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_staff_log_in_watch_robots_order_and_chat(browser: Any, restaurant: Site) -> None:
    page = await open_page(browser, restaurant, "ko-KR")
    assert await page.inner_text("form.login button[type=submit]") == "로그인"  # Korean first
    await shot(page, "01-login-ko")
    await log_in(page, "minji")

    # Floor map: every robot drawn, from the robots snapshot and live telemetry.
    for robot in ("serve-1", "serve-2", "cook-1"):  # (no wait_for_function: the CSP forbids eval)
        await page.wait_for_selector(f"svg.floor g.robot[data-robot='{robot}']:not(.hidden)")
    await page.wait_for_selector("svg.floor g.table")
    await page.wait_for_selector("header .live:not(.down)")  # every feed is up
    assert await page.inner_text("header .live") == "실시간"
    before = await positions(page)
    assert {"serve-1", "serve-2", "cook-1"} <= before.keys()

    # Place an order from the menu for table T2.
    await page.click("#tab-orders")
    await page.wait_for_selector("ul.menu input[data-menu='Bibimbap']")
    await page.select_option("#order-table", label="테이블 T2")
    await page.fill("ul.menu input[data-menu='Bibimbap']", "1")
    await page.fill("ul.menu input[data-menu='Japchae']", "2")
    assert "27,000" in await page.inner_text(".order-form .total")  # 11,000 + 2 x 8,000 won
    await page.click(".order-form button[type=submit]")
    await page.wait_for_selector(".board .card[data-order]", timeout=10_000)
    await shot(page, "02-orders-placed")

    # A serving robot carries it: its drawn position changes.
    await page.click("#tab-floor")

    async def moved() -> dict[str, tuple[str, str]]:
        while True:
            now = await positions(page)
            changed = {k: v for k, v in now.items() if before.get(k) not in (None, v)}
            if changed:
                return changed
            await asyncio.sleep(0.1)

    changed = await asyncio.wait_for(moved(), timeout=20)
    assert changed.keys() & {"serve-1", "serve-2"}
    await shot(page, "03-floor-moving")

    # Robot details and staff actions.
    robot = next(iter(changed))
    await page.click(f"table.robots tr[data-robot='{robot}']")
    await page.wait_for_selector(".detail button[data-action='estop']")
    assert robot in await page.inner_text(".detail h2")
    await shot(page, "04-floor-robot-detail")

    # The board shows the order delivered.
    await page.click("#tab-orders")
    await page.wait_for_selector(".col-delivered .card[data-order]", timeout=30_000)
    card = await page.inner_text(".col-delivered .card")
    assert "T2" in card and "비빔밥" in card and "₩27,000" in card
    await shot(page, "05-orders-delivered")

    # A command from the robot's details, and what became of it.
    await page.click("#tab-floor")
    await page.click("table.robots tr[data-robot='cook-1']")
    await page.click(".detail button[data-action='pause']")
    await page.wait_for_selector(".detail dd[data-field='last_command']:has-text('완료')")
    await page.click(".detail button[data-action='resume']")
    await page.wait_for_selector(".detail dd[data-field='last_command']:has-text('재개')")

    # Chat: a message from one browser shows in another (English there).
    other = await open_page(browser, restaurant, "en-US")
    await log_in(other, "joon")
    await other.click("#tab-chat")
    await other.wait_for_selector(".rooms button[aria-selected='true']")
    await page.click("#tab-chat")
    await page.wait_for_selector(".presence li:has-text('joon')")
    await page.fill("#chat-input", "2번 테이블 물 부탁해요")
    await page.press("#chat-input", "Enter")
    await other.wait_for_selector(".messages li:has-text('2번 테이블 물 부탁해요')", timeout=5_000)
    assert await other.inner_text("#tab-chat") == "Chat"
    await shot(page, "06-chat-ko")
    await shot(other, "07-chat-en")

    # Events feed and todos render from their feeds.
    await page.click("#tab-events")
    await page.wait_for_selector(".events-view table.events tbody tr")
    await shot(page, "08-events")
    await page.click("#tab-todos")
    await page.fill(".todo-form input", "냅킨 채우기")
    await page.click(".todo-form button")
    await page.wait_for_selector(".todos li:has-text('냅킨 채우기')")
    await shot(page, "09-todos")

    # The session survives a reload; logout ends it.
    await page.reload()
    await page.wait_for_selector("header nav")
    await page.click("header .logout")
    await page.wait_for_selector("form.login")
    assert not page.js_errors and not other.js_errors, page.js_errors + other.js_errors
