"""What the staff-flow browser tests share: the three window sizes, both languages, a page
per (size, language), and screenshots named after both."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Site
from tests.e2e.test_dashboard import log_in, open_page, shot

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
