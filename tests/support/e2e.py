"""The dashboard in a browser: the site under test and page helpers (log in, open, screenshot)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from config import Settings
from web import create_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


PASSWORD = "correct horse battery staple"


class WebServer:
    """One web-tier process's worth of app on a fixed port; stop and start it again to see
    the dashboard reconnect."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings, self.port = settings, port
        self.runner: web.AppRunner | None = None

    async def start(self) -> web.Application:
        app = create_app(self.settings)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return app

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@dataclass
class Site:
    url: str
    settings: Settings
    app: web.Application
    server: WebServer


@contextlib.asynccontextmanager
async def serve(settings: Settings, port: int) -> AsyncIterator[tuple[web.Application, WebServer]]:
    server = WebServer(settings, port)
    app = await server.start()
    try:
        yield app, server
    finally:
        await server.stop()


VIEWPORT = {"width": 1366, "height": 900}


async def open_page(browser: Any, site: Site, locale: str, **kw: Any) -> Any:
    ctx = await browser.new_context(locale=locale, viewport=kw.pop("viewport", VIEWPORT), **kw)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors  # checked at the end: the page must not throw
    await page.goto(site.url + "/")
    return page


async def log_in(page: Any, user: str) -> None:
    await page.fill("#username", user)
    await page.fill("#password", PASSWORD)
    await page.click("form.login button[type=submit]")
    await page.wait_for_selector("header nav")


async def positions(page: Any) -> dict[str, tuple[str, str]]:
    out: dict[str, list[str]] = await page.eval_on_selector_all(
        "svg.floor g.robot",
        "els => Object.fromEntries(els.map(e => [e.dataset.robot, [e.dataset.x, e.dataset.y]]))",
    )
    return {k: (v[0], v[1]) for k, v in out.items()}


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
