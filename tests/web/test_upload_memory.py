"""A 100 MB upload through a real `robodine web` process: streamed, flat memory, hashed."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.servers import free_port
from tests.support.web import PASSWORD
from tests.web.jobs_support import process_env, processes

__all__ = ["processes"]
pytestmark = [pytest.mark.integration, pytest.mark.slow]
SIZE = 100 * 1024 * 1024
CHUNK = 256 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def body(digest: Any) -> AsyncIterator[bytes]:
    block = bytes(range(256)) * (CHUNK // 256)
    for i in range(SIZE // CHUNK):
        chunk = block[i % 256 :] + block[: i % 256]
        digest.update(chunk)
        yield chunk


async def test_a_100_mb_upload_streams_with_flat_memory(
    tmp_path: Path, sqlite_url: str, redis_server: Any, processes: Any
) -> None:
    port = free_port()
    env = process_env(
        redis_server.url,
        sqlite_url,
        web={"port": port, "host": "127.0.0.1"},
        media={"url": str(tmp_path / "media")},
        uploads={"max_bytes": 200 * 1024 * 1024},
    )
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "robodine", "users", "add", "loader", "--role", "staff"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    web = processes("web", env)
    await web.wait_log("web_started")
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            f"{base}/api/auth/login", json={"username": "loader", "password": PASSWORD}
        )
        auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
        form = aiohttp.FormData()
        form.add_field("file", b"warm up", content_type="text/plain", filename="w.txt")
        assert (await http.post(f"{base}/api/uploads", data=form, headers=auth)).status == 201
        before = rss_kib(web.pid)
        peak = before
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_kib(web.pid))
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        digest = hashlib.sha256()
        form = aiohttp.FormData()
        form.add_field("file", body(digest), content_type="video/mp4", filename="clip.mp4")
        r = await http.post(f"{base}/api/uploads", data=form, headers=auth)
        done.set()
        await sampler
        assert r.status == 201, await r.text()
        up = await r.json()
    assert up["size"] == SIZE and up["sha256"] == digest.hexdigest()
    growth_mib = (peak - before) / 1024
    print(f"RSS before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB (+{growth_mib:.1f})")
    assert growth_mib < 32, f"RSS grew by {growth_mib:.1f} MiB for a 100 MiB upload"
    blob = tmp_path / "media" / up["sha256"][:2] / up["sha256"]
    assert (tmp_path / "media" / "sha256" / up["sha256"][:2] / up["sha256"]).stat().st_size == SIZE
    assert not blob.exists()  # under sha256/, not elsewhere
