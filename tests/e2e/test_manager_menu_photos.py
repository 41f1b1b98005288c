"""Menu photos from the admin menu screen, in headless Chromium: a real PNG and JPEG picked,
uploaded with its progress, shown as a thumbnail in the admin menu and the staff order form
(lazy, the dish name as alt text, allowed by the dashboard's CSP), refused in the UI's
language when too large or not an image, and removed."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.manager_support import add_admin, api, log_in, open_page, section, shot, toast_says
from tests.servers import RedisServer, free_port
from tests.support.e2e import PASSWORD, Site, serve
from tests.support.integration import e2e_settings
from web.demo import load_demo
from web.keys import DB, PASSWORDS
from web.security import Role
from web.users.service import UserService

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_UPLOAD = 4096  # uploads.max_bytes of this site: a photo over it is refused


def jpeg() -> bytes:
    """An 8x8 mid-grey baseline JPEG, written by hand: one block whose only coefficient is a
    DC of 0 (pixel 128), with one-code Huffman tables."""

    def seg(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body

    one_code = bytes([1] + [0] * 15)
    return (
        b"\xff\xd8"
        + seg(0xDB, b"\x00" + bytes([1] * 64))  # quantisation: all 1
        + seg(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")  # 8x8, grey
        + seg(0xC4, b"\x00" + one_code + b"\x00")  # DC: category 0 is "0"
        + seg(0xC4, b"\x10" + one_code + b"\x00")  # AC: end of block is "0"
        + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f\xff\xd9"  # "0" "0", padded with ones; end of image
    )


def png(width: int, height: int, pixels: bytes) -> bytes:
    """An RGB PNG of ``pixels`` (width*height*3 bytes), written by hand: no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + pixels[y * width * 3 : (y + 1) * width * 3] for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def small_uploads(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Site]:
    """The web tier alone with the demo restaurant, a staff member and a 4 KiB upload limit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = e2e_settings(redis_server.url, tmp_path, cook_seconds=0.3)
    settings = base.model_copy(
        update={
            "web": base.web.model_copy(update={"origins": [url], "port": port}),
            "uploads": base.uploads.model_copy(update={"max_bytes": MAX_UPLOAD}),
        }
    )
    async with serve(settings, port) as (app, server):
        await load_demo(app[DB], settings)
        await UserService(app[DB], app[PASSWORDS], 8).create("minji", PASSWORD, Role.STAFF)
        yield Site(url, settings, app, server)


def file(name: str, mime: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


async def loaded(page: Any, selector: str) -> int:
    """The natural width of the image: 0 when the browser could not load or decode it."""
    await page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete; }", arg=selector
    )
    return int(await page.eval_on_selector(selector, "i => i.naturalWidth"))


async def test_a_dish_gets_a_photo_shown_on_the_menu_and_the_order_form(
    browser: Any, small_uploads: Site
) -> None:
    site = small_uploads
    await add_admin(site)
    menu = {m["name"]: m for m in (await api(site, "/api/menu"))["items"]}
    cola, sikhye = menu["콜라"]["id"], menu["식혜"]["id"]
    page = await open_page(browser, site, "ko-KR")
    await log_in(page, "boss")
    await page.click("#tab-admin")
    await section(page, "menu")
    row = f"tr[data-menu='{cola}']"
    await page.wait_for_selector(row)
    assert await page.locator(f"{row} img").count() == 0

    # not an image: said at once, in Korean, nothing uploaded
    await page.set_input_files(f"{row} input[type=file]", file("menu.txt", "text/plain", b"hi"))
    await page.wait_for_selector(f"{row} .photo-status.error:has-text('이미지 파일이 아닙니다')")
    # too large for uploads.max_bytes: the server's 413, in Korean
    noise = png(48, 48, os.urandom(48 * 48 * 3))
    assert len(noise) > MAX_UPLOAD
    await page.set_input_files(f"{row} input[type=file]", file("big.png", "image/png", noise))
    await page.wait_for_selector(f"{row} .photo-status.error:has-text('파일이 너무 큽니다')")
    assert (await api(site, "/api/uploads"))["items"] == []

    # a real PNG: uploaded, its progress reaching 100 %, then the thumbnail
    photo = png(16, 16, bytes([200, 40, 40]) * 256)
    await page.evaluate(
        """() => { window.progressSeen = [];
        new MutationObserver((ms) => { for (const m of ms) if (m.target.tagName === "PROGRESS")
          window.progressSeen.push(Number(m.target.value)); })
        .observe(document.body, { attributes: true, subtree: true,
          attributeFilter: ["value"] }); }"""
    )
    await page.set_input_files(f"{row} input[type=file]", file("cola.png", "image/png", photo))
    await toast_says(page, "사진을 저장했습니다")
    assert max(await page.evaluate("window.progressSeen")) == 100
    thumb = f"{row} img.thumb"
    await page.wait_for_selector(thumb)
    assert await loaded(page, thumb) == 16  # served, allowed by img-src 'self', decoded
    assert await page.get_attribute(thumb, "alt") == "콜라"
    assert await page.get_attribute(thumb, "loading") == "lazy"
    uploads = (await api(site, "/api/uploads"))["items"]
    assert [(u["filename"], u["size"]) for u in uploads] == [("cola.png", len(photo))]
    item = await api(site, f"/api/menu/{cola}")
    assert item["photo_upload_id"] == uploads[0]["id"]
    assert item["photo"] == f"/api/uploads/{uploads[0]['id']}/content"

    # a JPEG for another dish, picked with the keyboard's button
    other = f"tr[data-menu='{sikhye}']"
    async with page.expect_file_chooser() as chooser:
        await page.focus(f"{other} button[data-photo='pick']")
        await page.keyboard.press("Enter")
    await (await chooser.value).set_files(file("sikhye.jpg", "image/jpeg", jpeg()))
    await page.wait_for_selector(f"{other} img.thumb")
    assert await loaded(page, f"{other} img.thumb") == 8
    await shot(page, "admin-menu-photos-ko")

    # the dashboard's CSP lets images come only from itself (and data:)
    async with aiohttp.ClientSession() as s:
        r = await s.get(site.url + "/")
        csp = r.headers["Content-Security-Policy"]
    assert "img-src 'self' data:" in csp

    # staff see the photo in the order form, named in their language
    staff = await open_page(browser, site, "en-US", "tablet")
    await log_in(staff, "minji")
    await staff.click("#tab-orders")
    dish = f"ul.menu li[data-item='{cola}'] img.thumb"
    await staff.wait_for_selector(dish)
    assert await loaded(staff, dish) == 16
    assert await staff.get_attribute(dish, "alt") == menu["콜라"]["name_en"]
    assert await staff.get_attribute(dish, "loading") == "lazy"
    await shot(staff, "order-form-photos-en")

    # removed: gone from the admin menu, and from the order form with the menu's next change
    await page.click(f"{row} button[data-photo='remove']")
    await toast_says(page, "사진을 삭제했습니다")
    await page.wait_for_selector(f"{row} button[data-photo='pick']:has-text('사진 추가')")
    assert await page.locator(f"{row} img").count() == 0
    assert (await api(site, f"/api/menu/{cola}"))["photo"] is None
    await staff.wait_for_selector(dish, state="detached")
    assert not page.js_errors, page.js_errors
    assert not staff.js_errors, staff.js_errors
