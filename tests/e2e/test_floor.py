"""The floor map under load and from the keyboard: 50 robots at 10 Hz stay smooth, a staff
member reaches a robot with the keyboard and sends it a command; a tablet-size screenshot."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from protocol import streams
from protocol.streams import TelemetryRecord, to_fields
from tests.support.e2e import Site, log_in, open_page, positions, shot
from tests.support.replies import RawEntries, as_fields

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLEET = 50


async def fleet_telemetry(r: aioredis.Redis, seconds: float, hz: float = 10.0) -> None:
    """50 robots driving circles, each sample XADDed as the gateway would."""
    start, seq = time.time(), 0
    while (now := time.time()) - start < seconds:
        seq += 1
        pipe = r.pipeline(transaction=False)
        for i in range(FLEET):
            a = (now - start) * 0.8 + i
            rec = TelemetryRecord(
                robot=f"load-{i:02d}",
                seq=seq,
                ts=now,
                x=6 + 4 * math.cos(a) * (0.3 + i / FLEET * 0.7),
                y=4 + 3 * math.sin(a) * (0.3 + i / FLEET * 0.7),
                theta=a + math.pi / 2,
                battery=100 - i,
                speed=0.8,
            )
            pipe.xadd(streams.TELEMETRY, as_fields(to_fields(rec)))
        await pipe.execute()
        await asyncio.sleep(1 / hz)


async def test_fifty_robots_at_10_hz_are_drawn_smoothly(
    browser: Any, web_only: Site, redis_client: aioredis.Redis
) -> None:
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "minji")
    load = asyncio.create_task(fleet_telemetry(redis_client, seconds=6))
    try:
        from playwright.async_api import expect  # here: the module imports without Playwright

        await expect(page.locator("svg.floor g.robot[data-robot^=load-]")).to_have_count(FLEET)
        first = await positions(page)
        # Frame pacing while every robot moves: rAF intervals over 2 s.
        gaps: list[float] = await page.evaluate(
            """() => new Promise(done => {
                const gaps = []; let last = performance.now(); const end = last + 2000;
                const tick = (t) => { gaps.push(t - last); last = t;
                    if (t < end) requestAnimationFrame(tick); else done(gaps); };
                requestAnimationFrame(tick);
            })"""
        )
        later = await positions(page)
    finally:
        await load
    moved = [k for k in first if k.startswith("load-") and first[k] != later.get(k)]
    assert len(moved) == FLEET
    gaps.sort()
    median, p95 = gaps[len(gaps) // 2], gaps[int(len(gaps) * 0.95)]
    print(f"50 robots @10 Hz: {len(gaps)} frames in 2 s, median {median:.1f} ms, p95 {p95:.1f} ms")
    # A liveness bound, not a speed goal: a dashboard that re-renders per message
    # drops below 10 frames/s; a loaded CI box with software rendering does not.
    # The pacing on a quiet machine is in docs/dashboard.md.
    assert len(gaps) >= 10 and median < 100 and p95 < 400, (len(gaps), median, p95)
    await shot(page, "12-floor-50-robots")


async def test_keyboard_reaches_a_robot_and_sends_a_command(
    browser: Any, web_only: Site, redis_client: aioredis.Redis
) -> None:
    page = await open_page(browser, web_only, "en-US", viewport={"width": 1024, "height": 768})
    await log_in(page, "minji")
    await page.wait_for_selector("table.robots tr[data-robot='serve-1']")
    await page.focus("table.robots tr[data-robot='serve-1']")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".detail button[data-action='pause']")
    await shot(page, "13-tablet-robot-detail")
    await page.focus(".detail button[data-action='pause']")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".toast:has-text('Command sent')")
    entries = cast(RawEntries, await redis_client.xrange(streams.COMMANDS))
    sent = [streams.decode_fields(f) for _, f in entries]
    assert [(c["robot"], c["action"]) for c in sent if c.get("robot") == "serve-1"] == [
        ("serve-1", "pause")
    ]
    # A viewer sees the robot but no actions.
    await page.click("header .logout")
    await log_in(page, "viewer")
    await page.click("table.robots tr[data-robot='serve-1']")
    await page.wait_for_selector(".detail h2")
    assert await page.locator(".detail .actions").count() == 0
    assert not page.js_errors, page.js_errors
