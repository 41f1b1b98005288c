"""The order board as staff and a kitchen display meet it, in headless Chromium at three
window sizes and in both languages: the board's layout with and without the order form."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e.staff import EVERY, SIZES, Api, close, snap, staff_page
from tests.support.e2e import Site
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def boxes(page: Any, selector: str) -> list[dict[str, float]]:
    out: list[dict[str, float]] = await page.eval_on_selector_all(
        selector,
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return {x: r.x, y: r.y, w: r.width, h: r.height}; })",
    )
    return out


async def test_the_board_shows_every_status_for_viewers_and_beside_the_form_for_staff(
    browser: Any, web_only: Site
) -> None:
    async with aiohttp.ClientSession() as s:
        api = await Api.login(web_only, s)
        await api.order("T1", {"Bibimbap": 1})
        gone = await api.order("T2", {"Cola": 2})
        await api.call("POST", f"/api/orders/{gone['id']}/cancel", status=200)
    for size, lang in EVERY:
        width, height = SIZES[size]["width"], SIZES[size]["height"]
        for user in ("viewer", "minji"):
            page = await staff_page(browser, web_only, size, lang, user)
            await page.click("#tab-orders")
            await page.wait_for_selector(".col-cancelled .card")
            cols = await boxes(page, ".board .col")
            assert len(cols) == 6
            assert all(c["x"] >= 0 and c["x"] + c["w"] <= width + 0.5 for c in cols), cols
            page_width = await page.evaluate("document.documentElement.scrollWidth")
            assert page_width <= width, (size, user, page_width)  # nothing sticks out sideways
            if size != "phone":  # the board starts above the fold, form or not
                [board] = await boxes(page, ".board")
                assert board["y"] < height / 3, (size, user, board)
            if user == "viewer":
                assert await page.locator(".order-form").count() == 0
                if size == "desktop":  # a kitchen display: all six statuses side by side
                    assert len({c["y"] for c in cols}) == 1
                    assert all(c["y"] + 40 < height and c["w"] > 150 for c in cols), cols
            else:
                [form] = await boxes(page, ".order-form")
                if size != "phone":
                    assert form["w"] < width / 3, (size, form)
            await snap(page, f"board-{user}", size, lang)
            await close(page)


CARD = {
    "ko": {"dish": "비빔밥", "now": "지금", "note": "메모", "placed": "접수"},
    "en": {"dish": "Bibimbap", "now": "now", "note": "Note", "placed": "Placed"},
}


async def test_cards_show_note_time_and_age_in_the_pages_language_and_cancel_asks_first(
    browser: Any, web_only: Site
) -> None:
    async with aiohttp.ClientSession() as s:
        api = await Api.login(web_only, s)
        order = await api.order("T1", {"Bibimbap": 2, "Cola": 1}, note="맵지 않게 해주세요")
        await api.set_stock("호떡", 0)
        await api.set_stock("콜라", 7)
    card = f".card[data-order='{order['id']}']"
    for size, lang in EVERY:
        page = await staff_page(browser, web_only, size, lang)
        await page.click("#tab-orders")
        await page.wait_for_selector(f".col-placed {card}")
        text = await page.inner_text(card)
        words = CARD[lang]
        assert f"{words['dish']} \u00d72" in text and "맵지 않게 해주세요" in text, text
        assert words["now"] in text and f"{words['note']}:" in text, text
        assert ("Bibimbap" in text) == (lang == "en")  # the dish in the page's language
        placed = await page.get_attribute(f"{card} .placed-at time", "datetime")
        assert placed and placed.startswith(order["created_at"][:16])
        # The menu says what is left and what is sold out before anyone orders it.
        hotteok = page.locator("ul.menu li:has(input[data-menu='Hotteok'])")
        assert "out" in (await hotteok.get_attribute("class") or "")
        assert await hotteok.locator("input").is_disabled()
        assert ("품절" if lang == "ko" else "sold out") in await hotteok.inner_text()
        cola = await page.inner_text("ul.menu li:has(input[data-menu='Cola'])")
        assert ("7개 남음" if lang == "ko" else "7 left") in cola, cola
        assert await page.get_attribute("ul.menu input[data-menu='Cola']", "max") == "7"
        await snap(page, "cards", size, lang)
        await close(page)

    # One click asks; only "yes" cancels (one click used to cancel in a quarter second).
    page = await staff_page(browser, web_only, "tablet", "ko")
    await page.click("#tab-orders")
    await page.click(f"{card} button[data-act='cancel']")
    await page.wait_for_selector(f"{card} .confirm:has-text('이 주문을 취소할까요?')")
    await snap(page, "cancel-asks", "tablet", "ko")
    await page.click(f"{card} button[data-act='cancel-no']")
    await page.wait_for_selector(f"{card} button[data-act='cancel']")
    async with aiohttp.ClientSession() as s:
        api = await Api.login(web_only, s)
        path = f"/api/orders/{order['id']}"
        await page.wait_for_timeout(500)
        assert (await api.call("GET", path))["status"] == "placed"  # asked, not cancelled
        await page.click(f"{card} button[data-act='cancel']")
        await page.click(f"{card} button[data-act='cancel-yes']")
        await wait_for(lambda: status_is(api, path, "cancelled"), timeout=10)
    await close(page)


async def status_is(api: Api, path: str, status: str) -> bool:
    return bool((await api.call("GET", path))["status"] == status)
