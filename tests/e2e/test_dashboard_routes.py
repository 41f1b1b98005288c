"""The dashboard's routes without a browser: the page and its files, /api/floor, chat rooms."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support.e2e import PASSWORD, Site

pytestmark = pytest.mark.integration


async def token(s: aiohttp.ClientSession, site: Site, user: str) -> dict[str, str]:
    r = await s.post(f"{site.url}/api/auth/login", json={"username": user, "password": PASSWORD})
    return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def test_page_and_modules_are_served_with_a_strict_csp(web_only: Site) -> None:
    async with aiohttp.ClientSession() as s:
        r = await s.get(f"{web_only.url}/")
        assert r.status == 200 and r.content_type == "text/html"
        assert '<script type="module" src="/ui/main.js">' in await r.text()
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        for name, ctype in (("main.js", "text/javascript"), ("app.css", "text/css")):
            r = await s.get(f"{web_only.url}/ui/{name}")
            assert r.status == 200 and r.content_type == ctype, name
        for bad in ("nope.js", "..%2Fapp.py", ".hidden.js", "index.py"):
            r = await s.get(f"{web_only.url}/ui/{bad}")
            assert r.status == 404, bad


async def test_floor_plan_needs_a_login_and_matches_the_config(web_only: Site) -> None:
    async with aiohttp.ClientSession() as s:
        assert (await s.get(f"{web_only.url}/api/floor")).status == 401
        r = await s.get(f"{web_only.url}/api/floor", headers=await token(s, web_only, "viewer"))
        floor: dict[str, Any] = await r.json()
    f = web_only.settings.floor
    assert (floor["width"], floor["height"]) == (f.width, f.height)
    assert floor["kitchen_pass"] == {"name": "pass", "x": 1.0, "y": 4.0}
    assert [d["name"] for d in floor["docks"]] == ["dock-1"]
    assert [(t["name"], t["x"], t["y"]) for t in floor["tables"]] == [
        ("T1", 4.0, 4.0),
        ("T2", 8.0, 6.0),
    ]


async def test_chat_rooms_are_the_ones_the_role_may_read(web_only: Site) -> None:
    rooms = f"{web_only.url}/api/chat/rooms"
    async with aiohttp.ClientSession() as s:
        staff = await (await s.get(rooms, headers=await token(s, web_only, "minji"))).json()
        viewer = await (await s.get(rooms, headers=await token(s, web_only, "viewer"))).json()
    assert [(r["name"], r["can_post"]) for r in staff["items"]] == [
        ("kitchen", True),
        ("floor", True),
    ]
    assert [(r["name"], r["can_post"]) for r in viewer["items"]] == [
        ("kitchen", False),
        ("floor", False),
    ]
    assert {r["max_chars"] for r in staff["items"]} == {web_only.settings.chat.max_chars}
