"""Chat rooms: history, live messages, sender from the login, validation, spam, presence, relay."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import orjson
import pytest
from aiohttp import ClientWebSocketResponse, WSServerHandshakeError

from protocol.streams import Level, chat_stream
from tests.support.replies import RawEntries
from tests.support.web import MakeEnv, WebEnv, closed_with, recv, recv_until


async def join(
    env: WebEnv, room: str = "kitchen", who: str = "staff", **params: str
) -> tuple[ClientWebSocketResponse, dict[str, Any]]:
    ws = await env.ws(f"/ws/chat/{room}", who, **params)
    history = await recv(ws)
    assert history["type"] == "history"
    return ws, history


async def send(ws: ClientWebSocketResponse, content: object, **extra: object) -> None:
    await ws.send_str(orjson.dumps({"content": content, **extra}).decode())


async def test_history_is_the_last_50_then_live_messages(env: WebEnv) -> None:
    for i in range(60):
        await env.redis.xadd(
            chat_stream("kitchen"),
            {"username": "old", "content": f"m{i}", "ts": time.time(), "role": "staff"},
        )
    ws, history = await join(env)
    msgs = history["messages"]
    assert [m["content"] for m in msgs] == [f"m{i}" for i in range(10, 60)]
    assert set(msgs[0]) >= {"id", "room", "username", "content", "timestamp"}
    assert msgs[0]["room"] == "kitchen" and msgs[0]["timestamp"].endswith("Z")
    assert history["id"] == msgs[-1]["id"]
    await send(ws, "two portions of soup ready")
    msg = await recv_until(ws, "message")
    assert msg["username"] == "staff" and msg["content"] == "two portions of soup ready"
    assert msg["room"] == "kitchen" and msg["id"] > msgs[-1]["id"]
    stored = cast(RawEntries, await env.redis.xrevrange(chat_stream("kitchen"), count=1))
    assert stored[0][1][b"username"] == b"staff"
    await ws.close()


async def test_the_sender_is_the_login_not_the_message(env: WebEnv) -> None:
    ws, _ = await join(env)
    await send(ws, "hi", username="admin")
    err = await recv_until(ws, "error")
    assert err["code"] == "bad_message" and err["field"] == "username"
    await ws.send_str('{"content": "hello", "type": "message"}')
    err = await recv_until(ws, "error")
    assert err["field"] == "type"
    await ws.close()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("", "invalid_content"),
        ("   \n\t", "invalid_content"),
        ("x" * 2001, "invalid_content"),
        ("bell\x07", "invalid_content"),
        ("nul\x00", "invalid_content"),
        ("rtl \u202e override", "invalid_content"),
        (42, "bad_message"),
        (None, "bad_message"),
    ],
)
async def test_bad_content_is_refused_with_a_reason(
    env: WebEnv, content: object, code: str
) -> None:
    ws, _ = await join(env)
    await send(ws, content)
    err = await recv_until(ws, "error")
    assert err["code"] == code and err["field"] == "content"
    assert await env.redis.xlen(chat_stream("kitchen")) == 0
    await ws.close()


async def test_newlines_and_tabs_are_content(env: WebEnv) -> None:
    ws, _ = await join(env)
    await send(ws, "line one\r\nline\ttwo")
    msg = await recv_until(ws, "message")
    assert msg["content"] == "line one\nline\ttwo"
    await ws.close()


async def test_spam_is_rate_limited_per_user_then_closed(make_env: MakeEnv) -> None:
    env = await make_env(chat={"rate_per_s": 0.5, "burst": 3, "max_strikes": 4})
    ws, _ = await join(env)
    other, _ = await join(env, who="admin")  # another user keeps their own allowance
    for i in range(3):
        await send(ws, f"ok {i}")
    await send(other, "admin is fine")
    limited: list[dict[str, Any]] = []
    for i in range(3):
        await send(ws, f"spam {i}")
    messages = []
    while len(limited) < 3:
        f = await recv(ws)
        if f["type"] == "error":
            limited.append(f)
        elif f["type"] == "message":
            messages.append(f["content"])
    assert all(e["code"] == "rate_limited" and e["retry_after"] > 0 for e in limited)
    await send(ws, "still spamming")
    assert await closed_with(ws) == 1008
    contents = [
        e[1][b"content"].decode()
        for e in cast(RawEntries, await env.redis.xrange(chat_stream("kitchen")))
    ]
    assert sorted(contents) == ["admin is fine", "ok 0", "ok 1", "ok 2"]
    await other.close()


async def test_viewers_read_but_do_not_post(env: WebEnv) -> None:
    ws, _ = await join(env, who="viewer")
    await send(ws, "can I?")
    err = await recv_until(ws, "error")
    assert err["code"] == "forbidden"
    await ws.close()


async def test_managers_room_is_for_admins(env: WebEnv) -> None:
    with pytest.raises(WSServerHandshakeError) as exc:
        await env.ws("/ws/chat/managers", "staff")
    assert exc.value.status == 403
    ws, _ = await join(env, "managers", "admin")
    await ws.close()


async def test_unknown_room_and_bad_parameters(env: WebEnv) -> None:
    r = await env.client.get("/ws/chat/attic", params={"token": env.tokens["staff"]})
    assert r.status == 404 and (await r.json())["code"] == "unknown_room"
    r = await env.client.get(
        "/ws/chat/kitchen", params={"token": env.tokens["staff"], "since": "soon"}
    )
    assert r.status == 422 and (await r.json())["field"] == "since"
    r = await env.client.get("/ws/chat/kitchen", params={"token": env.tokens["staff"], "x": "1"})
    assert r.status == 422 and (await r.json())["field"] == "x"


async def test_presence_shows_who_is_in_the_room(env: WebEnv) -> None:
    a, _ = await join(env, who="staff")
    p = await recv_until(a, "presence")
    assert [u["username"] for u in p["users"]] == ["staff"]
    b, _ = await join(env, who="admin")
    p = await recv_until(a, "presence")
    assert [(u["username"], u["role"]) for u in p["users"]] == [
        ("admin", "admin"),
        ("staff", "staff"),
    ]
    await b.close()
    p = await recv_until(a, "presence")
    assert [u["username"] for u in p["users"]] == ["staff"]
    await a.close()


async def test_two_web_processes_share_a_room(make_env: MakeEnv) -> None:
    one = await make_env()
    two = await make_env(users=False)
    two.tokens = one.tokens  # the same users table would be shared in production
    a, _ = await join(one, who="staff")
    b, _ = await join(two, who="admin")
    p = await recv_until(a, "presence")
    while len(p["users"]) < 2:
        p = await recv_until(a, "presence")
    assert {u["username"] for u in p["users"]} == {"staff", "admin"}
    await send(a, "from process one")
    first = await recv_until(a, "message")  # two processes' posts have no order of their own
    await send(b, "from process two")
    got_a = [first["content"], (await recv_until(a, "message"))["content"]]
    got_b = [(await recv_until(b, "message"))["content"] for _ in range(2)]
    assert got_a == got_b == ["from process one", "from process two"]
    await a.close()
    await b.close()


async def test_reconnect_with_since_gets_missed_messages_only(env: WebEnv) -> None:
    a, _ = await join(env, who="admin")
    await send(a, "first")
    first = await recv_until(a, "message")
    await a.close()
    b, _ = await join(env, who="staff")
    await send(b, "while you were away")
    await recv_until(b, "message")
    a, history = await join(env, who="admin", since=first["id"])
    assert history["resumed"] is True and history["messages"] == []
    missed = await recv_until(a, "message")
    assert missed["content"] == "while you were away"
    await a.close()
    await b.close()


async def test_robot_alarms_are_relayed_once_across_processes(make_env: MakeEnv) -> None:
    one = await make_env()
    two = await make_env(users=False)
    ws, _ = await join(one, "floor", "staff")
    await one.event("robot.connection", "serve-1", Level.WARNING, state="stale", previous="online")
    await one.event("robot.state", "serve-1", Level.INFO, state="idle")  # info: not relayed
    await one.event("robot.event", "serve-2", Level.ALARM, name="bumper", data={"side": "left"})
    first = await recv_until(ws, "message")
    second = await recv_until(ws, "message")
    assert first["username"] == "robodine" and first["system"] is True
    assert first["content"] == "Warning · serve-1: connection online → stale"
    assert second["content"] == "Alarm · serve-2: bumper (side left)"
    # The event itself, for clients that word it in their own language.
    assert first["event"]["type"] == "robot.connection" and first["event"]["level"] == "warning"
    assert (first["event"]["robot"], first["event"]["data"]["state"]) == ("serve-1", "stale")
    assert second["event"]["data"] == {"name": "bumper", "data": {"side": "left"}}
    await one.event("robot.state", "serve-5", Level.ALARM, state="estop", previous="en_route")
    await one.event("robot.event", "serve-5", Level.ALARM, name="estop", data={"task": None})
    third, fourth = await recv_until(ws, "message"), await recv_until(ws, "message")
    assert third["content"] == "Alarm · serve-5: en route → e-stop"  # words, not state ids
    assert fourth["content"] == "Alarm · serve-5: e-stop"  # no JSON, no nulls
    again, history = await join(one, "floor", "staff")
    await again.close()
    assert [m["event"]["type"] for m in history["messages"]] == [
        "robot.connection",
        "robot.event",
        "robot.state",
        "robot.event",
    ]
    await asyncio.sleep(0.3)
    entries = cast(RawEntries, await one.redis.xrange(chat_stream("floor")))
    assert len(entries) == 4, "each event posted once although two processes read it"
    await ws.close()
    del two


async def test_token_refresh_works_on_chat_sockets(env: WebEnv) -> None:
    ws, _ = await join(env)
    fresh = await env.login("staff")
    await ws.send_str(orjson.dumps({"type": "auth", "token": fresh}).decode())
    assert (await recv_until(ws, "auth_ok"))["type"] == "auth_ok"
    await send(ws, "still here")
    assert (await recv_until(ws, "message"))["content"] == "still here"
    await ws.close()
