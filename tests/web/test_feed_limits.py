"""Open feeds are bounded per user and in all, and end when their token is revoked.

Feeds are topic WebSockets, SSE streams and chat sockets alike: each is admitted
before its upgrade (429 per user, 503 in all) and each closes (4001, SSE goodbye)
within ``web.auth_cache_s`` when its user is disabled, demoted, removed or given
a new password, whichever web process made the change.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jsonschema
import orjson
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, WSServerHandshakeError

from protocol.streams import chat_stream
from tests.support.web import ORIGIN, MakeEnv, WebEnv, recv
from web.feeds.connections import Feeds
from web.keys import FEEDS, METRICS, TOKENS
from web.metrics import WebMetrics
from web.security import Role

# ---- limits --------------------------------------------------------------------------


def _refused(env: WebEnv, limit: str) -> float:
    value = env.app[METRICS].registry.get_sample_value(
        "robodine_web_feeds_refused_total", {"limit": limit}
    )
    return value or 0.0


async def _sse(env: WebEnv, who: str = "viewer", topic: str = "events") -> Any:
    return await env.client.get(
        f"/api/stream/{topic}", params={"token": env.tokens[who]}, headers={"Origin": ORIGIN}
    )


async def test_feeds_per_user_are_capped_before_the_upgrade_with_429(make_env: MakeEnv) -> None:
    env = await make_env(web={"max_feeds_per_user": 3, "max_feeds": 100})
    problem = await _problem_schema(env)
    held = [await env.ws("/ws/events", "viewer"), await env.ws("/ws/chat/kitchen", "viewer")]
    sse = await _sse(env)
    assert sse.status == 200  # SSE, WebSocket and chat count together: 3 of 3
    for _ in range(2):
        with pytest.raises(WSServerHandshakeError) as exc:
            await env.ws("/ws/telemetry", "viewer")
        assert exc.value.status == 429
    r = await _sse(env)
    assert r.status == 429 and r.headers["Retry-After"]
    body = await r.json()
    assert body["code"] == "too_many_feeds" and body["status"] == 429 and body["limit"] == 3
    problem.validate(body)
    r = await env.client.get(
        "/ws/events", params={"token": env.tokens["viewer"]}, headers={"Origin": ORIGIN}
    )
    assert r.status == 429 and r.content_type == "application/problem+json"
    assert _refused(env, "user") == 4
    other = await env.ws("/ws/events", "staff")  # another user is not affected
    assert (await recv(other))["type"] == "hello"
    await held[0].close()
    sse.close()
    await _until(lambda: env.app[FEEDS].of_user("viewer") == 1)
    again = await env.ws("/ws/events", "viewer")  # room again once one is closed
    assert (await recv(again))["type"] == "hello"
    for ws in (held[1], other, again):
        await ws.close()
    await _until(lambda: len(env.app[FEEDS]) == 0)
    open_gauge = env.app[METRICS].registry.get_sample_value
    assert open_gauge("robodine_web_feeds_open", {"kind": "ws"}) == 0


async def test_feeds_in_all_are_capped_with_503(make_env: MakeEnv) -> None:
    env = await make_env(web={"max_feeds_per_user": 10, "max_feeds": 2})
    a = await env.ws("/ws/events", "viewer")
    b = await env.ws("/ws/events", "staff")
    with pytest.raises(WSServerHandshakeError) as exc:
        await env.ws("/ws/events", "admin")
    assert exc.value.status == 503
    r = await _sse(env, "admin")
    assert r.status == 503 and r.headers["Retry-After"]
    body = await r.json()
    assert body["code"] == "feeds_full" and body["limit"] == 2
    (await _problem_schema(env)).validate(body)
    assert _refused(env, "total") == 2
    await a.close()
    await _until(lambda: len(env.app[FEEDS]) == 1)
    c = await env.ws("/ws/events", "admin")
    assert (await recv(c))["type"] == "hello"
    await b.close()
    await c.close()


async def test_a_feed_refused_for_redis_frees_its_place(
    make_env: MakeEnv, redis_private: Any
) -> None:
    """A feed that fails before its upgrade (503 Redis away) is not left counted."""
    env = await make_env(redis={"url": redis_private.url}, web={"max_feeds_per_user": 1})
    redis_private.kill()
    for _ in range(3):
        r = await _sse(env)
        assert r.status == 503 and (await r.json())["code"] == "redis_unavailable"
    assert len(env.app[FEEDS]) == 0


# ---- revocation ------------------------------------------------------------------------


async def _closed(ws: ClientWebSocketResponse, timeout: float) -> tuple[int | None, str]:
    """Read until the server closes: (close code, reason)."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.CLOSE:
                return int(msg.data), str(msg.extra or "")  # the frame's (not a late reply's)
            if msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
                return ws.close_code, ""


async def _goodbye(resp: Any, timeout: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            line = await resp.content.readline()
            assert line, "the stream ended without a goodbye"
            if line.startswith(b"data: ") and b'"goodbye"' in line:
                data = orjson.loads(line[6:])
                assert isinstance(data, dict)
                return data


CHANGES = [
    ("disabled", {"disabled": True}),
    ("demoted", {"role": "viewer"}),
    ("new password", {"password": "another long password"}),
    ("removed", None),
]


@pytest.mark.parametrize(("what", "patch"), CHANGES, ids=[c[0] for c in CHANGES])
async def test_feeds_of_a_changed_user_close_with_4001_at_once(
    make_env: MakeEnv, what: str, patch: dict[str, Any] | None
) -> None:
    env = await make_env()
    events = await env.ws("/ws/events", "staff")
    chat = await env.ws("/ws/chat/kitchen", "staff")
    assert (await recv(events))["type"] == "hello" and (await recv(chat))["type"] == "history"
    sse = await _sse(env, "staff")
    assert sse.status == 200
    bystander = await env.ws("/ws/events", "viewer")
    assert [(await recv(bystander))["type"] for _ in range(2)] == ["hello", "snapshot"]
    started = time.monotonic()
    if patch is None:
        r = await env.client.delete("/api/users/staff", headers=env.auth())
    else:
        r = await env.client.patch("/api/users/staff", json=patch, headers=env.auth())
    assert r.status in (200, 204), await r.text()
    results = await asyncio.gather(_closed(events, 5), _closed(chat, 5), _goodbye(sse, 5))
    elapsed = time.monotonic() - started
    assert results[0] == (4001, "token revoked")
    assert results[1] == (4001, "token revoked")
    assert results[2]["code"] == 4001 and results[2]["reason"] == "token revoked"
    assert elapsed < 2.0, f"{what}: closed after {elapsed:.2f}s; a change made here applies at once"
    metrics = env.app[METRICS].registry
    assert metrics.get_sample_value("robodine_web_feeds_revoked_total") == 3
    await env.event("robot.state", "serve-1", state="still here")
    assert (await recv(bystander))["type"] == "event", "another user's feed stays open"
    await bystander.close()
    sse.close()


async def test_a_change_made_by_another_web_process_closes_feeds_within_auth_cache_s(
    make_env: MakeEnv,
) -> None:
    settings = {"web": {"auth_cache_s": 1.0}}
    here = await make_env(**settings)
    there = await make_env(**settings)  # a second web process on the same database and Redis
    events = await there.ws("/ws/events", "staff")
    chat = await there.ws("/ws/chat/kitchen", "staff")
    assert (await recv(events))["type"] == "hello" and (await recv(chat))["type"] == "history"
    sse = await _sse(there, "staff")
    started = time.monotonic()
    r = await here.client.patch("/api/users/staff", json={"disabled": True}, headers=here.auth())
    assert r.status == 200
    results = await asyncio.gather(_closed(events, 6), _closed(chat, 6), _goodbye(sse, 6))
    elapsed = time.monotonic() - started
    assert results[0][0] == results[1][0] == results[2]["code"] == 4001
    print(f"closed by the other process after {elapsed:.2f}s (auth_cache_s 1.0)")
    assert elapsed < 1.0 + 1.5, f"{elapsed:.2f}s: web.auth_cache_s is 1 s (and a CPU shared)"
    sse.close()


async def test_a_revoked_member_cannot_post_into_a_room(make_env: MakeEnv) -> None:
    """Between the revocation and the close nothing it sends is stored."""
    env = await make_env(web={"auth_cache_s": 60.0})
    chat = await env.ws("/ws/chat/kitchen", "staff")
    assert (await recv(chat))["type"] == "history"
    r = await env.client.patch("/api/users/staff", json={"role": "viewer"}, headers=env.auth())
    assert r.status == 200
    for i in range(5):
        if chat.closed:
            break
        await chat.send_str(orjson.dumps({"content": f"after {i}"}).decode())
    assert (await _closed(chat, 5))[0] == 4001
    assert await env.redis.xlen(chat_stream("kitchen")) == 0


async def test_a_refreshed_token_keeps_its_feed_and_an_ended_token_closes_only_its_own(
    env: WebEnv,
) -> None:
    """Feeds are tracked per token: what a logout will use to end one token's sockets."""
    first = await env.ws("/ws/events", "staff")
    assert (await recv(first))["type"] == "hello"
    r = await env.client.post("/api/auth/refresh", headers=env.auth("staff"))
    fresh = (await r.json())["token"]
    await first.send_str(orjson.dumps({"type": "auth", "token": fresh}).decode())
    while (await recv(first))["type"] != "auth_ok":
        pass
    second = await env.ws("/ws/events", "staff")  # the original token, still valid
    assert (await recv(second))["type"] == "hello"
    tokens, feeds = env.app[TOKENS], env.app[FEEDS]
    assert feeds.end_token(tokens.verify(env.tokens["staff"]).id) == 1  # the second only
    assert (await _closed(second, 3))[0] == 4001
    await first.send_str('{"type": "ping"}')
    assert (await recv(first))["type"] == "pong", "the refreshed feed is tracked by its new token"
    assert feeds.end_token(tokens.verify(fresh).id) == 1
    assert (await _closed(first, 3))[0] == 4001


# ---- the index itself ---------------------------------------------------------------------


def test_leases_are_counted_per_user_and_token_and_released() -> None:
    from config.settings import WebSettings
    from web.http.problems import Problem
    from web.security import Tokens

    tokens = Tokens("k" * 40, 3600)
    feeds = Feeds(WebSettings(max_feeds_per_user=2, max_feeds=3), WebMetrics())
    _, alice = tokens.make("alice", Role.STAFF, 1)
    _, alice2 = tokens.make("alice", Role.STAFF, 1, now=time.time() + 1)
    _, bob = tokens.make("bob", Role.VIEWER, 4)
    a1, a2 = feeds.admit(alice, "ws"), feeds.admit(alice2, "sse")
    with pytest.raises(Problem) as exc:
        feeds.admit(alice, "chat")
    assert exc.value.status == 429
    b1 = feeds.admit(bob, "ws")
    with pytest.raises(Problem) as exc:
        feeds.admit(bob, "ws")
    assert exc.value.status == 503
    assert feeds.sweep({"alice": (Role.STAFF, False, 1), "bob": (Role.VIEWER, False, 5)}) == 1
    assert b1.ended == (4001, "token revoked") and a1.ended is None
    assert feeds.sweep({"alice": None}) == 2  # removed
    for lease in (a1, a2, b1):
        feeds.release(lease)
    assert len(feeds) == 0 and feeds.of_user("alice") == 0
    assert feeds.end_token(alice.id) == 0


async def _problem_schema(env: WebEnv) -> jsonschema.Draft202012Validator:
    doc = await (await env.client.get("/api/openapi.json")).json()
    return jsonschema.Draft202012Validator(
        {"components": doc["components"], "$ref": "#/components/schemas/ProblemOut"}
    )


async def _until(check: Any, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - polled: the server notices a close on its own
            await asyncio.sleep(0.02)
