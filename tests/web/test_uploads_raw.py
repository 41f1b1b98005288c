"""POST /api/uploads with the file as the raw body, and the local store's writer thread."""

from __future__ import annotations

import asyncio
import hashlib
import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from robodine.media import StoreUnavailable, TooLarge
from robodine.media.local import QUEUE_CHUNKS, LocalStore
from tests.support.web import MakeEnv, WebEnv
from tests.web.jobs_support import S3Server, moto_server, s3_media

__all__ = ["moto_server"]

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
LIMIT = 64 * 1024


@pytest.fixture
async def env(make_env: MakeEnv, tmp_path: Path) -> WebEnv:
    return await make_env(media={"url": str(tmp_path / "media")}, uploads={"max_bytes": LIMIT})


def nothing_left(tmp_path: Path) -> bool:
    media = tmp_path / "media"
    return list((media / ".tmp").iterdir()) == [] and not (media / "sha256").exists()


async def total(env: WebEnv) -> int:
    return int((await (await env.client.get("/api/uploads", headers=env.auth())).json())["total"])


async def test_a_raw_body_is_stored_like_a_multipart_file(env: WebEnv) -> None:
    r = await env.client.post(
        "/api/uploads?filename=../menu.png",
        data=PNG,
        headers={**env.auth("staff"), "Content-Type": "image/png"},
    )
    assert r.status == 201, await r.text()
    up = await r.json()
    assert up["sha256"] == hashlib.sha256(PNG).hexdigest() and up["size"] == len(PNG)
    assert up["filename"] == "menu.png" and up["content_type"] == "image/png"
    assert up["created_by"] == "staff" and r.headers["Location"] == f"/api/uploads/{up['id']}"
    got = await env.client.get(up["content"], headers=env.auth("viewer"))
    assert got.status == 200 and await got.read() == PNG

    r = await env.client.post(  # the name from Content-Disposition (RFC 6266 filename*)
        "/api/uploads",
        data=b"a,b\n1,2\n",
        headers={
            **env.auth("staff"),
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": "attachment; filename*=UTF-8''%EB%A9%94%EB%89%B4.csv",
        },
    )
    assert r.status == 201, await r.text()
    assert (await r.json())["filename"] == "메뉴.csv"
    assert (await r.json())["content_type"] == "text/csv"

    r = await env.client.post(
        "/api/uploads", data=b"plain", headers={**env.auth("admin"), "Content-Type": "text/plain"}
    )
    assert r.status == 201 and (await r.json())["filename"] == "upload"


async def test_bad_raw_uploads_are_refused_and_leave_nothing(env: WebEnv, tmp_path: Path) -> None:
    staff = env.auth("staff")
    r = await env.client.post(
        "/api/uploads", data=b"x" * (LIMIT + 1), headers={**staff, "Content-Type": "image/png"}
    )
    assert r.status == 413 and (await r.json())["code"] == "upload_too_large"

    async def stream() -> AsyncIterator[bytes]:  # chunked: no length, found on the way
        for _ in range(100):
            yield b"y" * 4096

    r = await env.client.post(
        "/api/uploads", data=stream(), headers={**staff, "Content-Type": "image/png"}
    )
    assert r.status == 413, await r.text()
    assert (await r.json())["limit"] == LIMIT

    r = await env.client.post(
        "/api/uploads", data=b"<html>", headers={**staff, "Content-Type": "text/html"}
    )
    body = await r.json()
    assert r.status == 415 and body["code"] == "unsupported_media_type"
    assert "image/png" in body["allowed"]
    r = await env.client.post("/api/uploads", data=b"?", headers=staff)  # no type: octet-stream
    assert r.status == 415 and "application/octet-stream" in (await r.json())["detail"]

    r = await env.client.post("/api/uploads", headers={**staff, "Content-Type": "image/png"})
    assert r.status == 400 and (await r.json())["code"] == "empty_upload"

    r = await env.client.post(
        "/api/uploads?filename=", data=PNG, headers={**staff, "Content-Type": "image/png"}
    )
    assert r.status == 422
    r = await env.client.post(
        "/api/uploads?name=a.png", data=PNG, headers={**staff, "Content-Type": "image/png"}
    )
    assert r.status == 422
    r = await env.client.post(
        "/api/uploads", data=PNG, headers={**env.auth("viewer"), "Content-Type": "image/png"}
    )
    assert r.status == 403
    r = await env.client.post("/api/uploads", data=PNG, headers={"Content-Type": "image/png"})
    assert r.status == 401
    assert await total(env) == 0
    assert nothing_left(tmp_path)


async def test_a_raw_body_cut_off_mid_way_leaves_no_file_and_no_row(
    env: WebEnv, tmp_path: Path
) -> None:
    server = env.client.server
    _, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        (
            f"POST /api/uploads?filename=cut.png HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {env.tokens['staff']}\r\nContent-Type: image/png\r\n"
            f"Content-Length: {LIMIT}\r\n\r\n"
        ).encode()
        + PNG[:5000]
    )
    await writer.drain()
    await asyncio.sleep(0.3)  # the server is streaming it into the store now
    writer.transport.abort()  # the client goes away mid-body
    for _ in range(100):
        if nothing_left(tmp_path):
            break
        await asyncio.sleep(0.05)
    assert nothing_left(tmp_path)
    assert await total(env) == 0


async def test_the_multipart_form_still_works_beside_it(env: WebEnv) -> None:
    """The dashboard's forms send multipart/form-data: `?filename=` may rename the part."""
    from tests.web.jobs_support import multipart

    r = await env.client.post(
        "/api/uploads?filename=dish.png",
        data=multipart(PNG, "image/png", "IMG_0001.png"),
        headers=env.auth("staff"),
    )
    assert r.status == 201, await r.text()
    up = await r.json()
    assert up["filename"] == "dish.png" and up["sha256"] == hashlib.sha256(PNG).hexdigest()


async def test_a_raw_body_into_the_s3_store(make_env: MakeEnv, moto_server: S3Server) -> None:
    import uuid

    import aiohttp

    bucket = f"b{uuid.uuid4().hex[:12]}"
    moto_server.create_bucket(bucket)
    env = await make_env(media=s3_media(moto_server, bucket))
    data = PNG + bytes(range(256)) * 8192  # 2 MiB and a bit: hashed off the loop
    r = await env.client.post(
        "/api/uploads?filename=big.png",
        data=io.BytesIO(data),
        headers={**env.auth("staff"), "Content-Type": "image/png"},
    )
    assert r.status == 201, await r.text()
    up = await r.json()
    assert up["store"] == "s3" and up["sha256"] == hashlib.sha256(data).hexdigest()
    got = await env.client.get(up["content"], headers=env.auth("viewer"), allow_redirects=False)
    assert got.status == 302
    async with aiohttp.ClientSession() as http, http.get(got.headers["Location"]) as blob:
        assert blob.status == 200 and await blob.read() == data


# The local store's writer thread, directly.


async def pieces(n: int, size: int, fail_at: int | None = None) -> AsyncIterator[bytes]:
    for i in range(n):
        if i == fail_at:
            raise ConnectionResetError("client gone")
        yield bytes([i % 256]) * size
        await asyncio.sleep(0)


async def test_the_writer_thread_hashes_in_order_across_many_small_pieces(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "media")
    digest = hashlib.sha256()
    for i in range(300):
        digest.update(bytes([i % 256]) * 70_000)
    blob = await store.put(pieces(300, 70_000))
    assert blob.sha256 == digest.hexdigest() and blob.size == 300 * 70_000
    path = store.local_path(blob.key)
    assert path is not None and path.stat().st_size == blob.size
    assert list((tmp_path / "media" / ".tmp").iterdir()) == []


async def test_the_writer_thread_leaves_nothing_on_failure_limit_or_cancel(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "media")
    tmp = tmp_path / "media" / ".tmp"
    with pytest.raises(ConnectionResetError):
        await store.put(pieces(20, 300_000, fail_at=12))
    assert list(tmp.iterdir()) == []
    with pytest.raises(TooLarge):
        await store.put(pieces(50, 300_000), max_bytes=2_000_000)
    assert list(tmp.iterdir()) == []

    task = asyncio.create_task(store.put(pieces(10_000, 300_000)))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(tmp.iterdir()) == []
    assert not (tmp_path / "media" / "sha256").exists()


async def test_a_file_that_cannot_be_created_is_an_error_not_a_hang(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "media")
    tmp = tmp_path / "media" / ".tmp"
    shutil.rmtree(tmp)
    tmp.write_bytes(b"")  # .tmp is now a file: opening a file under it fails
    async with asyncio.timeout(10):  # more chunks than the queue holds: no waiting for room
        with pytest.raises(StoreUnavailable):
            await store.put(pieces(QUEUE_CHUNKS * 4, 1024 * 1024))
