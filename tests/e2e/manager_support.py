"""What the manager's browser tests share: an admin, pages at the three window sizes, and the
checks every screen must pass (no overflow, no raw ids, no untranslated label)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from protocol.streams import (
    EVENTS,
    ROBOTS_INDEX,
    TELEMETRY,
    EventRecord,
    Level,
    RobotSnapshot,
    TelemetryRecord,
    robot_key,
    to_fields,
)
from tests.support.e2e import ARTIFACTS, PASSWORD, Site
from tests.support.e2e import log_in as log_in  # the dashboard test's, shared
from tests.support.replies import as_fields
from web.keys import DB, PASSWORDS, REDIS
from web.security import Role
from web.users.service import UserService

SIZES = {
    "desktop": {"width": 1280, "height": 800},
    "tablet": {"width": 1024, "height": 768},
    "phone": {"width": 390, "height": 844},
}
SHOTS = ARTIFACTS.parent / "manager"


async def add_admin(site: Site, name: str = "boss") -> None:
    users = UserService(site.app[DB], site.app[PASSWORDS], 8)
    await users.create(name, PASSWORD, Role.ADMIN)


async def open_page(browser: Any, site: Site, locale: str, size: str = "desktop") -> Any:
    ctx = await browser.new_context(
        locale=locale, viewport=SIZES[size], is_mobile=size == "phone", has_touch=size == "phone"
    )
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "401" not in m.text and "Failed to load resource" not in m.text
            else None
        ),
    )
    page.js_errors = errors
    await page.goto(site.url + "/")
    return page


async def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def event(
    site: Site, type_: str, robot: str = "", level: Level = Level.INFO, **data: Any
) -> str:
    rec = EventRecord(
        eid=uuid.uuid4().hex,
        type=type_,
        ts=time.time(),
        robot=robot,
        level=level,
        src="gw-test",
        data=data,
    )
    sid = await site.app[REDIS].xadd(EVENTS, as_fields(dict(to_fields(rec))))
    return str(sid)


async def place_robot(
    site: Site,
    robot: str,
    x: float,
    y: float,
    *,
    kind: str = "serving",
    state: str = "idle",
    battery: float = 80.0,
    connection: str = "online",
) -> None:
    """A robot where the map shows it: its snapshot and a telemetry sample, as the gateway
    writes them."""
    redis = site.app[REDIS]
    snap = RobotSnapshot(
        id=robot,
        kind=kind,
        connection=connection,
        state=state,
        x=x,
        y=y,
        theta=0.0,
        battery=battery,
    )
    await redis.hset(robot_key(robot), mapping=as_fields(dict(to_fields(snap))))
    await redis.sadd(ROBOTS_INDEX, robot)
    now = time.time()
    sample = TelemetryRecord(
        robot=robot,
        seq=int(now * 1000) % 1_000_000,
        ts=now,
        x=x,
        y=y,
        theta=0.0,
        battery=battery,
        speed=0.0,
        transport="udp",
        rx=now,
    )
    await redis.xadd(TELEMETRY, as_fields(dict(to_fields(sample))))


# ---- checks every screen must pass ------------------------------------------------------

OVERFLOW_JS = """() => {
  const W = document.documentElement.clientWidth;
  const bad = [];
  const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (['auto', 'scroll', 'hidden'].includes(s.overflowX) && p !== document.body
          && p !== document.documentElement) return true; } return false; };
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('dialog:not([open])') || el.closest('[hidden]')) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    if ((r.right > W + 1 || r.left < -1) && !scrolls(el)) {
      const cls = el.className && el.className.baseVal !== undefined
        ? el.className.baseVal : el.className;
      bad.push(`${el.tagName.toLowerCase()}.${cls} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  const sw = document.documentElement.scrollWidth;
  if (sw > W + 1) bad.push(`page ${sw} > ${W}`);
  return bad.slice(0, 10);
}"""


async def overflowing(page: Any) -> list[str]:
    """Elements that stick out of the viewport sideways (outside a scrolling box)."""
    found: list[str] = await page.evaluate(OVERFLOW_JS)
    return found


TEXT_JS = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('[hidden], script, style, code, dialog:not([open]), option')) continue;
    if (!el.getClientRects().length) continue;
    const text = n.textContent.trim();
    if (text) out.push(text);
  }
  const shown = (el) => !el.closest('[hidden], dialog:not([open])') && el.getClientRects().length;
  for (const sel of document.querySelectorAll('select')) {
    if (shown(sel)) for (const o of sel.options) out.push(o.textContent.trim());
  }
  for (const el of document.querySelectorAll('[aria-label], [placeholder], [title]')) {
    if (!shown(el)) continue;
    for (const a of ['aria-label', 'placeholder', 'title']) {
      if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
  }
  return out;
}"""


async def screen_texts(page: Any) -> list[str]:
    found: list[str] = await page.evaluate(TEXT_JS)
    return found


async def group_ready(site: Site) -> bool:
    groups = await site.app[REDIS].xinfo_groups(EVENTS)
    return any(g["name"] == "alarms" for g in groups)


async def api(site: Site, path: str) -> Any:
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            f"{site.url}/api/auth/login", json={"username": "boss", "password": PASSWORD}
        )
        token = (await r.json())["token"]
        r = await s.get(f"{site.url}{path}", headers={"Authorization": f"Bearer {token}"})
        assert r.status == 200, await r.text()
        return await r.json()


async def section(page: Any, name: str) -> None:
    await page.click(f"#admin-{name}")
    await page.wait_for_selector(f"#admin-{name}[aria-selected='true']")


async def toast_says(page: Any, text: str) -> None:
    await page.wait_for_selector(f".toast:has-text('{text}')", timeout=5_000)
