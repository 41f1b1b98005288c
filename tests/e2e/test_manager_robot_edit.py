"""Editing a robot in the admin robots screen, in headless Chromium: a dialog pre-filled with
the robot, driven by the keyboard alone, saved through PATCH /api/robots/{id}; moving a robot
to TCP shows its new key once."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.manager_support import add_admin, api, log_in, open_page, section, shot, toast_says
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_robot_is_edited_from_the_keyboard(browser: Any, web_only: Site) -> None:
    await add_admin(web_only)
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "boss")
    await page.click("#tab-admin")
    await section(page, "robots")
    form = "form[data-form='robot']"
    await page.fill(f"{form} input >> nth=0", "agv-4")
    await page.select_option(f"{form} select >> nth=1", "vda5050")
    await page.fill(f"{form} fieldset input >> nth=0", "Acme")
    await page.fill(f"{form} fieldset input >> nth=1", "SN-4")
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_selector("tr[data-robot='agv-4']:has-text('Acme/SN-4')")
    # config robots have no edit button: the file wins
    robots = {r["id"]: r for r in (await api(web_only, "/api/robots"))["items"]}
    config = next(rid for rid, r in robots.items() if r["source"] == "config")
    assert await page.locator(f"tr[data-robot='{config}'] button[data-edit]").count() == 0

    # open the editor from the keyboard: it is pre-filled and takes the focus
    await page.focus("tr[data-robot='agv-4'] button[data-edit]")
    await page.keyboard.press("Enter")
    dialog = "dialog form[data-form='robot-edit']"
    await page.wait_for_selector(dialog)
    assert await page.inner_text("dialog h2") == "로봇 수정: agv-4"
    assert await page.input_value(f"{dialog} fieldset input >> nth=1") == "SN-4"
    assert await page.evaluate("document.activeElement.closest('dialog') !== null")
    await page.keyboard.type("쟁반 4")  # the name field has the focus
    await page.keyboard.press("Tab")  # kind
    await page.keyboard.press("Tab")  # transport
    await page.keyboard.press("Tab")  # network
    await page.keyboard.type("b8:27:eb:00:00:04")
    await shot(page, "admin-robot-edit-ko")
    await page.keyboard.press("Enter")  # submits the form
    await toast_says(page, "로봇을 저장했습니다")
    await page.wait_for_selector("tr[data-robot='agv-4']:has-text('쟁반 4 (agv-4)')")
    agv = await api(web_only, "/api/robots/agv-4")
    assert (agv["name"], agv["network"], agv["transport"]) == (
        "쟁반 4",
        "b8:27:eb:00:00:04",
        "vda5050",
    )
    assert agv["vda"] == {"manufacturer": "Acme", "serial": "SN-4", "version": None}

    # to TCP: the identity goes, and the new key is shown once
    await page.click("tr[data-robot='agv-4'] button[data-edit]")
    await page.select_option(f"{dialog} select >> nth=1", "tcp")
    assert await page.is_hidden(f"{dialog} fieldset")
    await page.click(f"{dialog} button[type=submit]")
    key = await page.inner_text("dialog code.robot-key")
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    await page.keyboard.press("Escape")
    await page.wait_for_selector("tr[data-robot='agv-4'] button:has-text('새 키')")
    agv = await api(web_only, "/api/robots/agv-4")
    assert (agv["transport"], agv["vda"]) == ("tcp", None)

    # a refused change says why, in the UI's language, and the dialog stays open
    await page.click("tr[data-robot='agv-4'] button[data-edit]")
    await page.select_option(f"{dialog} select >> nth=1", "vda5050")
    await page.fill(f"{dialog} fieldset input >> nth=0", "Acme")
    await page.fill(f"{dialog} fieldset input >> nth=1", "bad/serial")
    await page.click(f"{dialog} button[type=submit]")  # the browser's own check refuses it
    assert await page.is_visible(dialog)
    assert (await api(web_only, "/api/robots/agv-4"))["transport"] == "tcp"
    await page.keyboard.press("Escape")
    assert not page.js_errors, page.js_errors
