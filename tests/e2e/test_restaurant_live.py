"""The dashboard follows the ``restaurant`` topic: an admin's price change and a dish marked
unavailable reach an open order form without a reload."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support.e2e import PASSWORD, Site, log_in, open_page, shot
from web.keys import DB, PASSWORDS
from web.security import Role
from web.users.service import UserService

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_price_change_reaches_an_open_order_form(browser: Any, web_only: Site) -> None:
    await UserService(web_only.app[DB], web_only.app[PASSWORDS], 8).create(
        "boss", PASSWORD, Role.ADMIN
    )
    page = await open_page(browser, web_only, "en-US")
    await log_in(page, "minji")
    await page.click("#tab-orders")
    cola = "li:has(input[data-menu='Cola'])"
    await page.wait_for_selector(cola)
    await page.wait_for_selector("header .live:not(.down)")
    async with aiohttp.ClientSession(web_only.url) as http:
        r = await http.post("/api/auth/login", json={"username": "boss", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
        menu = await (await http.get("/api/menu", headers=auth)).json()
        item = next(m for m in menu["items"] if m["name_en"] == "Cola")
        r = await http.patch(f"/api/menu/{item['id']}", headers=auth, json={"price_minor": 4321})
        assert r.status == 200
        await page.wait_for_selector(f"{cola} .price:has-text('4,321')", timeout=10_000)
        await shot(page, "restaurant-live-price")
        r = await http.patch(f"/api/menu/{item['id']}", headers=auth, json={"available": False})
        assert r.status == 200
        await page.wait_for_selector(cola, state="detached", timeout=10_000)
    assert page.js_errors == []
