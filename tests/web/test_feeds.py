"""Topic feeds over WebSocket and SSE: snapshot, live, resume with since, lag, auth, shutdown."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import orjson
import pytest
from aiohttp import WSMsgType

from protocol.streams import EVENTS, TELEMETRY, Level, TelemetryRecord, to_fields
from tests.support.replies import as_fields
from tests.support.web import ORIGIN, MakeEnv, WebEnv, closed_with, recv, recv_until
from web.keys import HUB, METRICS, WEBSOCKETS


async def open_feed(
    env: WebEnv, topic: str, who: str = "admin", **params: Any
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    ws = await env.ws(f"/ws/{topic}", who, **params)
    hello = await recv(ws)
    assert hello["type"] == "hello"
    first = await recv(ws)
    return ws, hello, first


async def test_events_snapshot_then_live_in_order(env: WebEnv) -> None:
    ids = [await env.event("robot.state", "serve-1", state=f"s{i}") for i in range(3)]
    ws, hello, snap = await open_feed(env, "events")
    assert hello["topic"] == "events" and hello["delivery"] == "reliable"
    assert hello["username"] == "admin" and hello["resumed"] is False
    assert len(hello["session"]) == 32
    assert snap["type"] == "snapshot" and snap["reset"] is False
    assert [i["id"] for i in snap["items"]] == ids
    assert snap["items"][0]["event"]["data"] == {"state": "s0"}
    assert snap["id"] == ids[-1]
    live = [await env.event("robot.state", "serve-1", state=f"l{i}") for i in range(3)]
    got = [await recv(ws) for _ in live]
    assert [g["id"] for g in got] == live
    assert all(g["type"] == "event" and g["event"]["robot"] == "serve-1" for g in got)
    await ws.close()


async def test_reconnect_with_since_gets_the_missed_and_nothing_twice(env: WebEnv) -> None:
    await env.event("robot.state", "serve-1", state="a")
    ws, hello, snap = await open_feed(env, "events")
    seen = [i["id"] for i in snap["items"]]
    b = await env.event("robot.state", "serve-1", state="b")
    seen.append((await recv(ws))["id"])
    assert seen[-1] == b
    await ws.close()
    missed = [await env.event("robot.state", "serve-1", state=f"m{i}") for i in range(5)]
    ws, hello, first = await open_feed(env, "events", since=seen[-1])
    assert hello["resumed"] is True
    got = [first] + [await recv(ws) for _ in range(4)]
    assert [g["type"] for g in got] == ["event"] * 5
    assert [g["id"] for g in got] == missed
    after = await env.event("robot.state", "serve-1", state="after")
    assert (await recv(ws))["id"] == after
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=0.3)  # nothing twice
    await ws.close()


async def test_session_names_the_server_process(make_env: MakeEnv) -> None:
    one = await make_env()
    two = await make_env(users=False)
    two.tokens = one.tokens  # same database, same secret: the token works on both
    _, h1, _ = await open_feed(one, "events")
    _, h1b, _ = await open_feed(one, "events")
    _, h2, _ = await open_feed(two, "events")
    assert h1["session"] == h1b["session"] != h2["session"]


async def test_since_older_than_the_stream_keeps_gives_a_reset_snapshot(env: WebEnv) -> None:
    first = await env.event("robot.state", "serve-1", state="old")
    for i in range(5):
        await env.event("robot.state", "serve-1", state=f"n{i}")
    await env.redis.xtrim(EVENTS, maxlen=2, approximate=False)
    ws, hello, snap = await open_feed(env, "events", since=first)
    assert hello["resumed"] is False
    assert snap["type"] == "snapshot" and snap["reset"] is True
    assert [i["event"]["data"]["state"] for i in snap["items"]] == ["n3", "n4"]
    await ws.close()


async def test_since_from_another_redis_gives_a_reset_snapshot(env: WebEnv) -> None:
    await env.event("robot.state", "serve-1", state="x")
    ws, _, snap = await open_feed(env, "events", since="99999999999999-0")
    assert snap["type"] == "snapshot" and snap["reset"] is True
    await ws.close()


async def test_event_filters(env: WebEnv) -> None:
    ws, _, snap = await open_feed(env, "events", robot="serve-2", type="command.*", level="warning")
    assert snap["items"] == []
    await env.event("command.failed", "serve-1", Level.WARNING, command="c1")
    await env.event("robot.state", "serve-2", Level.WARNING)
    await env.event("command.acked", "serve-2", Level.INFO, command="c2")
    want = await env.event("command.failed", "serve-2", Level.WARNING, command="c3")
    got = await recv(ws)
    assert got["id"] == want and got["event"]["data"]["command"] == "c3"
    await ws.close()


async def test_telemetry_snapshot_is_newest_per_robot_then_live(env: WebEnv) -> None:
    await env.telemetry("serve-1", 1, x=1)
    await env.telemetry("serve-2", 1, x=2)
    newest = await env.telemetry("serve-1", 2, x=3)
    ws, hello, snap = await open_feed(env, "telemetry")
    assert hello["delivery"] == "latest"
    items = {i["sample"]["robot"]: i for i in snap["items"]}
    assert items["serve-1"]["id"] == newest and items["serve-1"]["sample"]["x"] == 3.0
    assert items["serve-2"]["sample"]["seq"] == 1
    sid = await env.telemetry("serve-2", 2, x=9)
    live = await recv(ws)
    assert live["type"] == "telemetry" and live["id"] == sid and live["sample"]["x"] == 9.0
    await ws.close()


async def test_telemetry_read_together_arrives_as_one_batch_message(env: WebEnv) -> None:
    ws, _, _ = await open_feed(env, "telemetry")
    pipe = env.redis.pipeline(transaction=True)  # MULTI: the hub's XREAD wakes after all four
    for robot, seq in (("serve-1", 1), ("serve-2", 1), ("serve-1", 2), ("serve-3", 1)):
        pipe.xadd(
            TELEMETRY,
            as_fields(
                to_fields(
                    TelemetryRecord(
                        robot=robot, seq=seq, ts=1.0, x=seq, y=0, theta=0, battery=1, speed=0
                    )
                )
            ),
        )
    ids = [x.decode() for x in await pipe.execute()]
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.TEXT
    batch = orjson.loads(msg.data)
    assert batch["type"] == "batch", "one message for everything one read brought"
    got = [(f["type"], f["id"], f["sample"]["robot"], f["sample"]["seq"]) for f in batch["frames"]]
    # serve-1's first sample was superseded within the same read (latest wins)
    assert got == [
        ("telemetry", ids[1], "serve-2", 1),
        ("telemetry", ids[2], "serve-1", 2),
        ("telemetry", ids[3], "serve-3", 1),
    ]
    await ws.close()


async def test_telemetry_max_hz_sends_the_newest_sample_at_most_that_often(env: WebEnv) -> None:
    ws, hello, _ = await open_feed(env, "telemetry", max_hz=2, robot="serve-1")
    assert hello["max_hz"] == 2.0
    start = time.monotonic()
    last = ""
    for seq in range(1, 31):  # 30 samples over ~1.5 s at 20 Hz
        last = await env.telemetry("serve-1", seq, x=seq)
        await env.telemetry("serve-2", seq)  # filtered out
        await asyncio.sleep(0.05)
    got: list[dict[str, Any]] = []
    while True:
        try:
            f = await recv(ws, timeout=1.0)
        except (TimeoutError, AssertionError):
            break
        if f["type"] == "telemetry":
            got.append(f)
            if f["id"] == last:
                break
    elapsed = time.monotonic() - start
    assert got and got[-1]["id"] == last, "the newest sample always arrives"
    assert {g["sample"]["robot"] for g in got} == {"serve-1"}
    assert len(got) <= elapsed * 2 + 2, f"{len(got)} frames in {elapsed:.1f}s at max_hz=2"
    seqs = [g["sample"]["seq"] for g in got]
    assert seqs == sorted(seqs)
    await ws.close()


async def test_robots_topic_snapshot_and_update_on_robot_events(env: WebEnv) -> None:
    await env.snapshot("serve-1", connection="online", state="idle", battery=80.0)
    await env.snapshot("mystery-9", connection="online")
    ws, _, snap = await open_feed(env, "robots")
    robots = {r["id"]: r for r in snap["items"]}
    assert robots["serve-1"]["registered"] is True and robots["serve-1"]["name"] == "Server One"
    assert robots["serve-1"]["battery"] == 80.0
    assert robots["cook-1"]["connection"] == "offline" and robots["cook-1"]["kind"] == "cooking"
    assert robots["mystery-9"]["registered"] is False
    await env.snapshot("serve-1", connection="online", state="assigned", task="t-1")
    sid = await env.event("robot.state", "serve-1", state="assigned", previous="idle", task="t-1")
    upd = await recv(ws)
    assert upd == {"type": "robot", "id": sid, "robot": upd["robot"]}
    assert upd["robot"]["state"] == "assigned" and upd["robot"]["task"] == "t-1"
    await env.event("command.sent", "serve-1")  # not a robot.* event: no frame
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=0.3)
    await ws.close()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "1-2-3"}, "since"),
        ({"max_hz": "0"}, "max_hz"),
        ({"max_hz": "fast"}, "max_hz"),
        ({"level": "panic"}, "level[0]"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_feed_parameters_are_422_before_the_upgrade(
    env: WebEnv, params: dict[str, Any], field: str
) -> None:
    r = await env.client.get(
        "/ws/events",
        params={"token": env.tokens["admin"], **params},
        headers={
            "Origin": ORIGIN,
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert r.status == 422
    assert r.content_type == "application/problem+json"
    body = await r.json()
    assert body["field"] == field


async def test_max_hz_on_a_reliable_topic_is_refused(env: WebEnv) -> None:
    r = await env.client.get(
        "/api/stream/events", params={"token": env.tokens["admin"], "max_hz": "5"}
    )
    assert r.status == 422 and (await r.json())["field"] == "max_hz"


async def test_unknown_topic_is_404(env: WebEnv) -> None:
    r = await env.client.get("/ws/nope", params={"token": env.tokens["admin"]})
    assert r.status == 404
    body = await r.json()
    assert body["code"] == "unknown_topic" and "events" in body["topics"]


async def test_cross_origin_websocket_is_refused(env: WebEnv) -> None:
    from aiohttp import WSServerHandshakeError

    with pytest.raises(WSServerHandshakeError) as exc:
        await env.ws("/ws/events", origin="https://evil.example")
    assert exc.value.status == 403


async def test_websocket_without_a_valid_token_is_refused(env: WebEnv) -> None:
    from aiohttp import WSServerHandshakeError

    for token in ("", "garbage", env.tokens["admin"][:-4] + "AAAA"):
        with pytest.raises(WSServerHandshakeError) as exc:
            await env.client.ws_connect(
                "/ws/events", params={"token": token} if token else {}, headers={"Origin": ORIGIN}
            )
        assert exc.value.status == 401


async def test_token_refresh_in_band_keeps_the_subscription(env: WebEnv) -> None:
    ws, _, _ = await open_feed(env, "events")
    r = await env.client.post("/api/auth/refresh", headers=env.auth())
    fresh = (await r.json())["token"]
    await ws.send_str(orjson.dumps({"type": "auth", "token": fresh}).decode())
    ok = await recv(ws)
    assert ok["type"] == "auth_ok"
    sid = await env.event("robot.state", "serve-1")
    assert (await recv(ws))["id"] == sid
    await ws.send_str('{"type": "auth", "token": "nonsense"}')
    err = await recv(ws)
    assert err["type"] == "error" and err["code"] == "invalid_token" and err["field"] == "token"
    await ws.send_str(orjson.dumps({"type": "auth", "token": env.tokens["staff"]}).decode())
    err = await recv(ws)
    assert err["code"] == "forbidden"  # a socket cannot change user
    await ws.send_str('{"type": "ping"}')
    assert (await recv(ws))["type"] == "pong"
    await ws.close()


async def test_expiring_token_is_announced_then_closes_with_4001(make_env: MakeEnv) -> None:
    env = await make_env(web={"token_ttl_s": 1.5, "token_warning_s": 1.0})
    ws, hello, _ = await open_feed(env, "events")
    warn = await recv_until(ws, "auth_expiring", timeout=2)
    assert warn["expires_at"] == hello["expires_at"]
    assert await closed_with(ws, timeout=3) == 4001


async def test_refreshed_token_outlives_the_first(make_env: MakeEnv) -> None:
    env = await make_env(web={"token_ttl_s": 1.5, "token_warning_s": 1.0})
    ws, _, _ = await open_feed(env, "events")
    await recv_until(ws, "auth_expiring", timeout=2)
    fresh = await env.login("admin")
    await ws.send_str(orjson.dumps({"type": "auth", "token": fresh}).decode())
    await recv_until(ws, "auth_ok")
    await asyncio.sleep(0.8)  # past the first token's expiry
    sid = await env.event("robot.state", "serve-1")
    assert (await recv_until(ws, "event"))["id"] == sid
    await ws.close()


async def test_bad_client_frames_get_errors_then_a_close(env: WebEnv) -> None:
    ws, _, _ = await open_feed(env, "events")
    for text in ("not json", "[1]", '{"type": "subscribe"}', '{"type": "ping", "x": 1}'):
        await ws.send_str(text)
        err = await recv(ws)
        assert err["type"] == "error" and err["code"] == "bad_message"
    await ws.send_str("{}")
    await recv(ws)
    assert await closed_with(ws) == 1008


async def test_binary_frames_close_with_1003(env: WebEnv) -> None:
    ws, _, _ = await open_feed(env, "events")
    await ws.send_bytes(b"\x00\x01")
    assert await closed_with(ws) == 1003
    assert _rejected(env, "binary_frame") == 1


async def test_only_bad_frames_in_a_row_close_and_each_is_counted(env: WebEnv) -> None:
    """A ping between bad frames is a good frame: the run starts again (it did not)."""
    ws, _, _ = await open_feed(env, "events")
    for _ in range(3):
        for _ in range(4):
            await ws.send_str("[]")
            assert (await recv(ws))["code"] == "bad_message"
        await ws.send_str('{"type": "ping"}')
        assert (await recv(ws))["type"] == "pong"
    assert _rejected(env, "bad_message") == 12
    await ws.close()


def _rejected(env: WebEnv, code: str) -> float:
    value = env.app[METRICS].registry.get_sample_value(
        "robodine_web_frames_rejected_total", {"code": code}
    )
    return value or 0.0


async def test_shutdown_closes_sockets_with_going_away(make_env: MakeEnv) -> None:
    env = await make_env()
    ws, _, _ = await open_feed(env, "events")
    chat = await env.ws("/ws/chat/kitchen")
    await recv(chat)
    # Clients read all the time (a browser does): the close handshake completes at once.
    codes = asyncio.gather(closed_with(ws), closed_with(chat))
    await env.client.server.close()
    assert list(await codes) == [1001, 1001]  # (gather's results: a list, typed as a tuple)


async def test_slow_client_gets_every_event_once_and_a_fast_one_is_unaffected(
    make_env: MakeEnv,
) -> None:
    """A tiny queue forces catch-ups: nothing lost, nothing twice, a fast peer unaffected."""
    env = await make_env(web={"ws_queue": 8, "hub_batch": 8})  # queue: 2 batches = 16 frames
    slow, _, _ = await open_feed(env, "events")
    fast, _, _ = await open_feed(env, "events")
    from protocol.streams import EventRecord, to_fields

    n = 400
    pad = "x" * 16_000  # 6 MB in all: more than the socket buffers hold for the idle client
    ids: list[str] = []
    got_fast: list[str] = []
    for start in range(0, n, 50):
        pipe = env.redis.pipeline(transaction=False)
        for i in range(start, start + 50):
            pipe.xadd(
                EVENTS,
                as_fields(
                    to_fields(
                        EventRecord(
                            eid=f"e{i}",
                            type="robot.event",
                            ts=1.0,
                            robot="serve-1",
                            data={"i": i, "pad": pad},
                        )
                    )
                ),
            )
        ids += [x.decode() for x in await pipe.execute()]
        got_fast += [(await recv(fast))["id"] for _ in range(50)]  # the fast client keeps reading
    assert got_fast == ids, "the fast client keeps up and never lags"
    got: list[str] = []
    notices = []
    while len(got) < n:
        f = await recv(slow, timeout=10)
        if f["type"] == "event":
            got.append(f["id"])
        else:
            notices.append(f)
    assert got == ids, "every event once, in order"
    # Whether the kernel's socket buffers absorbed the burst is up to the kernel; when the
    # client did fall behind, it was told (test_hub.py forces that path deterministically).
    if env.app[HUB].stats["fell_behind"]:
        assert any(x["type"] == "lagging" and x["behind"] for x in notices)
    await slow.close()
    await fast.close()


def _server_send_buffers(env: WebEnv) -> list[int]:
    """SO_SNDBUF of the server's end of each open WebSocket (aiohttp keeps no public
    handle on a response's request: ``_req``)."""
    out = []
    for ws in env.app[WEBSOCKETS]:
        req = ws._req
        assert req is not None and req.transport is not None  # open: both are there
        sock = req.transport.get_extra_info("socket")
        out.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
    return out


async def test_feed_sockets_have_a_bounded_kernel_send_buffer(make_env: MakeEnv) -> None:
    """Else the kernel queues megabytes for a slow reader before latest-wins can act."""
    env = await make_env()
    ws, _, _ = await open_feed(env, "telemetry")
    chat = await env.ws("/ws/chat/kitchen", "staff")
    assert _server_send_buffers(env) == [2 * 128 * 1024] * 2  # Linux doubles what is asked
    await ws.close()
    await chat.close()
    env = await make_env(web={"feed_send_buffer_bytes": 48 * 1024})
    ws, _, _ = await open_feed(env, "events")
    assert _server_send_buffers(env) == [2 * 48 * 1024]
    await ws.close()
    env = await make_env(web={"feed_send_buffer_bytes": 0})  # the kernel's autotuning
    ws, _, _ = await open_feed(env, "events")
    assert _server_send_buffers(env) != [2 * 128 * 1024]  # whatever the kernel chose
    await ws.close()


async def test_a_client_that_stops_reading_is_closed_with_4008(make_env: MakeEnv) -> None:
    """Its send blocks (socket buffers full) past ws_send_timeout_s: closed, memory bounded."""
    env = await make_env(web={"ws_queue": 8, "hub_batch": 8, "ws_send_timeout_s": 0.5})
    ws, _, _ = await open_feed(env, "events")
    from protocol.streams import EventRecord, to_fields

    big = "x" * 50_000
    max_queued = 0
    async with asyncio.timeout(10):
        while env.app[HUB].subscriptions():  # until the server gives up on it
            pipe = env.redis.pipeline(transaction=False)
            for i in range(20):
                pipe.xadd(
                    EVENTS,
                    as_fields(
                        to_fields(
                            EventRecord(eid=f"h{i}", type="robot.event", ts=1.0, data={"pad": big})
                        )
                    ),
                )
            await pipe.execute()
            await asyncio.sleep(0.05)
            max_queued = max([max_queued] + [s.queued for s in env.app[HUB].subscriptions()])
    assert max_queued <= 16, "the queue stays bounded"
    assert await closed_with(ws, timeout=10) == 4008


async def test_a_telemetry_client_that_stops_reading_is_closed_with_4008(
    make_env: MakeEnv,
) -> None:
    """Direct writes stop at the transport's low-water mark; then latest-wins, then 4008.

    The server's kernel send buffer is bounded (web.feed_send_buffer_bytes), so its
    own buffer fills within a second or so; the heartbeat is pushed out of the way so
    that only the send deadline can close the socket.
    """
    env = await make_env(web={"ws_send_timeout_s": 0.5, "ws_heartbeat_s": 120})
    ws, _, _ = await open_feed(env, "telemetry")
    robots = [f"serve-{i:04d}" for i in range(1000)]
    most_pending = 0
    seq = 0
    async with asyncio.timeout(40):
        while env.app[HUB].subscriptions():  # until the server gives up on it
            pipe = env.redis.pipeline(transaction=False)
            for robot in robots:
                seq += 1
                rec = TelemetryRecord(
                    robot=robot, seq=seq, ts=1.0, x=0, y=0, theta=0, battery=1, speed=0
                )
                pipe.xadd(TELEMETRY, as_fields(to_fields(rec)))
            await pipe.execute()
            await asyncio.sleep(0.02)
            for sub in env.app[HUB].subscriptions():
                most_pending = max(most_pending, sub.pending_latest)
    assert most_pending <= len(robots), "at most one pending frame per robot"
    assert await closed_with(ws, timeout=10) == 4008


async def test_sse_stream_resumes_with_last_event_id(env: WebEnv) -> None:
    a = await env.event("robot.state", "serve-1", state="a")
    r = await env.client.get(
        "/api/stream/events", params={"token": env.tokens["viewer"]}, headers={"Origin": ORIGIN}
    )
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    events = await read_sse(r, 2)
    assert events[0]["event"] == "hello" and "id" not in events[0]
    assert events[1]["event"] == "snapshot" and events[1]["id"] == a
    b = await env.event("robot.state", "serve-1", state="b")
    (live,) = await read_sse(r, 1)
    assert live["event"] == "event" and live["id"] == b and live["data"]["id"] == b
    r.close()
    c = await env.event("robot.state", "serve-1", state="c")
    d = await env.event("robot.state", "serve-1", state="d")
    r = await env.client.get(
        "/api/stream/events", params={"token": env.tokens["viewer"]}, headers={"Last-Event-ID": b}
    )
    hello, e1, e2 = await read_sse(r, 3)
    assert hello["data"]["resumed"] is True
    assert [e1["id"], e2["id"]] == [c, d]
    r.close()


async def test_sse_bad_last_event_id_is_422(env: WebEnv) -> None:
    r = await env.client.get(
        "/api/stream/events",
        params={"token": env.tokens["viewer"]},
        headers={"Last-Event-ID": "not-an-id"},
    )
    assert r.status == 422
    body = await r.json()
    assert body["field"] == "Last-Event-ID"


async def read_sse(resp: Any, count: int, timeout: float = 3.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while len(out) < count:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line == "":
                if cur:
                    out.append(cur)
                    cur = {}
                continue
            if line.startswith((":", "retry:")):
                continue
            key, _, value = line.partition(": ")
            cur[key] = orjson.loads(value) if key == "data" else value
    return out


_ = WSMsgType


async def test_sse_refuses_other_origins_and_says_goodbye_at_token_expiry(
    make_env: MakeEnv,
) -> None:
    env = await make_env(web={"token_ttl_s": 1.0})
    r = await env.client.get(
        "/api/stream/events",
        params={"token": env.tokens["viewer"]},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status == 403 and (await r.json())["code"] == "origin_not_allowed"
    r = await env.client.get("/api/stream/events", params={"token": env.tokens["viewer"]})
    hello, _snapshot, goodbye = await read_sse(r, 3, timeout=4)
    assert hello["event"] == "hello" and goodbye["event"] == "goodbye"
    assert goodbye["data"]["code"] == 4001
    r.close()


async def test_feeds_survive_a_redis_restart(make_env: MakeEnv, redis_private: Any) -> None:
    env = await make_env(redis={"url": redis_private.url})
    from redis.asyncio import Redis

    producer = Redis.from_url(redis_private.url)
    env.redis = producer
    try:
        ws, _, _ = await open_feed(env, "events")
        before = await env.event("robot.state", "serve-1", state="before")
        assert (await recv(ws))["id"] == before
        redis_private.stop()  # SIGTERM: the AOF is flushed, the stream ids survive
        redis_private.start()
        await producer.aclose()
        producer = Redis.from_url(redis_private.url)
        env.redis = producer
        after = await env.event("robot.state", "serve-1", state="after")
        got = await recv(ws, timeout=6)
        assert got["id"] == after and got["event"]["data"]["state"] == "after"
        await ws.close()
    finally:
        await producer.aclose()


# ---- a stream reset (Redis lost its data): resume from the reset point ------------------


async def _close_of(ws: Any, timeout: float) -> tuple[int | None, str]:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.CLOSE:
                return int(msg.data), str(msg.extra or "")  # the frame's (not a late reply's)
            assert msg.type is WSMsgType.TEXT, (msg.type, msg.data)


async def test_after_a_data_losing_restart_events_resume_from_the_reset_point(
    make_env: MakeEnv,
) -> None:
    """More than a snapshot's worth of events lands in the new stream before the client
    is back (the gateway replays its spool): reconnecting with the since the 1012 close
    (or the SSE goodbye) names, the client gets every one of them, once, in order."""
    from redis.asyncio import Redis

    from tests.servers import RedisServer

    server = RedisServer(aof=False)  # a restart loses everything, as without persistence
    server.start()
    producer = Redis.from_url(server.url)
    try:
        env = await make_env(redis={"url": server.url}, web={"hub_batch": 50})
        env.redis = producer
        old = [await env.event("robot.state", "serve-1", state=f"old{i}") for i in range(3)]
        ws, _, snapshot = await open_feed(env, "events")
        assert [e["id"] for e in snapshot["items"]] == old
        sse = await env.client.get("/api/stream/events", params={"token": env.tokens["viewer"]})
        assert [e["event"] for e in await read_sse(sse, 2)] == ["hello", "snapshot"]
        todos, _, _ = await open_feed(env, "todos")
        r = await env.client.post("/api/todos", json={"title": "wipe"}, headers=env.auth("staff"))
        assert r.status == 201
        assert (await recv(todos))["type"] == "todo"
        server.kill()
        server.start()
        await producer.aclose()
        producer = Redis.from_url(server.url)
        env.redis = producer
        code, reason = await _close_of(ws, timeout=10)
        assert code == 1012
        assert reason.rsplit(" ", 1)[-1].startswith("since="), reason
        since = reason.rsplit("since=", 1)[1]
        (goodbye,) = await read_sse(sse, 1, timeout=10)
        assert goodbye["data"]["code"] == 1012 and goodbye["data"]["since"] == since
        sse.close()
        todo_code, todo_reason = await _close_of(todos, timeout=10)
        assert todo_code == 1012 and "since=" not in todo_reason  # its snapshot is SQL's
        n = env.settings.web.snapshot_events + 50
        replayed = []
        for start in range(0, n, 50):  # the spool replay, before the client reconnects
            pipe = producer.pipeline(transaction=False)
            for i in range(start, min(n, start + 50)):
                pipe.xadd(EVENTS, as_fields(to_fields(_event(f"new{i}"))))
            replayed += [x.decode() for x in await pipe.execute()]
        ws = await env.ws("/ws/events", since=since)
        hello = await recv(ws)
        assert hello["type"] == "hello" and hello["resumed"] is True
        got = [(await recv(ws, timeout=5))["id"] for _ in range(n)]
        assert got == replayed, "every event of the new stream once, in order"
        live = await env.event("robot.state", "serve-1", state="live")
        assert (await recv(ws))["id"] == live
        r = await env.client.get(
            "/api/stream/events", params={"token": env.tokens["viewer"], "since": since}
        )
        frames = await read_sse(r, n + 2, timeout=10)
        assert frames[0]["data"]["resumed"] is True
        assert [f["id"] for f in frames[1:]] == [*replayed, live]
        r.close()
        await ws.close()
    finally:
        await producer.aclose()
        server.close()


def _event(state: str) -> Any:
    from protocol.streams import EventRecord

    return EventRecord(
        eid=state,
        type="robot.state",
        ts=time.time(),
        robot="serve-1",
        src="gw-test",
        data={"state": state},
    )


# ---- a client that reads nothing at all gets the documented 4008 ------------------------


def _ws_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the server's frames after the 101 answer (unmasked, unfragmented)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep and head.startswith(b"HTTP/1.1 101"), head[:80]
    out = []
    while len(rest) >= 2:
        opcode, n = rest[0] & 0x0F, rest[1] & 0x7F
        at = 2
        if n == 126:
            n, at = int.from_bytes(rest[2:4], "big"), 4
        elif n == 127:
            n, at = int.from_bytes(rest[2:10], "big"), 10
        if len(rest) < at + n:
            break
        out.append((opcode, rest[at : at + n]))
        rest = rest[at + n :]
    return out


async def test_a_client_that_never_reads_is_closed_with_4008_not_dropped(
    make_env: MakeEnv,
) -> None:
    """It never answers a ping either: after ws_heartbeat_s and half of it again the server
    closes with 4008, and the close frame is there when the client finally reads (it
    used to be the transport closed under it, 1006 on the client's side)."""
    import base64
    import os

    env = await make_env(web={"ws_heartbeat_s": 1.0, "ws_send_timeout_s": 30})
    reader, writer = await asyncio.open_connection("127.0.0.1", env.client.server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws/events?token={env.tokens['viewer']} HTTP/1.1\r\nHost: t\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    started = time.monotonic()
    async with asyncio.timeout(10):
        while not env.app[HUB].subscriptions():  # noqa: ASYNC110 - polled
            await asyncio.sleep(0.02)
        while env.app[HUB].subscriptions():  # a trickle of events, never read
            await env.event("robot.state", "serve-1", state="tick")
            await asyncio.sleep(0.1)
    print(f"closed after {time.monotonic() - started:.2f}s")
    data = await asyncio.wait_for(reader.read(), 5)  # now read it all, to the end
    writer.close()
    frames = _ws_frames(data)
    assert frames and frames[-1][0] == 0x8, [op for op, _ in frames][-5:]
    payload = frames[-1][1]
    assert int.from_bytes(payload[:2], "big") == 4008, payload
    assert b"not reading" in payload[2:]
    assert any(op == 0x9 for op, _ in frames), "it was pinged first"
