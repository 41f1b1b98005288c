"""Chat as staff meet it, in headless Chromium at three window sizes and in both languages:
a message refused for speed keeps its text and says when it can go, robots' events read as
words (names, states) in the page's language, long pastes are not cut silently, unbroken
strings stay inside the log, and a viewer's Send button is off."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.staff import EVERY, close, robot_event, snap, staff_page
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def open_room(page: Any, room: str = "kitchen") -> None:
    await page.click("#tab-chat")
    await page.click(f".rooms button[data-room='{room}']")
    await page.wait_for_selector(f".rooms button[data-room='{room}'][aria-selected='true']")
    await page.wait_for_selector(".presence li")  # joined


WAIT = {"ko": "초 후에 보낼 수 있습니다", "en": "you can send it in"}


async def test_a_message_refused_for_speed_keeps_its_text_and_says_when(
    browser: Any, named_site: Site
) -> None:
    for i, (size, lang) in enumerate(EVERY, start=1):
        page = await staff_page(browser, named_site, size, lang, f"staff{i}")
        await open_room(page)
        refused = None
        for n in range(1, 16):  # chat.burst (5) go at once, then one a second
            text = f"물 {n}잔 부탁해요 ({size} {lang})"
            await page.fill("#chat-input", text)
            await page.press("#chat-input", "Enter")
            done = page.locator(f".messages li:has-text('{text}')")
            waiting = page.locator(".chat-note[data-kind='wait']")
            await done.or_(waiting).first.wait_for()
            if await waiting.count():
                refused = text
                break
            assert await page.input_value("#chat-input") == ""  # sent: cleared
        assert refused is not None, "the rate limit never held"
        assert await page.input_value("#chat-input") == refused  # kept, not lost
        assert WAIT[lang] in await page.inner_text(".chat-note")
        assert await page.locator(".chat-form button[type=submit]").is_disabled()
        await snap(page, "chat-refused", size, lang)
        # Once the wait is over it goes, and only then is the input cleared.
        await page.wait_for_selector(
            ".chat-form button[type=submit]:not([disabled])", timeout=10_000
        )
        await page.press("#chat-input", "Enter")
        await page.wait_for_selector(f".messages li:has-text('{refused}')")
        assert await page.input_value("#chat-input") == ""
        await close(page)


RELAYED = {
    "ko": (
        "경보 · Wok station: 조리 중 → 비상 정지",
        "경보 · Wok station: 비상 정지",
        "주방",
        "홀",
        "직원",
    ),
    "en": (
        "alarm · Wok station: cooking → e-stop",
        "alarm · Wok station: e-stop",
        "Kitchen",
        "Floor",
        "staff",
    ),
}


async def test_relayed_robot_events_read_as_words_in_the_pages_language(
    browser: Any, named_site: Site
) -> None:
    await robot_event(
        named_site,
        "robot.state",
        "cook-1",
        "alarm",
        state="estop",
        previous="cooking",
        task="",
        reason="estop",
    )
    await robot_event(
        named_site, "robot.event", "cook-1", "alarm", name="estop", data={"task": None}
    )
    for size, lang in EVERY:
        state_line, event_line, kitchen, floor, role = RELAYED[lang]
        page = await staff_page(browser, named_site, size, lang)
        await page.click("#tab-chat")
        assert await page.inner_text(".rooms button[data-room='kitchen']") == kitchen
        assert await page.inner_text(".rooms button[data-room='floor']") == floor
        await open_room(page, "floor")
        await page.wait_for_selector(f".messages li.system:has-text('{event_line}')")
        lines = await page.locator(".messages li.system .content").all_inner_texts()
        assert lines[-2:] == [state_line, event_line], lines  # the reason is the state: once
        assert not any("{" in x or "estop" in x or "[alarm]" in x for x in lines), lines
        assert f"minji · {role}" in await page.inner_text(".presence")
        await snap(page, "chat-relayed", size, lang)
        await close(page)


TOO_LONG = {
    "ko": "너무 길어서 보낼 수 없습니다: 5000자 (최대 2000자)",
    "en": "Too long to send: 5000 of at most 2000",
}


async def test_long_pastes_and_unbroken_strings_and_a_viewers_send(
    browser: Any, named_site: Site
) -> None:
    for size, lang in EVERY:
        page = await staff_page(browser, named_site, size, lang, "joon")
        await open_room(page)
        await page.fill("#chat-input", "가" * 5000)  # a paste: kept whole, said to be too long
        assert len(await page.input_value("#chat-input")) == 5000
        assert TOO_LONG[lang] in await page.inner_text(".chat-note")
        assert await page.locator(".chat-form button[type=submit]").is_disabled()
        word = "x" * 400  # one unbroken string wraps inside the log
        await page.fill("#chat-input", word)
        await page.press("#chat-input", "Enter")
        await page.wait_for_selector(f".messages li:has-text('{word[:50]}')")
        log = await page.eval_on_selector(".messages", "e => [e.scrollWidth, e.clientWidth]")
        assert log[0] <= log[1], log
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], width
        await snap(page, "chat-long", size, lang)
        await close(page)
    viewer = await staff_page(browser, named_site, "desktop", "ko", "viewer")
    await open_room(viewer)
    assert await viewer.locator("#chat-input").is_disabled()
    assert await viewer.locator(".chat-form button[type=submit]").is_disabled()
    await snap(viewer, "chat-viewer", "desktop", "ko")
    await close(viewer)
