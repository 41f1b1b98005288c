"""The media store: local directory and S3 (moto's server, a real process) behave the same."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.settings import MediaSettings
from robodine.media import MediaStore, StoreUnavailable, TooLarge, blob_key, open_store
from robodine.media.local import GATHER_MAX, LocalStore, gathered
from tests.web.jobs_support import S3Server, moto_server, s3_media

__all__ = ["moto_server"]


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


async def read_all(store: MediaStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in store.read(key, start, end)])


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MediaStore]:
    if request.param == "local":
        s: MediaStore = LocalStore(tmp_path / "media")
    else:
        moto: S3Server = request.getfixturevalue("moto_server")
        bucket = f"b{uuid.uuid4().hex[:12]}"
        await asyncio.to_thread(moto.create_bucket, bucket)  # boto3 is synchronous
        s = await open_store(MediaSettings(**s3_media(moto, bucket), s3_part_bytes=5 * 2**20))
    yield s
    await s.close()


async def test_a_blob_is_named_by_its_sha256_and_reads_back_whole_and_in_ranges(
    store: MediaStore,
) -> None:
    data = bytes(range(256)) * 50_000  # 12.8 MB: several 5 MiB parts on S3
    blob = await store.put(chunks(data[:1_000_000], data[1_000_000:]), max_bytes=len(data))
    digest = hashlib.sha256(data).hexdigest()
    assert (blob.sha256, blob.size, blob.key) == (digest, len(data), blob_key(digest))
    assert await store.size(blob.key) == len(data)
    assert await read_all(store, blob.key) == data
    assert await read_all(store, blob.key, 1000, 1010) == data[1000:1010]
    assert await read_all(store, blob.key, len(data) - 5) == data[-5:]
    again = await store.put(chunks(data), max_bytes=None)  # same content: the same blob
    assert again == blob
    await store.delete(blob.key)
    assert await store.size(blob.key) is None


async def test_a_write_over_the_limit_stops_and_leaves_nothing(
    store: MediaStore, tmp_path: Path
) -> None:
    with pytest.raises(TooLarge):
        await store.put(chunks(b"x" * 1000, b"y" * 1000), max_bytes=1500)
    digest = hashlib.sha256(b"x" * 1000 + b"y" * 1000).hexdigest()
    assert await store.size(blob_key(digest)) is None
    if isinstance(store, LocalStore):
        assert list((tmp_path / "media" / ".tmp").iterdir()) == []


async def test_a_failing_source_leaves_nothing_under_any_name(
    store: MediaStore, tmp_path: Path
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * 100
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put(broken())
    if isinstance(store, LocalStore):
        assert list((tmp_path / "media" / ".tmp").iterdir()) == []
        assert not (tmp_path / "media" / "sha256").exists()


async def test_s3_presigned_url_serves_the_blob(moto_server: S3Server) -> None:
    bucket = f"b{uuid.uuid4().hex[:12]}"
    await asyncio.to_thread(moto_server.create_bucket, bucket)  # boto3 is synchronous
    store = await open_store(MediaSettings(**s3_media(moto_server, bucket)))
    try:
        blob = await store.put(chunks(b"hello photo"))
        url = await store.presigned_url(
            blob.key, content_type="image/png", filename="a b.png", expires_s=60
        )
        assert url is not None and url.startswith(moto_server.url)
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            assert r.status == 200
            assert await r.read() == b"hello photo"
            assert r.headers["Content-Type"] == "image/png"
    finally:
        await store.close()


async def test_an_unreachable_object_store_is_store_unavailable() -> None:
    from tests.servers import free_port

    store = await open_store(
        MediaSettings(
            url="s3://nobucket/x",
            s3_endpoint=f"http://127.0.0.1:{free_port()}",
            s3_access_key="k",
            s3_secret_key="s",
            timeout_s=1.0,
        )
    )
    try:
        with pytest.raises(StoreUnavailable):
            await store.check()
        with pytest.raises(StoreUnavailable):
            await store.put(chunks(b"x"))
    finally:
        await store.close()


@given(st.lists(st.binary(max_size=3000), max_size=8))
async def test_local_store_hashes_whatever_the_chunking(parts: list[bytes]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        store = LocalStore(d)
        blob = await store.put(chunks(*parts))
        data = b"".join(parts)
        assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
        assert await read_all(store, blob.key) == data
        assert not any(Path(d, ".tmp").iterdir())  # noqa: ASYNC240


@given(st.lists(st.integers(min_value=0, max_value=5000), max_size=300))
async def test_gathered_lists_keep_every_byte_in_order_and_stay_within_their_bounds(
    sizes: list[int],
) -> None:
    parts = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    lists = [g async for g in gathered(chunks(*parts), 4096)]
    assert b"".join(b"".join(g) for g in lists) == b"".join(parts)
    assert all(p for g in lists for p in g)  # empty pieces are dropped, not written
    for g in lists[:-1]:  # every list but the last is full: by bytes or by count
        assert sum(map(len, g)) >= 4096 or len(g) == GATHER_MAX
    assert all(len(g) <= GATHER_MAX for g in lists)


async def test_local_store_writes_many_small_pieces_and_big_ones_whole(tmp_path: Path) -> None:
    """More pieces than one writev gathers, then pieces bigger than a gathered megabyte."""
    small = [bytes([i % 256]) * 100 for i in range(GATHER_MAX * 3 + 7)]
    big = [bytes(range(256)) * 8192, b"tail"]  # 2 MiB, then 4 bytes
    store = LocalStore(tmp_path / "media")
    blob = await store.put(chunks(*small, *big))
    data = b"".join(small + big)
    assert (blob.sha256, blob.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert await read_all(store, blob.key) == data
