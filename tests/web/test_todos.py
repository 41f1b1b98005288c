"""Todos over REST on SQLite and PostgreSQL, every change pushed live to /ws/todos."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.web import MakeEnv, WebEnv, recv, recv_until


@pytest.fixture
async def denv(make_env: MakeEnv, any_db_url: str) -> WebEnv:
    return await make_env(any_db_url)


async def test_crud_and_live_push(denv: WebEnv) -> None:
    env = denv
    ws = await env.ws("/ws/todos", "viewer")
    assert (await recv(ws))["type"] == "hello"
    snap = await recv(ws)
    assert snap["type"] == "snapshot" and snap["items"] == []

    r = await env.client.post(
        "/api/todos",
        headers=env.auth("staff"),
        json={
            "title": "Restock napkins",
            "assignee": "staff",
            "due_at": "2030-01-01T10:00:00+02:00",
        },
    )
    assert r.status == 201, await r.text()
    todo = await r.json()
    assert todo["title"] == "Restock napkins" and todo["created_by"] == "staff"
    assert (
        todo["due_at"] == "2030-01-01T08:00:00Z" and todo["version"] == 1 and todo["done"] is False
    )
    pushed = await recv(ws)
    assert pushed["type"] == "todo" and pushed["op"] == "created" and pushed["todo"] == todo
    assert pushed["by"] == "staff"

    r = await env.client.patch(
        f"/api/todos/{todo['id']}", headers=env.auth("admin"), json={"done": True, "version": 1}
    )
    assert r.status == 200
    updated = await r.json()
    assert updated["done"] is True and updated["version"] == 2 and updated["title"] == todo["title"]
    pushed = await recv(ws)
    assert pushed["op"] == "updated" and pushed["todo"]["done"] is True and pushed["by"] == "admin"

    r = await env.client.patch(
        f"/api/todos/{todo['id']}",
        headers=env.auth("admin"),
        json={"title": "stale edit", "version": 1},
    )
    assert r.status == 409
    body = await r.json()
    assert (
        body["code"] == "conflict"
        and body["field"] == "version"
        and body["current"]["version"] == 2
    )

    r = await env.client.get("/api/todos", headers=env.auth("viewer"), params={"done": "true"})
    listing = await r.json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == todo["id"]
    r = await env.client.get("/api/todos", headers=env.auth("viewer"), params={"done": "false"})
    assert (await r.json())["total"] == 0

    r = await env.client.delete(f"/api/todos/{todo['id']}", headers=env.auth("staff"))
    assert r.status == 204
    pushed = await recv(ws)
    assert pushed["op"] == "deleted" and pushed["todo"]["id"] == todo["id"]
    r = await env.client.get(f"/api/todos/{todo['id']}", headers=env.auth("staff"))
    assert r.status == 404 and (await r.json())["code"] == "not_found"
    await ws.close()


async def test_reconnect_with_since_replays_changes(denv: WebEnv) -> None:
    env = denv
    ws = await env.ws("/ws/todos")
    await recv(ws)
    snap = await recv(ws)
    await ws.close()
    for title in ("a", "b"):
        r = await env.client.post("/api/todos", headers=env.auth("staff"), json={"title": title})
        assert r.status == 201
    ws = await env.ws("/ws/todos", since=snap["id"])
    hello = await recv(ws)
    assert hello["resumed"] is True
    got = [await recv(ws), await recv(ws)]
    assert [g["todo"]["title"] for g in got] == ["a", "b"]
    await ws.close()
    ws = await env.ws("/ws/todos")
    await recv(ws)
    snap = await recv_until(ws, "snapshot")
    assert [t["title"] for t in snap["items"]] == ["a", "b"]
    await ws.close()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "title"),
        ({"title": ""}, 422, "title"),
        ({"title": "x" * 201}, 422, "title"),
        ({"title": 5}, 422, "title"),
        ({"title": "t", "priority": 1}, 422, "priority"),
        ({"title": "t", "due_at": "2030-01-01T10:00:00"}, 422, "due_at"),
        ({"title": "t", "assignee": "Bad Name"}, 422, "assignee"),
        ({"title": "t", "done": "yes"}, 422, "done"),
    ],
)
async def test_invalid_todos_are_422_with_the_field(
    env: WebEnv, body: dict[str, Any], status: int, field: str
) -> None:
    r = await env.client.post("/api/todos", headers=env.auth("staff"), json=body)
    assert r.status == status
    problem = await r.json()
    assert problem["field"] == field, problem


async def test_writes_need_staff_or_admin(env: WebEnv) -> None:
    r = await env.client.post("/api/todos", headers=env.auth("viewer"), json={"title": "t"})
    assert r.status == 403
    assert (await r.json())["code"] == "forbidden"
    r = await env.client.get("/api/todos", headers=env.auth("viewer"))
    assert r.status == 200
    r = await env.client.get("/api/todos")
    assert r.status == 401


async def test_bad_ids_and_queries(env: WebEnv) -> None:
    r = await env.client.get("/api/todos/abc", headers=env.auth())
    assert r.status == 404
    r = await env.client.get("/api/todos/0", headers=env.auth())
    assert r.status == 404
    r = await env.client.get("/api/todos", headers=env.auth(), params={"limit": "0"})
    assert r.status == 422 and (await r.json())["field"] == "limit"
    r = await env.client.patch("/api/todos/999", headers=env.auth(), json={"done": True})
    assert r.status == 404
