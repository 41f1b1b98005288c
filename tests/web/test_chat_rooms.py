"""Chat rooms admins add, rename and archive through the API (SQL), on every web process."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import WSServerHandshakeError

from tests.support.web import MakeEnv, WebEnv, closed_with, recv, recv_until
from tests.waiting import wait_for


async def rooms(env: WebEnv, who: str = "viewer", **params: Any) -> dict[str, dict[str, Any]]:
    r = await env.client.get("/api/chat/rooms", headers=env.auth(who), params=params)
    assert r.status == 200, await r.text()
    return {room["name"]: room for room in (await r.json())["items"]}


async def test_a_room_added_on_one_process_is_used_on_another(
    make_env: MakeEnv, sqlite_url: str
) -> None:
    a = await make_env(sqlite_url)
    b = await make_env(sqlite_url)
    r = await a.client.post(
        "/api/chat/rooms",
        headers=a.auth(),
        json={"name": "bar", "title": "Bar", "write_roles": ["admin", "staff"]},
    )
    assert r.status == 201, await r.text()
    assert r.headers["Location"] == "/ws/chat/bar"
    created = await r.json()
    assert (
        created["read_roles"] == ["admin", "staff", "viewer"] and created["created_by"] == "admin"
    )
    listed = await rooms(a)
    assert listed["bar"] == {
        "name": "bar", "title": "Bar", "can_post": False, "max_chars": 2000, "source": "api",
        "archived": False,
    }  # fmt: skip
    assert listed["kitchen"]["source"] == "config"

    async def on_b() -> bool:
        return "bar" in await rooms(b)

    await wait_for(on_b, timeout=10)
    reader = await b.ws("/ws/chat/bar", "viewer")
    assert (await recv(reader))["type"] == "history"
    writer = await a.ws("/ws/chat/bar", "staff")
    assert (await recv(writer))["type"] == "history"
    await writer.send_json({"content": "two negronis"})
    msg = await recv_until(reader, "message", timeout=10)
    assert msg["content"] == "two negronis" and msg["room"] == "bar"
    assert msg["username"] == "staff"
    await writer.close()
    await reader.close()


async def test_rename_archive_and_reopen(env: WebEnv) -> None:
    r = await env.client.post("/api/chat/rooms", headers=env.auth(), json={"name": "terrace"})
    assert r.status == 201
    member = await env.ws("/ws/chat/terrace", "staff")
    assert (await recv(member))["type"] == "history"
    await member.send_json({"content": "heaters on"})
    await recv_until(member, "message")
    r = await env.client.patch(
        "/api/chat/rooms/terrace", headers=env.auth(), json={"title": "Terrace (summer)"}
    )
    assert r.status == 200 and (await r.json())["title"] == "Terrace (summer)"
    assert (await rooms(env))["terrace"]["title"] == "Terrace (summer)"
    r = await env.client.patch(
        "/api/chat/rooms/terrace", headers=env.auth(), json={"archived": True}
    )
    assert r.status == 200 and (await r.json())["archived"] is True
    assert await closed_with(member) == 4004
    assert "terrace" not in await rooms(env)
    with pytest.raises(WSServerHandshakeError) as exc:
        await env.ws("/ws/chat/terrace", "staff")
    assert exc.value.status == 404
    archived = await rooms(env, "admin", archived="true")
    assert archived["terrace"]["archived"] is True
    r = await env.client.get(
        "/api/chat/rooms", headers=env.auth("staff"), params={"archived": "true"}
    )
    assert r.status == 403
    r = await env.client.patch(
        "/api/chat/rooms/terrace", headers=env.auth(), json={"archived": False}
    )
    assert r.status == 200
    back = await env.ws("/ws/chat/terrace", "viewer")
    history = await recv(back)
    assert [m["content"] for m in history["messages"]] == ["heaters on"], "messages are kept"
    await back.close()


async def test_what_is_refused(env: WebEnv) -> None:
    r = await env.client.post("/api/chat/rooms", headers=env.auth(), json={"name": "kitchen"})
    assert r.status == 409 and (await r.json())["field"] == "name"
    r = await env.client.patch(
        "/api/chat/rooms/kitchen", headers=env.auth(), json={"title": "Cuisine"}
    )
    assert r.status == 409, "the config's rooms are changed in the config"
    r = await env.client.post("/api/chat/rooms", headers=env.auth(), json={"name": "bar"})
    assert r.status == 201
    r = await env.client.post("/api/chat/rooms", headers=env.auth(), json={"name": "bar"})
    assert r.status == 409
    for bad in (
        {"name": "Bar Room"},
        {"name": "x", "read_roles": []},
        {"name": "x", "read_roles": ["cook"]},
    ):
        r = await env.client.post("/api/chat/rooms", headers=env.auth(), json=bad)
        assert r.status == 422, bad
    r = await env.client.post("/api/chat/rooms", headers=env.auth("staff"), json={"name": "y"})
    assert r.status == 403
    r = await env.client.patch("/api/chat/rooms/nowhere", headers=env.auth(), json={"title": "x"})
    assert r.status == 404
