"""The alarm sound's mute, in headless Chromium: per browser, remembered across a reload,
shown on the banner, usable from the keyboard; the banner stays until someone acknowledges."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.streams import Level
from tests.e2e.manager_support import event, group_ready, log_in, open_page, shot
from tests.support.e2e import Site
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BANNER = ".alarm-banner"
MUTE = ".alarm-banner button[data-mute]"


async def test_the_alarm_sound_is_muted_per_browser(browser: Any, web_only: Site) -> None:
    await wait_for(lambda: group_ready(web_only), timeout=10)
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "minji")
    other = await open_page(browser, web_only, "en-US")  # another browser (its own storage)
    await log_in(other, "joon")
    await page.wait_for_selector("header .live:not(.down)")

    await event(web_only, "robot.state", "serve-1", Level.ALARM, state="estop", previous="idle")
    await page.wait_for_selector(f"{BANNER}[data-sounding='true']", timeout=10_000)
    assert await page.get_attribute(MUTE, "aria-pressed") == "false"
    assert "소리 켜짐" in await page.inner_text(MUTE)

    await page.click(MUTE)
    await page.wait_for_selector(f"{BANNER}[data-sounding='false'][data-muted='true']")
    assert await page.get_attribute(MUTE, "aria-pressed") == "true"
    assert "소리 꺼짐" in await page.inner_text(MUTE)
    assert await page.is_visible(f"{BANNER} li[data-alarm]")  # the banner stays
    await shot(page, "alarm-muted-ko")
    await other.wait_for_selector(f"{BANNER}[data-sounding='true']", timeout=10_000)
    assert await other.get_attribute(BANNER, "data-muted") == "false"  # its own choice

    # remembered: a reload still shows the alarm, silently
    await page.reload()
    await page.wait_for_selector(f"{BANNER} li[data-alarm]", timeout=10_000)
    assert await page.get_attribute(BANNER, "data-sounding") == "false"
    assert await page.get_attribute(MUTE, "aria-pressed") == "true"

    # back on from the keyboard
    await page.focus(MUTE)
    await page.keyboard.press("Space")
    await page.wait_for_selector(f"{BANNER}[data-sounding='true'][data-muted='false']")
    assert await page.evaluate("localStorage.getItem('robodine.alarm_muted')") == "0"
    assert not page.js_errors, page.js_errors
