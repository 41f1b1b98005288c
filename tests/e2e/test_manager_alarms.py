"""Alarms, past orders and the event log in headless Chromium: the banner sounds until staff
acknowledge; an order's detail says which robots did the work; the event log pages back and
keeps its filters in the address."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from protocol.streams import Level
from tests.e2e.manager_support import (
    event,
    group_ready,
    log_in,
    open_page,
    shot,
)
from tests.support.e2e import PASSWORD, Site
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def login_token(site: Site, user: str) -> str:
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            f"{site.url}/api/auth/login", json={"username": user, "password": PASSWORD}
        )
        return str((await r.json())["token"])


async def test_the_banner_sounds_until_someone_acknowledges(browser: Any, web_only: Site) -> None:
    await wait_for(lambda: group_ready(web_only), timeout=10)
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "minji")
    viewer = await open_page(browser, web_only, "en-US")
    await log_in(viewer, "viewer")
    await page.wait_for_selector("header .live:not(.down)")
    assert await page.is_hidden(".alarm-banner")

    await event(web_only, "robot.state", "serve-1", Level.ALARM, state="estop", previous="idle")
    await page.wait_for_selector(
        ".alarm-banner[data-sounding='true'] li[data-alarm]", timeout=10_000
    )
    text = await page.inner_text(".alarm-banner")
    assert "비상 정지 · serve-1" in text and "긴급" in text and "확인할 알람: 1" in text
    await viewer.wait_for_selector(".alarm-banner[data-sounding='true']", timeout=10_000)
    assert "e-stop · serve-1" in await viewer.inner_text(".alarm-banner")
    assert await viewer.locator(".alarm-banner button[data-ack]").count() == 0  # a viewer
    await shot(page, "alarm-banner-ko")
    await shot(viewer, "alarm-banner-en")

    await page.click(".alarm-banner button[data-ack]")
    await page.wait_for_selector(".alarm-banner[hidden]", state="attached")
    assert await page.get_attribute(".alarm-banner", "data-sounding") == "false"
    await viewer.wait_for_selector(
        ".alarm-banner[hidden]", state="attached", timeout=10_000
    )  # everywhere
    token = await login_token(web_only, "minji")
    async with aiohttp.ClientSession() as s:
        r = await s.get(
            f"{web_only.url}/api/alarms?state=all", headers={"Authorization": f"Bearer {token}"}
        )
        (alarm,) = (await r.json())["items"]
    assert alarm["acked_by"] == "minji" and alarm["acked_at"] is not None

    # a minor one shows but makes no sound; the alarms tab acknowledges with a note
    await event(
        web_only, "robot.connection", "serve-2", Level.WARNING, state="stale", previous="online"
    )
    await page.wait_for_selector(".alarm-banner:not([hidden]) li.sev-minor", timeout=10_000)
    assert await page.get_attribute(".alarm-banner", "data-sounding") == "false"
    await page.click(".alarm-banner button:has-text('전체 알람')")
    await page.wait_for_selector("#view-alarms:not([hidden]) tr[data-alarm]")
    await page.click("#view-alarms tr.sev-minor button[data-ack]")
    await page.fill("dialog input", "전원 확인함")
    await page.click("dialog button[type=submit]")
    await page.wait_for_selector(".alarm-banner[hidden]", state="attached")
    await page.select_option("#alarm-state", "all")
    await page.wait_for_selector("#view-alarms tr[data-alarm] >> nth=1")
    assert "#alarms?state=all" in page.url
    await page.click("#view-alarms tr.sev-minor button:has-text('내용')")
    history = await page.inner_text("dialog ol.history")
    assert "발생" in history and "확인 · minji" in history
    await shot(page, "alarms-tab-ko")
    assert not page.js_errors and not viewer.js_errors, page.js_errors + viewer.js_errors


async def test_an_orders_detail_and_the_days_totals(browser: Any, web_only: Site) -> None:
    token = await login_token(web_only, "minji")
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s:
        tables = (await (await s.get(f"{web_only.url}/api/tables", headers=auth)).json())["items"]
        menu = {
            m["name_en"]: m["id"]
            for m in (await (await s.get(f"{web_only.url}/api/menu", headers=auth)).json())["items"]
        }
        body = {
            "table_id": tables[1]["id"],
            "items": [
                {"menu_item_id": menu["Bibimbap"], "quantity": 1},
                {"menu_item_id": menu["Cola"], "quantity": 2},
            ],
        }
        order = await (await s.post(f"{web_only.url}/api/orders", headers=auth, json=body)).json()
        body = {
            "table_id": tables[0]["id"],
            "items": [{"menu_item_id": menu["Cola"], "quantity": 1}],
        }
        other = await (await s.post(f"{web_only.url}/api/orders", headers=auth, json=body)).json()
        await s.post(f"{web_only.url}/api/orders/{other['id']}/cancel", headers=auth)
    oid = order["id"]
    for type_, robot, level, data in (
        ("order.status", "", Level.INFO, {"status": "placed", "previous": None}),
        (
            "task.assigned",
            "cook-1",
            Level.INFO,
            {"task": f"{oid}:c0", "kind": "cook", "attempt": 1},
        ),
        (
            "task.released",
            "cook-1",
            Level.WARNING,
            {"task": f"{oid}:c0", "kind": "cook", "reason": "robot reported error"},
        ),
        (
            "task.assigned",
            "cook-1",
            Level.INFO,
            {"task": f"{oid}:c0", "kind": "cook", "attempt": 2},
        ),
        ("order.status", "", Level.INFO, {"status": "ready", "previous": "placed"}),
        (
            "task.assigned",
            "serve-2",
            Level.INFO,
            {"task": f"{oid}:d", "kind": "deliver", "attempt": 1},
        ),
        ("order.status", "serve-2", Level.INFO, {"status": "delivering", "previous": "ready"}),
        ("order.status", "serve-2", Level.INFO, {"status": "delivered", "previous": "delivering"}),
    ):
        await event(web_only, type_, robot, level, order=oid, **data)

    async def projected() -> bool:
        async with aiohttp.ClientSession() as s:
            got = await (await s.get(f"{web_only.url}/api/orders/{oid}", headers=auth)).json()
        return bool(got["status"] == "delivered")

    await wait_for(projected, timeout=10)
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "minji")
    await page.click("#tab-history")
    await page.wait_for_selector(f"tr[data-order='{oid}']")
    assert await page.inner_text("[data-total='orders']") == "2"
    assert "16,000" in await page.inner_text("[data-total='revenue']")  # 11,000 + 2 x 2,500
    assert "16,000" in await page.inner_text("[data-total='delivered']")
    assert "취소됨 1" in await page.inner_text(".by-status")
    # by keyboard: focus the row, Enter opens the detail
    await page.focus(f"tr[data-order='{oid}']")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("dialog .order-detail")
    assert await page.inner_text("dialog dd[data-field='carried_by']") == "serve-2"
    assert await page.inner_text("dialog dd[data-field='cooked_by']") == "cook-1"
    assert await page.inner_text("dialog dd[data-field='reassigned']") == "1"
    tasks = await page.inner_text("dialog table.tasks")
    assert "해제됨" in tasks and "로봇 보고: 오류" in tasks and "조리: 비빔밥" in tasks
    statuses = await page.eval_on_selector_all(
        "dialog ol.history li", "els => els.map(e => e.dataset.status)"
    )
    assert statuses == ["placed", "ready", "delivering", "delivered"]
    await shot(page, "order-detail-ko")
    await page.keyboard.press("Escape")
    await page.wait_for_selector("dialog", state="detached")

    # the filters live in the address: a reload shows the same
    await page.select_option(".order-log-view select >> nth=1", "cancelled")
    await page.wait_for_selector(f"tr[data-order='{other['id']}']")
    assert "status=cancelled" in page.url
    await page.reload()
    await page.wait_for_selector(f"#view-history:not([hidden]) tr[data-order='{other['id']}']")
    assert await page.locator(f"tr[data-order='{oid}']").count() == 0

    # an order card on the board opens the same detail
    await page.click("#tab-orders")
    await page.click(f".board .card[data-order='{oid}'] .items")
    await page.wait_for_selector(f"dialog .order-detail[data-order='{oid}']")
    await page.keyboard.press("Escape")
    await page.focus(f".board .card[data-order='{oid}']")  # and by keyboard
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f"dialog .order-detail[data-order='{oid}']")
    assert not page.js_errors, page.js_errors


async def test_the_event_log_pages_back_with_its_filters_in_the_address(
    browser: Any, web_only: Site
) -> None:
    for i in range(130):
        await event(
            web_only,
            "robot.event",
            "serve-1" if i % 2 else "serve-2",
            Level.INFO,
            name="battery_low" if i % 2 else "message_rejected",
            data={"n": i},
        )
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "minji")
    await page.click("#tab-log")
    await page.fill(".event-log-view input", "serve-1")
    await page.click(".event-log-view button[type=submit]")
    await page.wait_for_selector(".event-log tbody tr >> nth=49")
    assert await page.locator(".event-log tbody tr").count() == 50
    first = await page.get_attribute(".event-log tbody tr >> nth=0", "data-id")
    texts = await page.inner_text(".event-log tbody")
    assert "serve-2" not in texts and "배터리 부족" in texts and "로봇 알림" in texts
    await page.click(".pager button[data-page='older']")
    await wait_for(lambda: _first_id(page, first), timeout=10)
    assert "robot=serve-1" in page.url and "before=" in page.url
    older = await page.get_attribute(".event-log tbody tr >> nth=0", "data-id")
    await page.reload()
    await page.wait_for_selector(f".event-log tbody tr[data-id='{older}']")
    assert await page.input_value(".event-log-view input") == "serve-1"
    await page.click(".pager button[data-page='newer']")
    await page.wait_for_selector(f".event-log tbody tr[data-id='{first}']")
    await shot(page, "event-log-ko")
    assert not page.js_errors, page.js_errors


async def _first_id(page: Any, not_this: str | None) -> bool:
    now = await page.get_attribute(".event-log tbody tr >> nth=0", "data-id")
    return now is not None and now != not_this
