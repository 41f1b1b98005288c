"""The order board as staff and a kitchen display meet it, in headless Chromium at three
window sizes and in both languages: the board's layout with and without the order form."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Site
from tests.e2e.staff import EVERY, SIZES, Api, close, snap, staff_page

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
