"""/api/uploads against real servers: streamed in, checked, served with ranges, deleted."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.web import MakeEnv, WebEnv
from tests.web.jobs_support import S3Server, moto_server, multipart, s3_media

__all__ = ["moto_server"]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.fixture
async def env(make_env: MakeEnv, tmp_path: Path) -> WebEnv:
    return await make_env(media={"url": str(tmp_path / "media")}, uploads={"max_bytes": 64 * 1024})


async def upload(
    env: WebEnv, data: Any, ctype: str = "image/png", who: str = "staff", name: str = "photo.png"
) -> aiohttp.ClientResponse:
    return await env.client.post(
        "/api/uploads", data=multipart(data, ctype, name), headers=env.auth(who)
    )


async def test_an_upload_is_stored_with_its_sha256_and_served_in_ranges(env: WebEnv) -> None:
    r = await upload(env, PNG, name="../../etc/메뉴.png")
    assert r.status == 201, await r.text()
    up = await r.json()
    assert up["sha256"] == hashlib.sha256(PNG).hexdigest() and up["size"] == len(PNG)
    assert up["filename"] == "메뉴.png" and up["content_type"] == "image/png"
    assert r.headers["Location"] == f"/api/uploads/{up['id']}"
    got = await env.client.get(up["content"], headers=env.auth("viewer"))
    assert got.status == 200, await got.text()
    assert got.status == 200 and await got.read() == PNG
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    part = await env.client.get(
        up["content"], headers={**env.auth("viewer"), "Range": "bytes=8-15"}
    )
    assert part.status == 206 and await part.read() == PNG[8:16]
    assert part.headers["Content-Range"] == f"bytes 8-15/{len(PNG)}"
    bad = await env.client.get(up["content"], headers={**env.auth(), "Range": "bytes=99999-"})
    assert bad.status == 416
    token = env.tokens["viewer"]  # <img src> cannot send a header
    assert (await env.client.get(f"{up['content']}?token={token}")).status == 200
    assert (await env.client.get(up["content"])).status == 401
    listed = await (await env.client.get("/api/uploads?type=image/", headers=env.auth())).json()
    assert [u["id"] for u in listed["items"]] == [up["id"]] and listed["total"] == 1
    meta = await (await env.client.get(f"/api/uploads/{up['id']}", headers=env.auth())).json()
    assert meta == up


async def test_oversized_wrong_type_and_truncated_uploads_leave_nothing(
    env: WebEnv, tmp_path: Path
) -> None:
    big = b"x" * (64 * 1024 + 1)
    r = await upload(env, big)  # Content-Length says so: refused before reading
    assert r.status == 413 and (await r.json())["code"] == "upload_too_large"

    async def stream() -> AsyncIterator[bytes]:  # chunked: no length, found on the way
        for _ in range(100):
            yield b"y" * 4096

    form = aiohttp.FormData()
    form.add_field("file", stream(), content_type="image/png", filename="s.png")
    r = await env.client.post("/api/uploads", data=form, headers=env.auth("staff"))
    assert r.status == 413, await r.text()
    assert r.headers["Content-Type"] == "application/problem+json"

    r = await upload(env, b"<html>", ctype="text/html")
    body = await r.json()
    assert r.status == 415 and body["code"] == "unsupported_media_type"
    assert "image/png" in body["allowed"]
    r = await env.client.post("/api/uploads", data={"file": "x"}, headers=env.auth("staff"))
    assert r.status == 415  # a urlencoded form: neither multipart nor an allowed file type

    boundary = "b0undary"
    cut = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        f"Content-Type: image/png\r\n\r\n"
    ).encode() + PNG[:500]  # no closing boundary
    r = await env.client.post(
        "/api/uploads",
        data=cut,
        headers={**env.auth("staff"), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status == 400 and (await r.json())["code"] == "truncated_upload"

    r = await upload(env, PNG, who="viewer")
    assert r.status == 403
    assert (await (await env.client.get("/api/uploads", headers=env.auth())).json())["total"] == 0
    media = tmp_path / "media"
    assert list((media / ".tmp").iterdir()) == [] and not (media / "sha256").exists()


async def test_a_file_larger_than_web_max_body_bytes_is_taken_with_its_content_length(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    """Browsers send a Content-Length with every form: the upload's own limit applies to
    it, not `web.max_body_bytes` (the JSON bodies' limit, 1 MiB by default)."""
    env = await make_env(media={"url": str(tmp_path / "media")})
    data = PNG + bytes(3 * 1024 * 1024)
    r = await upload(env, io.BytesIO(data))  # a file: the form goes with its Content-Length
    assert r.request_info.headers.get("Content-Length") is not None
    assert r.status == 201, await r.text()
    assert (await r.json())["sha256"] == hashlib.sha256(data).hexdigest()


async def test_delete_is_for_admins_and_keeps_a_blob_another_upload_shares(
    env: WebEnv, tmp_path: Path
) -> None:
    a = await (await upload(env, PNG)).json()
    b = await (await upload(env, PNG, name="again.png")).json()
    assert a["id"] != b["id"] and a["sha256"] == b["sha256"]
    assert (
        await env.client.delete(f"/api/uploads/{a['id']}", headers=env.auth("staff"))
    ).status == 403
    assert (await env.client.delete(f"/api/uploads/{a['id']}", headers=env.auth())).status == 204
    assert (await env.client.get(a["content"], headers=env.auth())).status == 404
    assert await (await env.client.get(b["content"], headers=env.auth())).read() == PNG
    assert (await env.client.delete(f"/api/uploads/{b['id']}", headers=env.auth())).status == 204
    assert list((tmp_path / "media" / "sha256").rglob("*.*")) == []
    assert not [p for p in (tmp_path / "media" / "sha256").rglob("*") if p.is_file()]


async def test_a_menu_photo_and_the_floor_plan_reference_an_image_upload(env: WebEnv) -> None:
    photo = await (await upload(env, PNG)).json()
    csv = await (await upload(env, b"a,b\n", ctype="text/csv", name="x.csv")).json()
    r = await env.client.post(
        "/api/menu",
        headers=env.auth(),
        json={
            "name": "비빔밥",
            "category": "mains",
            "price_minor": 12000,
            "photo_upload_id": csv["id"],
        },
    )
    assert r.status == 422 and (await r.json())["field"] == "photo_upload_id"
    r = await env.client.post(
        "/api/menu",
        headers=env.auth(),
        json={
            "name": "비빔밥",
            "category": "mains",
            "price_minor": 12000,
            "photo_upload_id": photo["id"],
        },
    )
    assert r.status == 201, await r.text()
    item = await r.json()
    assert item["photo_upload_id"] == photo["id"]
    assert item["photo"] == f"/api/uploads/{photo['id']}/content"
    r = await env.client.put(
        "/api/floor/image", headers=env.auth(), json={"upload_id": photo["id"]}
    )
    assert r.status == 200, await r.text()
    floor = await (await env.client.get("/api/floor", headers=env.auth("viewer"))).json()
    assert floor["image"] == photo["content"]
    assert (
        await env.client.delete(f"/api/uploads/{photo['id']}", headers=env.auth())
    ).status == 204
    item = await (await env.client.get(f"/api/menu/{item['id']}", headers=env.auth())).json()
    floor = await (await env.client.get("/api/floor", headers=env.auth("viewer"))).json()
    assert item["photo_upload_id"] is None and floor["image"] is None


async def test_with_the_s3_store_content_redirects_to_a_presigned_url(
    make_env: MakeEnv, moto_server: S3Server
) -> None:
    bucket = f"b{uuid.uuid4().hex[:12]}"
    await asyncio.to_thread(moto_server.create_bucket, bucket)  # boto3 is synchronous
    env = await make_env(media=s3_media(moto_server, bucket))
    up = await (await upload(env, PNG)).json()
    assert up["store"] == "s3"
    r = await env.client.get(up["content"], headers=env.auth("viewer"), allow_redirects=False)
    assert r.status == 302
    async with aiohttp.ClientSession() as http, http.get(r.headers["Location"]) as got:
        assert got.status == 200 and await got.read() == PNG


async def test_an_unreachable_store_is_a_503_and_leaves_no_row(make_env: MakeEnv) -> None:
    from tests.servers import free_port

    env = await make_env(
        media={
            "url": "s3://gone/x",
            "s3_endpoint": f"http://127.0.0.1:{free_port()}",
            "s3_access_key": "k",
            "s3_secret_key": "s",
            "timeout_s": 1.0,
        }
    )
    r = await upload(env, PNG)
    body = await r.json()
    assert r.status == 503 and body["code"] == "store_unavailable", body
    assert (await (await env.client.get("/api/uploads", headers=env.auth())).json())["total"] == 0
