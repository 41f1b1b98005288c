"""What the staff-flow browser tests share: the three window sizes, both languages, a page
per (size, language), and screenshots named after both."""

from __future__ import annotations

from typing import Any

from tests.support.e2e import PASSWORD, Site, log_in, open_page, shot
from tests.support.replies import as_fields

SIZES: dict[str, dict[str, int]] = {
    "desktop": {"width": 1280, "height": 800},
    "tablet": {"width": 1024, "height": 768},
    "phone": {"width": 390, "height": 844},
}
LOCALES = {"ko": "ko-KR", "en": "en-US"}


# Every window size in both languages.
EVERY = [(size, lang) for size in SIZES for lang in LOCALES]


async def staff_page(browser: Any, site: Site, size: str, lang: str, user: str = "minji") -> Any:
    page = await open_page(browser, site, LOCALES[lang], viewport=SIZES[size])
    await log_in(page, user)
    await page.wait_for_selector("header .live:not(.down)")
    return page


async def snap(page: Any, item: str, size: str, lang: str) -> None:
    await shot(page, f"staff-{item}-{size}-{lang}")


async def close(page: Any) -> None:
    assert not page.js_errors, page.js_errors
    await page.context.close()


class Api:
    """The site's REST API as one user, for setting a scene before the browser looks."""

    def __init__(self, site: Site, session: Any, token: str) -> None:
        self.site, self.session, self.token = site, session, token

    @classmethod
    async def login(cls, site: Site, session: Any, user: str = "minji") -> Api:
        r = await session.post(
            f"{site.url}/api/auth/login", json={"username": user, "password": PASSWORD}
        )
        assert r.status == 200, await r.text()
        return cls(site, session, (await r.json())["token"])

    async def call(self, method: str, path: str, body: Any = None, status: int = 0) -> Any:
        r = await self.session.request(
            method,
            self.site.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}", "Origin": self.site.url},
        )
        if status:
            assert r.status == status, (r.status, await r.text())
        return await r.json() if r.status != 204 else None

    async def menu(self) -> dict[str, dict[str, Any]]:
        return {m["name_en"]: m for m in (await self.call("GET", "/api/menu?limit=500"))["items"]}

    async def order(self, table: str, items: dict[str, int], note: str = "") -> dict[str, Any]:
        menu = await self.menu()
        lines = [{"menu_item_id": menu[n]["id"], "quantity": q} for n, q in items.items()]
        body = {"table": table, "items": lines, "note": note}
        out: dict[str, Any] = await self.call("POST", "/api/orders", body, status=201)
        return out

    async def set_stock(self, name: str, stock: int) -> None:
        """A stocktake of the row named `name` (a ready-made dish or an ingredient)."""
        rows = (await self.call("GET", "/api/inventory?limit=500"))["items"]
        [row] = [r for r in rows if r["name"] == name]
        await self.call("PATCH", f"/api/inventory/{row['id']}", {"stock": stock}, status=200)


async def robot_event(site: Site, type_: str, robot: str, level: str, **data: Any) -> None:
    """An rd:events entry as the gateway writes it (the relay and the events feed read it)."""
    import time
    import uuid

    import redis.asyncio as aioredis

    from protocol.streams import EVENTS, EventRecord, Level, to_fields

    rec = EventRecord(
        eid=uuid.uuid4().hex,
        type=type_,
        ts=time.time(),
        robot=robot,
        level=Level(level),
        src="gw-test",
        data=data,
    )
    r = aioredis.Redis.from_url(site.settings.redis.url)
    try:
        await r.xadd(EVENTS, as_fields(to_fields(rec)))
    finally:
        await r.aclose()


async def robot_snapshot(site: Site, robot: str, event: bool = True, **fields: Any) -> None:
    """Fields of rd:robot:{id} as the gateway writes them, and (``event``) the robot.state
    event that makes the web send the robot again."""
    import redis.asyncio as aioredis

    from protocol.streams import robot_key

    r = aioredis.Redis.from_url(site.settings.redis.url)
    try:
        await r.hset(robot_key(robot), mapping=as_fields({"id": robot, **fields}))
    finally:
        await r.aclose()
    if event:
        await robot_event(site, "robot.state", robot, "info", state=fields.get("state", ""))
