"""Names, not internal ids, in headless Chromium at three window sizes and in both
languages: robots by their names, a task as its table and dish, docks, chat rooms (see
test_staff_chat) and the user in the header with the role in words."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e.staff import EVERY, Api, close, robot_snapshot, snap, staff_page
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMES = {
    "ko": {
        "who": "minji · 직원",
        "dock": "충전소 1",
        "deliver": "테이블 T2 · 서빙",
        "cook": "테이블 T2 · 비빔밥 조리",
    },
    "en": {
        "who": "minji · staff",
        "dock": "Dock 1",
        "deliver": "Table T2 · delivering",
        "cook": "Table T2 · cooking Bibimbap",
    },
}


async def test_robots_tasks_docks_and_the_user_read_as_names(
    browser: Any, named_site: Site
) -> None:
    async with aiohttp.ClientSession() as s:
        api = await Api.login(named_site, s)
        order = await api.order("T2", {"Bibimbap": 1})
    await robot_snapshot(
        named_site,
        "serve-1",
        connection="online",
        state="en_route",
        task=f"{order['id']}:d",
        x=3,
        y=3,
    )
    await robot_snapshot(
        named_site,
        "cook-1",
        connection="online",
        state="cooking",
        task=f"{order['id']}:c1",
        x=1,
        y=4,
    )
    for size, lang in EVERY:
        w = NAMES[lang]
        page = await staff_page(browser, named_site, size, lang)
        assert await page.inner_text("header .who") == w["who"]
        await page.wait_for_selector(
            f"table.robots tr[data-robot='serve-1'] td.task:has-text('{w['deliver']}')"
        )
        await page.wait_for_selector(
            f"table.robots tr[data-robot='cook-1'] td.task:has-text('{w['cook']}')"
        )
        assert (
            await page.inner_text("table.robots tr[data-robot='cook-1'] td.name")
            == "Wok station cook-1"
        )
        tasks = await page.locator("table.robots td.task").all_inner_texts()
        assert not any(order["id"] in x for x in tasks), tasks
        label = await page.text_content("svg.floor g.robot[data-robot='cook-1'] text.lbl")
        assert label == "Wok station"
        docks = await page.locator("svg.floor g.dock text.lbl").all_text_contents()
        assert docks == [w["dock"]], docks
        await page.click("table.robots tr[data-robot='cook-1']")
        assert (await page.inner_text(".detail h2")).endswith("Wok station cook-1")
        assert await page.inner_text(".detail dd[data-field='task']") == w["cook"]
        await snap(page, "names", size, lang)
        await close(page)
