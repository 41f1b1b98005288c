"""The events view as staff meet it, in headless Chromium at three window sizes and in both
languages: a bad type filter says why (and the header stays live), levels and types are
words in the page's language, and the details column is a sentence, not JSON."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.staff import EVERY, close, robot_event, snap, staff_page
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORDS = {
    "ko": {
        "state": ("정보", "로봇 상태", "Wok station cook-1", "조리 중 → 대기"),
        "failed": ("경고", "명령 실패", "Alba 1", "충전소로 보내기 · 응답 없음"),
        "low": ("경고", "재고 부족", "—", "호떡 · 3개 남음 · 기준 4"),
        "bad": "이벤트 유형이 아닙니다: “robot*x”",
        "live": "실시간",
    },
    "en": {
        "state": ("info", "robot state", "Wok station cook-1", "cooking → idle"),
        "failed": ("warning", "command failed", "Alba 1", "Send to dock · no answer"),
        "low": ("warning", "low stock", "—", "호떡 · 3 left · threshold 4"),
        "bad": "Not an event type: “robot*x”",
        "live": "Live",
    },
}


async def cells(page: Any, kind: str) -> tuple[str, ...]:
    row = page.locator(f".events-view table.events tr[data-type='{kind}']").first
    texts = await row.locator("td").all_inner_texts()
    return tuple(x.strip() for x in texts[1:])


async def test_events_read_as_words_and_a_bad_filter_says_why(
    browser: Any, named_site: Site
) -> None:
    await robot_event(
        named_site,
        "robot.state",
        "cook-1",
        "info",
        state="idle",
        previous="cooking",
        task="",
        reason="",
    )
    await robot_event(
        named_site,
        "command.failed",
        "serve-1",
        "warning",
        command="c1",
        action="dock",
        reason="timeout",
    )
    await robot_event(
        named_site,
        "inventory.low",
        "",
        "warning",
        inventory=4,
        name="호떡",
        stock=3,
        low_stock=4,
        order="0123456789abcdef",
    )
    for size, lang in EVERY:
        w = WORDS[lang]
        page = await staff_page(browser, named_site, size, lang)
        await page.click("#tab-events")
        await page.wait_for_selector(".events-view table.events tr[data-type='inventory.low']")
        state = await cells(page, "robot.state")
        assert state[:3] == w["state"][:3] and state[3] == w["state"][3], state
        failed = await cells(page, "command.failed")
        assert failed[0:2] == w["failed"][0:2] and failed[2].startswith("Alba 1"), failed
        assert failed[3] == w["failed"][3], failed
        assert await cells(page, "inventory.low") == w["low"]
        details = await page.locator(".events-view table.events td.data").all_inner_texts()
        assert not any("{" in d or '"' in d for d in details), details
        await snap(page, "events", size, lang)

        # A bad type filter: the reason, no rows, and the header stays live (no reconnecting).
        await page.fill(".filters label:nth-child(2) input", "robot*x")
        await page.click(".filters button[type=submit]")
        await page.wait_for_selector(f".filter-error:has-text('{w['bad']}')")
        assert await page.locator(".events-view table.events tbody tr").count() == 0
        await page.wait_for_timeout(1500)
        assert await page.inner_text("header .live") == w["live"]
        await snap(page, "events-bad-filter", size, lang)
        # Fixed (with a space after the comma, as people type): only those types.
        await page.fill(".filters label:nth-child(2) input", "robot.*, inventory.low")
        await page.click(".filters button[type=submit]")
        await page.wait_for_selector(".events-view table.events tr[data-type='inventory.low']")
        assert await page.inner_text(".filter-error") == ""
        kinds = await page.eval_on_selector_all(
            ".events-view table.events tbody tr", "rs => rs.map(r => r.dataset.type)"
        )
        assert {"robot.state", "inventory.low"} <= set(kinds), kinds
        assert all(k.startswith("robot.") or k == "inventory.low" for k in kinds), kinds
        await close(page)
