"""The admin screens in headless Chromium: users, menu in won, the floor plan dragged and saved,
stock thresholds, the robots registry with its key shown once, run-time settings."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from tests.e2e.manager_support import add_admin, api, log_in, open_page, section, shot, toast_says
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_manager_runs_the_restaurant_from_the_admin_screens(
    browser: Any, web_only: Site
) -> None:
    await add_admin(web_only)
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "boss")
    await page.click("#tab-admin")

    # users: add, change the role, reset the password, disable
    await section(page, "users")
    form = "form[data-form='user']"
    await page.fill(f"{form} input >> nth=0", "hana")
    await page.fill(f"{form} input[type=password]", "a long password 1")
    await page.select_option(f"{form} select", "staff")
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_selector("tr[data-user='hana']")
    await page.select_option("tr[data-user='hana'] select", "viewer")
    await toast_says(page, "역할을 바꿨습니다")
    await page.click("tr[data-user='hana'] button:has-text('비밀번호 재설정')")
    await page.fill("dialog input[type=password]", "another long one 2")
    await page.click("dialog button[type=submit]")
    await toast_says(page, "비밀번호를 바꿨습니다")
    await page.click("tr[data-user='hana'] button:has-text('사용 중지')")
    await page.click("dialog button.danger")
    await page.wait_for_selector("tr[data-user='hana'].disabled")
    assert await page.is_disabled("tr[data-user='boss'] button.danger")  # not oneself
    users = {u["username"]: u for u in (await api(web_only, "/api/users"))["items"]}
    assert (users["hana"]["role"], users["hana"]["disabled"]) == ("viewer", True)
    async with aiohttp.ClientSession() as s:  # the reset password is the one that works
        r = await s.post(
            f"{web_only.url}/api/auth/login",
            json={"username": "hana", "password": "another long one 2"},
        )
        assert r.status == 401  # disabled now
    await shot(page, "admin-users-ko")

    # menu: a dish priced as people write won, a price change, out of stock for the day
    await section(page, "menu")
    form = "form[data-form='menu']"
    await page.fill(f"{form} input >> nth=0", "냉면")
    await page.fill(f"{form} input >> nth=1", "Cold noodles")
    await page.fill(f"{form} input >> nth=3", "12,000원")
    await page.click(f"{form} button[type=submit]")
    await toast_says(page, "메뉴를 추가했습니다")
    menu = {m["name"]: m for m in (await api(web_only, "/api/menu"))["items"]}
    assert menu["냉면"]["price_minor"] == 12000 and menu["냉면"]["robot_cooked"] is False
    cola = f"tr[data-menu='{menu['콜라']['id']}']"
    await page.fill(f"{cola} td.price input", "3000")
    await page.press(f"{cola} td.price input", "Enter")
    await page.wait_for_selector(f"{cola} .won:has-text('3,000')")
    await page.fill(f"{cola} td.price input", "3.5")
    await page.press(f"{cola} td.price input", "Enter")
    await toast_says(page, "원 단위 정수")
    await page.uncheck(f"{cola} input[type=checkbox]")
    await page.wait_for_selector(f"{cola}.unavailable")
    menu = {m["name"]: m for m in (await api(web_only, "/api/menu"))["items"]}
    assert (menu["콜라"]["price_minor"], menu["콜라"]["available"]) == (3000, False)
    await shot(page, "admin-menu-ko")

    # tables: drag T1 with the mouse, move T2 with the keyboard, save
    await section(page, "tables")
    t1 = "svg.plan-editor g[data-table='T1']"
    await page.wait_for_selector(t1)
    box = await page.locator(t1).bounding_box()
    plan = await page.locator("svg.plan-editor rect.plan").bounding_box()
    assert box and plan
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    target = (plan["x"] + plan["width"] * 0.75, plan["y"] + plan["height"] * 0.25)
    await page.mouse.move(*target, steps=8)
    await page.mouse.up()
    await page.wait_for_selector("tr[data-table='T1']:has-text('저장 안 됨')")
    await page.focus("svg.plan-editor g[data-table='T2']")
    for key in ("ArrowLeft", "ArrowLeft", "Shift+ArrowUp"):
        await page.keyboard.press(key)
    await page.keyboard.press("Enter")  # saves the plan
    await toast_says(page, "테이블을 옮겼습니다")
    tables = {tb["name"]: tb for tb in (await api(web_only, "/api/tables"))["items"]}
    floor = web_only.settings.floor
    assert tables["T1"]["x"] == pytest.approx(floor.width * 0.75, abs=0.3)
    assert tables["T1"]["y"] == pytest.approx(floor.height * 0.25, abs=0.3)
    assert (tables["T2"]["x"], tables["T2"]["y"]) == (pytest.approx(7.8), pytest.approx(5.0))
    await shot(page, "admin-tables-ko")

    # stock: a low-stock threshold
    await section(page, "stock")
    inventory = {i["name"]: i for i in (await api(web_only, "/api/inventory"))["items"]}
    row = f"tr[data-stock='{inventory['식혜']['id']}']"
    await page.fill(f"{row} input >> nth=0", "4")
    await page.fill(f"{row} input >> nth=1", "6")
    await page.click(f"{row} button")
    await page.wait_for_selector(f"{row}.low")
    inventory = {i["name"]: i for i in (await api(web_only, "/api/inventory"))["items"]}
    assert (inventory["식혜"]["stock"], inventory["식혜"]["low_stock"]) == (4, 6)
    await shot(page, "admin-stock-ko")

    # robots: a TCP robot's key shown once; a VDA 5050 AGV logs in to the broker
    await section(page, "robots")
    form = "form[data-form='robot']"
    await page.fill(f"{form} input >> nth=0", "tray-9")
    await page.fill(f"{form} input >> nth=1", "쟁반 9")
    await page.click(f"{form} button[type=submit]")
    key = await page.inner_text("dialog code.robot-key")
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    await shot(page, "admin-robot-key-ko")
    await page.keyboard.press("Escape")
    await page.fill(f"{form} input >> nth=0", "agv-9")
    await page.select_option(f"{form} select >> nth=1", "vda5050")
    await page.fill(f"{form} fieldset input >> nth=0", "Acme")
    await page.fill(f"{form} fieldset input >> nth=1", "SN-9")
    await page.click(f"{form} button[type=submit]")
    await toast_says(page, "MQTT 브로커")
    await page.wait_for_selector("tr[data-robot='agv-9']:has-text('VDA 5050 · Acme/SN-9')")
    robots = {r["id"]: r for r in (await api(web_only, "/api/robots"))["items"]}
    assert robots["tray-9"]["transport"] == "tcp" and robots["tray-9"]["source"] == "api"
    assert robots["agv-9"]["vda"] == {"manufacturer": "Acme", "serial": "SN-9", "version": None}
    assert "key" not in await page.inner_text("tr[data-robot='tray-9']")
    await shot(page, "admin-robots-ko")

    # settings: minutes on screen, seconds in the API
    await section(page, "settings")
    await page.fill("input[data-setting='alarms.escalate_after_s']", "10")
    await page.click("form[data-form='settings'] button[type=submit]")
    await page.wait_for_selector("form[data-form='settings'] small:has-text('boss')")
    values = {s["key"]: s["value"] for s in (await api(web_only, "/api/settings"))["items"]}
    assert values["alarms.escalate_after_s"] == 600
    await shot(page, "admin-settings-ko")
    assert not page.js_errors, page.js_errors
