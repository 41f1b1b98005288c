"""The floor view as staff meet it, in headless Chromium at three window sizes and in both
languages: a paused robot shows as paused in the robots table, its details and on the map
(a pause leaves its state as it was)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.staff import EVERY, close, snap, staff_page
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAUSED = {"ko": "일시 정지", "en": "paused"}
IDLE = {"ko": "대기", "en": "idle"}


async def robot_shows(page: Any, robot: str, text: str) -> None:
    await page.wait_for_selector(
        f"table.robots tr[data-robot='{robot}'] td.state:has-text('{text}')"
    )


async def test_a_paused_robot_shows_as_paused_everywhere(browser: Any, restaurant: Site) -> None:
    page = await staff_page(browser, restaurant, "desktop", "ko")
    await page.click("table.robots tr[data-robot='serve-1']")
    await page.click(".detail button[data-action='pause']")
    await page.wait_for_selector(".detail dd[data-field='last_command']:has-text('완료')")
    await robot_shows(page, "serve-1", "일시 정지 (대기)")
    await page.wait_for_selector(".detail dd[data-field='state'].st-paused:has-text('일시 정지')")
    await page.wait_for_selector(
        "svg.floor g.robot.st-paused[data-robot='serve-1'][data-paused='true']"
    )
    await snap(page, "paused", "desktop", "ko")

    # Every size and language, from the first snapshot (a page opened after the pause).
    for size, lang in EVERY:
        other = await staff_page(browser, restaurant, size, lang)
        await robot_shows(other, "serve-1", PAUSED[lang])
        assert (
            await other.locator(
                "svg.floor g.robot[data-robot='serve-1'][data-paused='true']"
            ).count()
            == 1
        )
        # the others are not paused
        assert PAUSED[lang] not in await other.inner_text(
            "table.robots tr[data-robot='serve-2'] td.state"
        )
        await snap(other, "paused", size, lang)
        await close(other)

    await page.click(".detail button[data-action='resume']")
    await page.wait_for_selector("svg.floor g.robot[data-robot='serve-1'][data-paused='false']")
    await page.wait_for_selector("table.robots tr[data-robot='serve-1']:not(.st-paused)")
    assert await page.inner_text("table.robots tr[data-robot='serve-1'] td.state") == IDLE["ko"]
    assert await page.inner_text(".detail dd[data-field='state']") == IDLE["ko"]
    await close(page)
