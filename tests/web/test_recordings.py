"""`robodine recorder` in the test's loop, the web tier serving what it wrote: segments from
real Redis streams into the media store (local and S3), the SQL index, /videos with ranges,
incident clips, retention, a full disk."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
import redis.asyncio as aioredis

from protocol.streams import CAMERAS, EVENTS, EventRecord, Level, camera_stream, to_fields
from robodine.redisio.client import connect
from tests.disk import fill, small_filesystem
from tests.support.replies import RawEntries, as_fields
from tests.support.web import MakeEnv, WebEnv
from tests.waiting import wait_for
from tests.web.jobs_support import S3Server, moto_server, s3_media
from web.db.recordings import Recording
from web.keys import DB, MEDIA
from web.recorder.avi import read_avi_frames
from web.recorder.recorder import Recorder

pytestmark = pytest.mark.integration
__all__ = ["moto_server"]  # a fixture

KEY = "serve-1:front"


def jpeg(n: int, size: int = 3000) -> bytes:
    return b"\xff\xd8" + (n.to_bytes(4, "big") * size)[: size - 4] + b"\xff\xd9"


async def announce(redis: aioredis.Redis, key: str = KEY) -> None:
    robot, camera = key.split(":")
    await redis.hset(
        CAMERAS,
        key,
        msgspec.json.encode(
            {
                "robot": robot,
                "camera": camera,
                "width": 64,
                "height": 48,
                "fps": 10.0,
                "state": "live",
            }
        ),
    )


async def put_frame(redis: aioredis.Redis, n: int, key: str = KEY, at: float | None = None) -> None:
    robot, camera = key.split(":")
    await redis.xadd(
        camera_stream(robot, camera),
        {
            "robot": robot,
            "camera": camera,
            "frame": n,
            "ts": time.time(),
            "rx": repr(at if at is not None else time.time()),
            "jpeg": jpeg(n),
        },
        maxlen=30,
    )


class Running:
    def __init__(self, recorder: Recorder, task: asyncio.Task[None]) -> None:
        self.recorder, self.task = recorder, task

    async def settled(self) -> None:
        await asyncio.wait_for(self.recorder.idle.wait(), 10)


@contextlib.asynccontextmanager
async def recording(env: WebEnv) -> AsyncIterator[Running]:
    s = env.settings
    store = env.app[MEDIA]
    redis = connect(s.redis, name="recorder-test", block_ms=1000)
    rec = Recorder(s, env.app[DB], store, redis)
    task = asyncio.create_task(rec.run())
    await wait_for(lambda: rec._events_cursor != "$")
    try:
        yield Running(rec, task)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await rec.close()
        await redis.aclose()


def settings(tmp_path: Path, **recorder: Any) -> dict[str, Any]:
    return {
        "media": {"url": str(tmp_path / "media")},
        "recorder": {
            "spool_dir": str(tmp_path / "spool"),
            "incident_before_s": 2.0,
            "incident_after_s": 1.0,
            "retention_every_s": 3600,
            **recorder,
        },
    }


async def recordings(env: WebEnv, **query: str) -> list[dict[str, Any]]:
    r = await env.client.get("/api/recordings", params=query, headers=env.auth("viewer"))
    assert r.status == 200, await r.text()
    return list((await r.json())["items"])


async def test_a_requested_recording_is_listed_and_served_with_ranges(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = await make_env(**settings(tmp_path))
    await announce(env.redis)
    async with recording(env) as run:
        await wait_for(lambda: KEY in run.recorder.cameras)
        r = await env.client.post(
            f"/api/video-streams/{KEY}/record", json={"minutes": 0.05}, headers=env.auth("staff")
        )
        assert r.status == 202
        await asyncio.sleep(1.2)  # the recorder reads the request once a second
        for n in range(10):
            await put_frame(env.redis, n)
            await asyncio.sleep(0.05)
        items = await wait_for(lambda: recordings(env), timeout=10)
    (item,) = items
    assert (item["robot"], item["camera"], item["reason"], item["frames"]) == (
        "serve-1",
        "front",
        "request",
        10,
    )
    assert item["url"] == f"/videos/{item['id']}.avi" and item["content_type"] == "video/x-msvideo"
    token = env.tokens["viewer"]
    r = await env.client.get(item["url"], params={"token": token})
    assert r.status == 200
    body = await r.read()
    assert len(body) == item["bytes"] and read_avi_frames(body) == [jpeg(n) for n in range(10)]
    etag = r.headers["ETag"]
    r = await env.client.get(item["url"], headers={**env.auth("viewer"), "Range": "bytes=100-199"})
    assert r.status == 206 and await r.read() == body[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    r = await env.client.get(item["url"], headers={**env.auth("viewer"), "If-None-Match": etag})
    assert r.status == 304
    r = await env.client.get(item["url"], headers={**env.auth("viewer"), "Range": "bytes=9999999-"})
    assert r.status == 416
    av = pytest.importorskip("av")  # a real demuxer reads it too (PyAV's FFmpeg)
    path = tmp_path / "got.avi"
    path.write_bytes(body)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert (stream.codec_context.name, stream.average_rate, stream.width) == ("mjpeg", 10, 64)
        packets = [bytes(p) for p in c.demux(stream) if p.size]
    assert packets == [jpeg(n) for n in range(10)]


async def test_videos_need_a_token_and_name_only_recordings(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = await make_env(**settings(tmp_path))
    rid = uuid.uuid4().hex
    for path in (f"/videos/{rid}.avi", "/api/recordings", f"/api/recordings/{rid}"):
        assert (await env.client.get(path)).status == 401, path
    for path in (
        f"/videos/{rid}.avi",
        f"/videos/{rid}.mkv",
        "/videos/..%2F..%2Fetc%2Fpasswd",
        "/videos/../../etc/passwd",
        f"/videos/{rid}.avi/../x",
        f"/api/recordings/{rid}",
    ):
        r = await env.client.get(path, headers=env.auth("viewer"))
        assert r.status == 404, path
    r = await env.client.delete(f"/api/recordings/{rid}", headers=env.auth("staff"))
    assert r.status == 403


async def test_an_alarm_keeps_the_seconds_before_and_after_it(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = await make_env(**settings(tmp_path))
    await announce(env.redis)
    await announce(env.redis, "serve-2:front")
    async with recording(env) as run:
        await wait_for(lambda: len(run.recorder.cameras) == 2)
        for n in range(10):  # 1 s of frames nobody asked to record
            await put_frame(env.redis, n)
            await asyncio.sleep(0.1)
        assert await recordings(env) == []
        eid = uuid.uuid4().hex
        await env.redis.xadd(
            EVENTS,
            as_fields(
                to_fields(
                    EventRecord(
                        eid=eid,
                        type="robot.state",
                        ts=time.time(),
                        robot="serve-1",
                        level=Level.ALARM,
                        data={"state": "estop"},
                    )
                )
            ),
        )
        for n in range(10, 30):  # 2 s: the incident's 1 s after, then nothing is recorded
            await put_frame(env.redis, n)
            await asyncio.sleep(0.1)
        items = await wait_for(lambda: recordings(env, reason="incident"), timeout=10)
        await run.settled()
        clips = await wait_for(lambda: _clip_events(env.redis), timeout=5)
    (item,) = items
    assert item["incident"] == eid and item["robot"] == "serve-1"
    r = await env.client.get(item["url"], headers=env.auth("viewer"))
    got = read_avi_frames(await r.read())
    ids = [int.from_bytes(f[2:6], "big") for f in got]
    assert ids[0] < 10 <= ids[-1]  # frames from before the alarm and after it
    assert ids == list(range(ids[0], ids[-1] + 1)) and ids[-1] < 25
    assert [c["recording"] for c in clips] == [item["id"]]
    assert await recordings(env, robot="serve-2") == []


async def _clip_events(redis: aioredis.Redis) -> list[dict[str, Any]]:
    out = []
    for _, f in cast(RawEntries, await redis.xrange(EVENTS)):
        if f[b"type"] == b"recorder.clip":
            out.append(msgspec.json.decode(f[b"data"]))
    return out


async def test_retention_deletes_the_oldest_and_incident_clips_last(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = await make_env(**settings(tmp_path, max_bytes=2 * 1024 * 1024, max_age_s=3600))
    store = env.app[MEDIA]
    now = datetime.now(UTC)

    async def blob(n: int) -> Any:
        async def one() -> AsyncIterator[bytes]:
            yield n.to_bytes(4, "big") * (256 * 1024)  # 1 MiB each

        return await store.put(one())

    rows = []
    for n, (age_h, reason) in enumerate(
        [
            (5, "continuous"),
            (0.5, "incident"),
            (0.4, "continuous"),
            (0.3, "request"),
            (0.2, "continuous"),
        ]
    ):
        b = await blob(n)
        start = now - timedelta(hours=age_h)
        rows.append(
            Recording(
                id=uuid.uuid4().hex,
                robot="serve-1",
                camera="front",
                started_at=start,
                ended_at=start + timedelta(minutes=1),
                frames=10,
                bytes=b.size,
                format="avi",
                content_type="video/x-msvideo",
                reason=reason,
                incident="",
                key=b.key,
                sha256=b.sha256,
                store=store.name,
            )
        )
    async with env.app[DB].begin() as s:
        s.add_all(rows)
    redis = connect(env.settings.redis, name="t", block_ms=1000)
    rec = Recorder(env.settings, env.app[DB], store, redis)
    try:
        assert await rec.retain() == 3  # too old, then the oldest two plain ones: 2 MiB left
    finally:
        await redis.aclose()
    left = await recordings(env)
    assert sorted(i["reason"] for i in left) == ["continuous", "incident"]
    assert {i["id"] for i in left} == {rows[1].id, rows[4].id}
    for r in rows:
        assert (await store.size(r.key) is None) == (r.id not in {rows[1].id, rows[4].id})


async def test_s3_recordings_redirect_and_the_object_store_serves_ranges(
    make_env: MakeEnv, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    moto: S3Server = request.getfixturevalue("moto_server")
    bucket = f"rec-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(moto.create_bucket, bucket)  # boto3 is synchronous
    env = await make_env(**{**settings(tmp_path), "media": s3_media(moto, bucket)})
    await announce(env.redis)
    async with recording(env) as run:
        await wait_for(lambda: KEY in run.recorder.cameras)
        r = await env.client.post(
            f"/api/video-streams/{KEY}/record", json={"minutes": 0.05}, headers=env.auth("staff")
        )
        await asyncio.sleep(1.2)
        for n in range(5):
            await put_frame(env.redis, n)
            await asyncio.sleep(0.05)
        (item,) = await wait_for(lambda: recordings(env), timeout=10)
    assert item["store"] == "s3"
    r = await env.client.get(item["url"], headers=env.auth("viewer"), allow_redirects=False)
    assert r.status == 302
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(r.headers["Location"], headers={"Range": "bytes=0-11"}) as got:
            assert got.status == 206 and (await got.read())[:4] == b"RIFF"
        async with http.get(r.headers["Location"]) as got:
            assert read_avi_frames(await got.read()) == [jpeg(n) for n in range(5)]


async def test_a_full_disk_stops_recording_with_an_alarm_and_live_views_go_on(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    with small_filesystem(tmp_path / "small", 256) as fs:
        env = await make_env(
            **{
                **settings(tmp_path, continuous=True, retry_s=60),
                "media": {"url": str(fs / "media")},
            }
        )
        fill(fs)
        await announce(env.redis)
        async with recording(env) as run:
            await wait_for(lambda: KEY in run.recorder.cameras)
            for n in range(100):
                await put_frame(env.redis, n)
                if n % 10 == 0:
                    await asyncio.sleep(0.05)
            alarms = await wait_for(lambda: _alarms(env.redis), timeout=10)
            r = await env.client.get(
                f"/api/video-streams/{KEY}/snapshot.jpg", headers=env.auth("viewer")
            )
            assert r.status == 200 and await r.read() == jpeg(99)
        assert alarms[0][b"level"] == b"alarm"
        assert await recordings(env) == []
        assert list((fs / "media").glob("sha256/*/*")) == []


async def _alarms(redis: aioredis.Redis) -> list[dict[bytes, bytes]]:
    return [
        f
        for _, f in cast(RawEntries, await redis.xrange(EVENTS))
        if f[b"type"] == b"recorder.store_full"
    ]
