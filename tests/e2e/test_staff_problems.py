"""Problems from the server in the page's language, in headless Chromium at three window
sizes and in both languages: an order the stock cannot cover, too many failed logins, and
a stale login error that does not linger under the browser's own bubble."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e.staff import EVERY, LOCALES, SIZES, Api, close, snap, staff_page
from tests.support.e2e import PASSWORD, Site, open_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUT_OF_STOCK = {
    "ko": "호떡: 재고가 부족합니다 (3개 필요, 1개 남음)",
    "en": "Hotteok: not enough in stock (needs 3, 1 left)",
}


async def test_an_order_the_stock_cannot_cover_is_refused_in_the_pages_language(
    browser: Any, web_only: Site
) -> None:
    async with aiohttp.ClientSession() as s:
        api = await Api.login(web_only, s)
        for size, lang in EVERY:
            await api.set_stock("호떡", 20)
            page = await staff_page(browser, web_only, size, lang)
            await page.click("#tab-orders")
            await page.wait_for_selector("ul.menu input[data-menu='Hotteok']")
            await api.set_stock("호떡", 1)  # someone else took them meanwhile
            await page.fill("ul.menu input[data-menu='Hotteok']", "3")
            await page.click(".order-form button[type=submit]")
            toast = page.locator(".toast.bad")
            await toast.wait_for()
            text = await toast.inner_text()
            assert text == OUT_OF_STOCK[lang], text
            assert "body:" not in text and "out of stock" not in text
            # The menu is read again: one left, so three are not even offered now.
            await page.wait_for_selector("ul.menu li.invalid input[data-menu='Hotteok']")
            await snap(page, "out-of-stock", size, lang)
            await close(page)


TOO_MANY = {"ko": "로그인 실패가 너무 많습니다.", "en": "Too many failed logins; try again in"}
WRONG = {"ko": "비밀번호가 틀립니다", "en": "Wrong user name or password"}


async def test_too_many_failed_logins_say_how_long_to_wait_and_stale_errors_go(
    browser: Any, web_only: Site
) -> None:
    for i, (size, lang) in enumerate(EVERY):
        page = await open_page(browser, web_only, LOCALES[lang], viewport=SIZES[size])
        await page.fill("#username", f"ghost{i}")
        error = page.locator("form.login .error")
        text = ""
        for _ in range(web_only.settings.web.login_attempts_per_min + 1):
            await page.fill("#password", "not the password")  # typing clears the last error
            assert await error.inner_text() == ""
            await page.click("form.login button[type=submit]")
            await page.wait_for_function(
                "() => document.querySelector('form.login .error').textContent !== ''"
            )
            text = await error.inner_text()
            if TOO_MANY[lang] in text:
                break
            assert WRONG[lang] in text, text
        assert TOO_MANY[lang] in text, text
        assert ("초 후에 다시 시도하세요" if lang == "ko" else " s") in text
        assert "retry in" not in text and "로그인할 수 없습니다:" not in text
        await snap(page, "login-too-many", size, lang)
        # An empty password: the browser's bubble says so, the old error does not stay under it.
        await page.fill("#password", "")
        await page.click("form.login button[type=submit]")
        assert await error.inner_text() == ""
        await close(page)
    # The right password still works for a user who was not locked out.
    page = await open_page(browser, web_only, "ko-KR", viewport=SIZES["desktop"])
    await page.fill("#username", "minji")
    await page.fill("#password", PASSWORD)
    await page.click("form.login button[type=submit]")
    await page.wait_for_selector("header nav")
    await close(page)
