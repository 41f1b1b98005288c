"""A real restaurant for the browser: the in-loop gateway, the simulated fleet, and the web
tier listening on a real port; plus headless Chromium (Debian's, never a downloaded one)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sim import all_idle, simulated
from tests.servers import RedisServer, free_port
from tests.support.e2e import PASSWORD, Site, serve
from tests.support.gateway import run_gateway
from tests.support.integration import e2e_settings
from tests.waiting import wait_for
from web.demo import load_demo
from web.keys import DB, PASSWORDS
from web.security import Role
from web.users.service import UserService

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _playwright() -> Any:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("no Chromium: `apt-get install chromium` (scripts/setup does it)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("Python Playwright is not installed (`pip install -e .[test]`)")
    return async_playwright


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async_playwright = _playwright()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def web_only(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Site]:
    """The web tier alone on a real port, with the demo restaurant and two staff."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = e2e_settings(redis_server.url, tmp_path, cook_seconds=0.3)
    settings = base.model_copy(
        update={"web": base.web.model_copy(update={"origins": [url], "port": port})}
    )
    async with serve(settings, port) as (app, server):
        await load_demo(app[DB], settings)
        users = UserService(app[DB], app[PASSWORDS], 8)
        await users.create("minji", PASSWORD, Role.STAFF)
        await users.create("joon", PASSWORD, Role.STAFF)
        await users.create("viewer", PASSWORD, Role.VIEWER)
        yield Site(url, settings, app, server)


@pytest.fixture
async def restaurant(
    redis_server: RedisServer, redis_client: Any, tmp_path: Path
) -> AsyncIterator[Site]:
    """Gateway + simulated robots + web tier on a real port, demo menu and tables, two staff."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = e2e_settings(redis_server.url, tmp_path, cook_seconds=0.3)
    settings = base.model_copy(
        update={"web": base.web.model_copy(update={"origins": [url], "port": port})}
    )
    async with serve(settings, port) as (app, server):
        await load_demo(app[DB], settings)
        users = UserService(app[DB], app[PASSWORDS], 8)
        await users.create("minji", PASSWORD, Role.STAFF)
        await users.create("joon", PASSWORD, Role.STAFF)
        async with run_gateway(settings) as gw, simulated(settings, gw, speed=2.0):
            await wait_for(lambda: all_idle(redis_client), timeout=10)
            yield Site(url, settings, app, server)


ROBOT_NAMES = {"serve-1": "Alba 1", "serve-2": "Alba 2", "cook-1": "Wok station"}


@pytest.fixture
async def named_site(
    redis_server: RedisServer, redis_client: Any, tmp_path: Path
) -> AsyncIterator[Site]:
    """The web tier alone on an empty Redis with the demo restaurant, robots with names (as a
    real config has them), staff `minji`, `joon` and `staff1`..`staff6` (one each for tests
    that use up a per-user limit), and `viewer`."""
    from tests.robot import robots_config

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    robots = [{**r, "name": ROBOT_NAMES[r["id"]]} for r in robots_config()]
    base = e2e_settings(redis_server.url, tmp_path, cook_seconds=0.3, robots=robots)
    settings = base.model_copy(
        update={"web": base.web.model_copy(update={"origins": [url], "port": port})}
    )
    async with serve(settings, port) as (app, server):
        await load_demo(app[DB], settings)
        users = UserService(app[DB], app[PASSWORDS], 8)
        for name in ("minji", "joon", *(f"staff{i}" for i in range(1, 7))):
            await users.create(name, PASSWORD, Role.STAFF)
        await users.create("viewer", PASSWORD, Role.VIEWER)
        yield Site(url, settings, app, server)
