"""The forms as staff meet them, in headless Chromium at three window sizes and in both
languages: quantities the API refuses are marked (and priced at nothing), a todo title too
long is kept and said to be, long titles leave the delete button in view with the box beside
its title, and toasts stack instead of covering each other."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e.staff import EVERY, Api, close, snap, staff_page
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QTY = {
    "ko": (
        "최대 99개까지 주문할 수 있습니다",
        "수량은 정수로 입력하세요",
        "합계: —",
        "합계: ₩4,000",
    ),
    "en": ("at most 99 portions", "a whole number of portions", "Total: —", "Total: ₩4,000"),
}


async def box(page: Any, selector: str) -> dict[str, float]:
    b: dict[str, float] = await page.locator(selector).bounding_box()
    assert b is not None, selector
    return b


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


async def test_quantities_the_api_refuses_are_marked_and_never_priced(
    browser: Any, web_only: Site
) -> None:
    tea = "ul.menu input[data-menu='Barley tea']"  # not counted: only the 99 bound holds
    for size, lang in EVERY:
        too_many, fraction, no_total, total = QTY[lang]
        page = await staff_page(browser, web_only, size, lang)
        await page.click("#tab-orders")
        await page.wait_for_selector(tea)
        await page.fill(tea, "100")
        assert await page.inner_text(".order-form .total") == no_total  # not 99's price
        assert too_many in await page.inner_text(".order-form .form-error")
        await page.click(".order-form button[type=submit]")
        await page.wait_for_selector(f".toast.bad:has-text('{too_many}')")
        await snap(page, "qty-over", size, lang)
        await page.fill(tea, "1.5")
        assert await page.inner_text(".order-form .total") == no_total  # no price for a fraction
        assert fraction in await page.inner_text(".order-form .form-error")
        await page.fill(tea, "2")
        assert await page.inner_text(".order-form .total") == total
        assert await page.inner_text(".order-form .form-error") == ""
        await close(page)
    async with aiohttp.ClientSession() as s:
        api = await Api.login(web_only, s)
        assert (await api.call("GET", "/api/orders"))["total"] == 0  # nothing was ordered


TOO_LONG = {
    "ko": "너무 깁니다: 300자 (최대 200자)",
    "en": "Too long: 300 of at most 200 characters",
}


async def test_todos_long_titles_checkbox_beside_its_title_and_toasts_stacked(
    browser: Any, web_only: Site
) -> None:
    for size, lang in EVERY:
        page = await staff_page(browser, web_only, size, lang)
        await page.click("#tab-todos")
        field = ".todo-form input"
        await page.fill(field, "가" * 300)
        assert len(await page.input_value(field)) == 300  # kept whole, not cut at 200
        assert await page.inner_text(".todo-note") == TOO_LONG[lang]
        assert await page.locator(".todo-form button").is_disabled()
        title = f"{size}-{lang}-" + "x" * 180  # one unbroken string
        await page.fill(field, title)
        await page.click(".todo-form button")
        item = f".todos li:has-text('{title[:40]}')"
        await page.wait_for_selector(item)
        width = page.viewport_size["width"]
        delete = await box(page, f"{item} button")
        assert delete["x"] + delete["width"] <= width, (size, delete)
        check, text = await box(page, f"{item} input"), await box(page, f"{item} .title")
        assert check["x"] + check["width"] <= text["x"], (check, text)  # beside, not above
        assert text["y"] <= check["y"] + check["height"] / 2 <= text["y"] + text["height"]
        # Two toasts at once: one above the other; the same one again is not shown twice.
        await page.click("#tab-orders")
        await page.wait_for_selector("ul.menu input")
        await page.click(".order-form button[type=submit]")  # nothing chosen
        await page.fill("ul.menu input[data-menu='Barley tea']", "100")
        await page.click(".order-form button[type=submit]")  # too many
        await page.click(".order-form button[type=submit]")
        toasts = page.locator(".toast")
        await toasts.nth(1).wait_for()
        assert await toasts.count() == 2
        a, b = await toasts.nth(0).bounding_box(), await toasts.nth(1).bounding_box()
        assert a and b and not overlap(a, b), (a, b)
        await snap(page, "toasts", size, lang)
        await page.click("#tab-todos")
        await snap(page, "todos", size, lang)
        await close(page)
