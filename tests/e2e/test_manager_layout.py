"""Every screen at 1280x800, 1024x768 and 390x844, in Korean and English: nothing sticks out
of the viewport, no label is untranslated and no internal id is shown, text meets WCAG AA
contrast; on a phone the header is one short line and the order form's submit is reachable;
the floor map's labels never overlap or leave the map; the keyboard reaches everything."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.manager_support import (
    SIZES,
    add_admin,
    log_in,
    open_page,
    overflowing,
    place_robot,
    screen_texts,
    shot,
)
from tests.support.dashboard import WORDS, strings
from tests.support.e2e import Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABS = ["floor", "orders", "chat", "todos", "jobs", "alarms", "history", "log", "admin"]
SECTIONS = ["users", "menu", "tables", "stock", "robots", "settings"]
# Ids the server uses that must reach the screen as words: snake_case ids and event types
# anywhere; in Korean also the English state, status and kind words.
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
DOTTED = re.compile(r"\b(?:robot|command|order|task|alarm|gateway|registry|inventory)\.[a-z_]+\b")
ENGLISH_IDS = set().union(*(WORDS[p] for p in ("s", "c", "k", "st", "lv", "sv", "to", "tk")))

CONTRAST_JS = """() => {
  const rgba = (s) => { const m = s.match(/[\\d.]+/g) || [0, 0, 0, 0];
    return [+m[0], +m[1], +m[2], m.length > 3 ? +m[3] : 1]; };
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const over = (top, under) => { const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const background = (el) => {
    const layers = [];
    for (let p = el; p; p = p.parentElement) {
      const c = rgba(getComputedStyle(p).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const opacity = (el) => { let o = 1;
    for (let p = el; p; p = p.parentElement) o *= +getComputedStyle(p).opacity; return o; };
  const bad = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || !el.getClientRects().length) continue;
    if (el.closest('[hidden], option, svg, :disabled, dialog:not([open])')) continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden') continue;
    const bg = background(el);
    const fg = over([...rgba(s.color).slice(0, 3), rgba(s.color)[3] * opacity(el)], bg);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(s.fontSize), bold = +s.fontWeight >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) bad.push(`${n.textContent.trim().slice(0, 30)}: ${ratio.toFixed(2)}`);
  }
  return [...new Set(bad)].slice(0, 10);
}"""

LABELS_JS = """() => {
  const svg = document.querySelector('#view-floor svg.floor');
  const area = svg.getBoundingClientRect();
  const boxes = [];
  for (const t of svg.querySelectorAll('text')) {
    if (!t.getClientRects().length || t.closest('.hidden')) continue;
    if (!t.textContent.trim() || t.textContent.trim() === '⚡') continue;
    const r = t.getBoundingClientRect();
    boxes.push({ text: t.textContent, r });
  }
  const out = { overlaps: [], outside: [], count: boxes.length };
  for (let i = 0; i < boxes.length; i++) {
    const a = boxes[i].r;
    if (a.left < area.left - 0.5 || a.right > area.right + 0.5 || a.top < area.top - 0.5
        || a.bottom > area.bottom + 0.5) out.outside.push(boxes[i].text);
    for (let j = i + 1; j < boxes.length; j++) {
      const b = boxes[j].r;
      const dx = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const dy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (dx > 0.5 && dy > 0.5) out.overlaps.push(`${boxes[i].text} / ${boxes[j].text}`);
    }
  }
  return out;
}"""


def raw_ids(texts: list[str], lang: str) -> list[str]:
    keys = set(strings())
    found = []
    for text in texts:
        found += SNAKE.findall(text) + DOTTED.findall(text)
        found += [w for w in re.findall(r"[a-z_]+", text) if w in keys and "_" in w]
        if lang == "ko":  # (robot ids such as cook-1 are names, not words)
            found += [
                w for w in re.findall(r"(?<![\w-])[a-z_]+(?![\w-])", text) if w in ENGLISH_IDS
            ]
    return sorted(set(found))


async def show(page: Any, tab: str, section: str | None = None) -> None:
    await page.click(f"#tab-{tab}")
    await page.wait_for_selector(f"#view-{tab}:not([hidden])")
    if section:
        await page.click(f"#admin-{section}")
        await page.wait_for_selector(f"#admin-{section}[aria-selected='true']")
    await page.wait_for_timeout(400)  # the screen's first answers


async def check(page: Any, name: str, lang: str) -> list[str]:
    problems = [f"overflow: {x}" for x in await overflowing(page)]
    problems += [f"raw id: {x}" for x in raw_ids(await screen_texts(page), lang)]
    problems += [f"contrast: {x}" for x in await page.evaluate(CONTRAST_JS)]
    await shot(page, name)
    return [f"{name}: {p}" for p in problems]


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("lang", ["ko", "en"])
async def test_every_screen_fits_reads_and_contrasts(
    browser: Any, web_only: Site, size: str, lang: str
) -> None:
    await add_admin(web_only)
    # two robots standing together by the kitchen pass, one at the map's bottom edge
    floor = web_only.settings.floor
    await place_robot(web_only, "serve-1", floor.kitchen_pass.x + 0.3, floor.kitchen_pass.y)
    await place_robot(web_only, "serve-2", floor.kitchen_pass.x + 0.4, floor.kitchen_pass.y + 0.1)
    await place_robot(web_only, "cook-1", floor.width / 2, floor.height, kind="cooking")
    await place_robot(web_only, "spare-1", floor.width - 1, 1.0, connection="offline")
    page = await open_page(browser, web_only, "ko-KR" if lang == "ko" else "en-US", size)
    await log_in(page, "boss")
    problems: list[str] = []
    for tab in TABS:
        if tab == "admin":
            for section in SECTIONS:
                await show(page, tab, section)
                problems += await check(page, f"{size}-{lang}-admin-{section}", lang)
        else:
            await show(page, tab)
            problems += await check(page, f"{size}-{lang}-{tab}", lang)

    await show(page, "floor")
    await page.wait_for_selector("#view-floor g.robot[data-robot='cook-1']:not(.hidden)")
    await page.wait_for_timeout(300)  # the 110 ms move transition
    labels = await page.evaluate(LABELS_JS)
    assert labels["count"] >= 6, labels
    assert labels["overlaps"] == [], labels
    assert labels["outside"] == [], labels

    if size == "phone":
        header = await page.locator("header").bounding_box()
        assert header and header["height"] <= 0.12 * SIZES["phone"]["height"], header
        await show(page, "orders")
        submit = page.locator(".order-form button[type=submit]")
        await submit.scroll_into_view_if_needed()
        box = await submit.bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= SIZES["phone"]["height"]
        hit = await page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('button[type=submit]') !== null",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert hit, "the submit button is covered"
    assert problems == [], "\n".join(problems)
    assert not page.js_errors, page.js_errors


async def test_the_keyboard_reaches_the_manager_screens(browser: Any, web_only: Site) -> None:
    """Tab to a tab, Enter to open it; arrows between admin sections; Esc closes a dialog."""
    await add_admin(web_only)
    page = await open_page(browser, web_only, "en-US", "tablet")
    await log_in(page, "boss")
    await page.focus("#tab-admin")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#view-admin:not([hidden])")
    await page.focus("#admin-users")
    for _ in range(3):
        await page.keyboard.press("ArrowRight")
    await page.wait_for_selector("#admin-stock[aria-selected='true']")
    assert await page.evaluate("() => document.activeElement.id") == "admin-stock"
    assert "section=stock" in page.url
    # every control of the users section is reachable with Tab, in order, and labelled
    await page.keyboard.press("ArrowLeft")
    await page.keyboard.press("ArrowLeft")
    await page.keyboard.press("ArrowLeft")
    await page.wait_for_selector("#admin-users[aria-selected='true']")
    seen = []
    for _ in range(8):
        await page.keyboard.press("Tab")
        seen.append(
            await page.evaluate(
                "() => { const e = document.activeElement; return e.labels && e.labels.length ? "
                "e.labels[0].textContent : (e.getAttribute('aria-label') || e.textContent); }"
            )
        )
    assert seen[:4] == ["User name", "Password", "Role", "Add"], seen
    # a dialog takes the focus and gives it back with Esc
    await page.click("tr[data-user='boss'] button:has-text('Reset password')")
    await page.wait_for_selector("dialog[open]")
    assert await page.evaluate("() => document.activeElement.type") == "password"
    await page.keyboard.press("Escape")
    await page.wait_for_selector("dialog", state="detached")
    assert not page.js_errors, page.js_errors


async def test_the_checks_find_what_they_look_for(browser: Any, web_only: Site) -> None:
    """Planted faults: grey on white, a box wider than the phone, a state id, two labels on
    one spot of the map, and a label past the map's edge."""
    page = await open_page(browser, web_only, "ko-KR", "phone")
    await log_in(page, "minji")
    await place_robot(web_only, "serve-1", 2.0, 2.0)
    await page.wait_for_selector("#view-floor g.robot[data-robot='serve-1']:not(.hidden)")
    await page.evaluate("""() => {
        const p = document.createElement('p');
        p.textContent = 'en_route';
        p.style.color = '#bbbbbb';
        p.style.width = '600px';
        document.querySelector('main').prepend(p);
        const svg = document.querySelector('#view-floor svg.floor');
        const robot = svg.querySelector("g.robot[data-robot='serve-1'] text.lbl");
        // Two copies where the robot's label stands: the placer moves the robot's own label
        // when robots move, never these, so their overlap stays whatever the timing.
        for (const text of ['TX', 'TY']) {
            const clone = robot.cloneNode(true);
            clone.textContent = text;
            robot.parentNode.append(clone);
        }
        const far = robot.cloneNode(true);
        far.textContent = 'far';
        far.setAttribute('x', '5000');
        robot.parentNode.append(far);
    }""")
    await page.wait_for_timeout(300)
    assert any("p." in x for x in await overflowing(page))
    assert "en_route" in raw_ids(await screen_texts(page), "ko")
    assert any(x.startswith("en_route") for x in await page.evaluate(CONTRAST_JS))
    labels = await page.evaluate(LABELS_JS)
    assert "TX / TY" in labels["overlaps"] and "far" in labels["outside"], labels
