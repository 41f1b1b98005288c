"""Robot cameras in headless Chromium: the live MJPEG in an <img> changes frame after frame,
and the dashboard's camera panel draws the live frames and records on request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulator.camera import CameraOptions
from tests.integration.sim import simulated
from tests.servers import RedisServer, free_port
from tests.support.e2e import ARTIFACTS, PASSWORD, Site, serve
from tests.support.gateway import run_gateway
from tests.support.integration import e2e_settings
from tests.waiting import wait_for
from web.demo import load_demo
from web.keys import DB, PASSWORDS
from web.security import Role
from web.users.service import UserService

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest.importorskip("PIL")

CAMERA = "serve-1:front"


@pytest.fixture
async def filmed(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Site]:
    """Gateway, simulated robots with cameras, the web tier on a real port, one staff."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = e2e_settings(redis_server.url, tmp_path, cook_seconds=0.3)
    settings = base.model_copy(
        update={
            "web": base.web.model_copy(update={"origins": [url], "port": port}),
            "camera": base.camera.model_copy(update={"port": 0}),
        }
    )
    async with serve(settings, port) as (app, server):
        await load_demo(app[DB], settings)
        await UserService(app[DB], app[PASSWORDS], 8).create("minji", PASSWORD, Role.STAFF)
        camera = CameraOptions(fps=5, width=160, height=120)
        async with run_gateway(settings) as gw, simulated(settings, gw, camera=camera):
            site = Site(url, settings, app, server)
            await wait_for(lambda: _listed(site), timeout=15)
            yield site


async def _token(site: Site) -> str:
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            f"{site.url}/api/auth/login", json={"username": "minji", "password": PASSWORD}
        )
        return str((await r.json())["token"])


async def _listed(site: Site) -> bool:
    token = await _token(site)
    async with aiohttp.ClientSession() as http:
        r = await http.get(
            f"{site.url}/api/video-streams", headers={"Authorization": f"Bearer {token}"}
        )
        items = (await r.json())["items"]
    return any(i["id"] == CAMERA and i["state"] == "live" for i in items)


async def test_live_mjpeg_in_an_img_shows_changing_frames(browser: Any, filmed: Site) -> None:
    token = await _token(filmed)
    page = await (await browser.new_context()).new_page()
    await page.set_content(
        f'<img id="live" src="{filmed.url}/api/video-streams/{CAMERA}/live?token={token}">'
    )
    await page.wait_for_function("() => document.getElementById('live').naturalWidth > 0")
    assert await page.eval_on_selector("#live", "e => [e.naturalWidth, e.naturalHeight]") == [
        160,
        120,
    ]
    shots = []
    for _ in range(3):
        shots.append(await page.locator("#live").screenshot())
        await asyncio.sleep(0.6)
    assert len(set(shots)) == 3  # each a different frame
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "camera-mjpeg.png").write_bytes(shots[-1])


async def test_the_camera_panel_draws_live_frames_and_records(browser: Any, filmed: Site) -> None:
    ctx = await browser.new_context(locale="en-US", viewport={"width": 1366, "height": 900})
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(filmed.url + "/")
    await page.fill("#username", "minji")
    await page.fill("#password", PASSWORD)
    await page.click("form.login button[type=submit]")
    await page.wait_for_selector("table.robots tr[data-robot='serve-1']")
    await page.click("table.robots tr[data-robot='serve-1']")
    figure = page.locator("figure.camera:has(canvas[data-stream='serve-1:front'])")
    await figure.wait_for()
    frames = 0
    for _ in range(100):
        frames = int(await figure.get_attribute("data-frames") or 0)
        if frames >= 5:
            break
        await asyncio.sleep(0.1)
    assert frames >= 5, "the panel drew no frames"
    # the details re-render on every telemetry sample: the same socket keeps drawing
    first = frames
    await asyncio.sleep(1.0)
    assert int(await figure.get_attribute("data-frames") or 0) > first
    await page.click("figure.camera button[data-action='record']")
    await page.wait_for_selector(".toast:has-text('Recording until')")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "camera-panel.png"), full_page=True)
    await page.click("aside.detail button.close")
    with contextlib.suppress(Exception):
        await asyncio.sleep(0.3)
    assert errors == []
