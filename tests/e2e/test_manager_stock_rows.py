"""New stock rows from the admin stock screen, in headless Chromium: an ingredient with the
dishes that use it, and a ready-made dish not counted before."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.manager_support import add_admin, api, log_in, open_page, section, shot, toast_says
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FORM = "form[data-form='stock']"


async def test_a_manager_counts_a_new_ingredient_and_a_dish(browser: Any, web_only: Site) -> None:
    await add_admin(web_only)
    menu = {m["name"]: m for m in (await api(web_only, "/api/menu"))["items"]}
    before = {i["name"] for i in (await api(web_only, "/api/inventory"))["items"]}
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "boss")
    await page.click("#tab-admin")
    await section(page, "stock")
    await page.wait_for_selector(f"{FORM} select >> nth=0 >> option >> nth=1", state="attached")

    # an ingredient, used by two dishes, two of it per portion
    assert await page.input_value(f"{FORM} select >> nth=0") == ""  # a new ingredient
    await page.fill(f"{FORM} fieldset input >> nth=0", "rice")
    await page.select_option(
        f"{FORM} select[multiple]",
        [str(menu["비빔밥"]["id"]), str(menu["공기밥"]["id"])],
    )
    await page.fill(f"{FORM} fieldset input >> nth=1", "2")
    await page.fill(f"{FORM} input >> nth=2", "bowl")  # unit
    await page.fill(f"{FORM} input >> nth=3", "10")  # stock
    await page.fill(f"{FORM} input >> nth=4", "3")  # low-stock threshold
    await shot(page, "admin-stock-add-ko")
    await page.click(f"{FORM} button[type=submit]")
    await toast_says(page, "재고 항목을 추가했습니다")
    rows = {i["name"]: i for i in (await api(web_only, "/api/inventory"))["items"]}
    rice = rows["rice"]
    assert (rice["ingredient"], rice["stock"], rice["low_stock"], rice["unit"]) == (
        "rice",
        10,
        3,
        "bowl",
    )
    assert sorted((u["menu_item_id"], u["amount"]) for u in rice["used_by"]) == sorted(
        [(menu["비빔밥"]["id"], 2), (menu["공기밥"]["id"], 2)]
    )
    await page.wait_for_selector(f"tr[data-stock='{rice['id']}']:has-text('rice')")

    # a ready-made dish nobody counted yet, from the keyboard
    tea = next(m for m in menu.values() if m["stock"] is None and m["name"] not in before)
    await page.focus(f"{FORM} select >> nth=0")
    await page.select_option(f"{FORM} select >> nth=0", str(tea["id"]))
    assert await page.is_hidden(f"{FORM} fieldset")
    await page.fill(f"{FORM} input >> nth=3", "12")
    await page.press(f"{FORM} input >> nth=3", "Enter")
    await toast_says(page, f"재고 항목을 추가했습니다: {tea['name']}")
    rows = {i["name"]: i for i in (await api(web_only, "/api/inventory"))["items"]}
    assert (rows[tea["name"]]["menu_item_id"], rows[tea["name"]]["stock"]) == (tea["id"], 12)
    # counted now: no longer offered
    options = await page.locator(f"{FORM} select >> nth=0 >> option").all_inner_texts()
    assert tea["name"] not in options

    # the same ingredient twice is refused, and said so
    await page.fill(f"{FORM} fieldset input >> nth=0", "rice")
    await page.click(f"{FORM} button[type=submit]")
    await page.wait_for_selector(".toast.bad", timeout=5_000)
    assert not page.js_errors, page.js_errors
