"""The vendored OpenAPI renderer (RapiDoc at /api/docs/try) works offline under its CSP and
can call the API ("try it out")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.e2e import Site, shot

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_rapidoc_renders_every_tag_and_calls_the_api(browser: Any, web_only: Site) -> None:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await ctx.new_page()
    errors: list[str] = []
    refused: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: refused.append(m.text) if m.type in ("error", "warning") else None)
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(web_only.url + "/api/docs/try")
    for summary in (  # operations of several tags, rendered inside RapiDoc's shadow DOM
        "Change your own password",
        "Send a command to a robot",
        "Add an integration (its key is shown once)",
        "The feeds as an AsyncAPI 3.0 document",
    ):
        await page.locator(f"rapi-doc >> text={summary}").first.wait_for(timeout=90_000)
    health = page.locator("rapi-doc >> [id='get-/health']")
    async with page.expect_response(lambda r: r.url.endswith("/health"), timeout=60_000) as answer:
        await health.locator("button:has-text('TRY')").click()  # "try it out", no login
    response = await answer.value
    assert response.status == 200 and (await response.json())["status"] == "ok"
    await shot(page, "api-docs-try")
    assert errors == [] and refused == []
    assert all(u.startswith(web_only.url) for u in requests), "nothing from outside"
    await ctx.close()
