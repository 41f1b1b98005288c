"""Integration keys: a POS places an order and follows /ws/orders with its key, until revoked."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from sqlalchemy import select

from protocol.streams import EVENTS
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.replies import RawEntries
from tests.support.web import ORIGIN, MakeEnv, WebEnv, closed_with, in_process, recv_until
from tests.waiting import wait_for
from tests.web.shop import Shop, open_shop
from web.db.integrations import Integration
from web.http.integration_auth import UNKNOWN_KEY
from web.keys import DB, INTEGRATIONS

POS_ROUTES = ["/api/orders", "/ws/orders", "/api/tables", "/api/menu"]


async def add(env: WebEnv, name: str = "pos", **body: Any) -> dict[str, Any]:
    r = await env.client.post(
        "/api/integrations", headers=env.auth(), json={"name": name, "role": "staff", **body}
    )
    assert r.status == 201, await r.text()
    assert r.headers["Location"] == f"/api/integrations/{name}"
    out = await r.json()
    assert isinstance(out, dict)
    return out


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def audit_events(env: WebEnv) -> list[dict[str, Any]]:
    out = []
    for _, fields in cast(RawEntries, await env.redis.xrange(EVENTS)):
        if fields[b"type"] == b"audit":
            out.append(orjson.loads(fields[b"data"]))
    return out


@pytest.mark.integration
async def test_a_pos_places_an_order_follows_it_and_is_revoked(
    make_env: MakeEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)):
        await _pos_flow(make_env)


async def _pos_flow(make_env: MakeEnv) -> None:
    env = await open_shop(make_env)
    shop = await Shop(env).load()
    created = await add(env, routes=POS_ROUTES, description="the till")
    key = created["key"]
    assert key.startswith("rdk_" + created["prefix"] + "_") and created["active"] is True
    r = await env.client.get("/api/integrations/pos", headers=env.auth())
    listed = await r.json()
    assert "key" not in listed and listed["routes"] == sorted(POS_ROUTES)
    assert listed["last_used_at"] is None

    ws = await env.client.ws_connect("/ws/orders", headers={**bearer(key), "Origin": ORIGIN})
    hello = await recv_until(ws, "hello")
    assert hello["username"] == "integration:pos" and hello["role"] == "staff"
    await recv_until(ws, "snapshot")
    table = shop.tables["T1"]["id"]
    r = await env.client.post(
        "/api/orders",
        headers=bearer(key),
        json={"table_id": table, "items": [{"menu_item_id": shop.item("Cola"), "quantity": 1}]},
    )
    assert r.status == 201, await r.text()
    order = (await r.json())["id"]
    frame = await recv_until(ws, "order", timeout=10)  # the gateway took it
    assert frame["order"] == order and frame["status"] == "placed"

    audit = [a for a in await audit_events(env) if a["method"] == "POST"]
    assert audit == [
        {
            "actor": "integration:pos",
            "integration": "pos",
            "role": "staff",
            "method": "POST",
            "path": "/api/orders",
            "route": "/api/orders",
            "status": 201,
            "request_id": audit[0]["request_id"],
        }
    ]
    assert audit[0]["request_id"] == r.headers["X-Request-ID"]

    r = await env.client.get("/api/integrations/pos", headers=env.auth())
    used = await r.json()
    assert used["last_used_at"] is not None and used["last_used_address"] == "127.0.0.1"

    r = await env.client.post("/api/integrations/pos/revoke", headers=env.auth())
    assert r.status == 200 and (await r.json())["active"] is False
    assert await closed_with(ws) == 4001
    r = await env.client.get("/api/orders", headers=bearer(key))
    assert r.status == 401
    problem = await r.json()
    assert problem["code"] == "invalid_token" and problem["detail"] == UNKNOWN_KEY
    r = await env.client.get("/ws/orders", params={"token": key})
    assert r.status == 401
    r = await env.client.post("/api/integrations/pos/revoke", headers=env.auth())
    assert r.status == 200, "revoking again: the same answer"


async def test_unknown_wrong_and_revoked_keys_get_the_same_401(env: WebEnv) -> None:
    created = await add(env)
    key = created["key"]
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    await env.client.post("/api/integrations/pos/revoke", headers=env.auth())
    details = set()
    for k in (key, wrong, "rdk_0123456789ab_" + "x" * 43, "rdk_nonsense"):
        r = await env.client.get("/api/auth/me", headers=bearer(k))
        assert r.status == 401, k
        details.add((await r.json())["detail"])
        assert r.headers["WWW-Authenticate"].startswith('Bearer realm="robodine"')
    assert details == {UNKNOWN_KEY}


async def test_scope_and_rate_limit(env: WebEnv) -> None:
    key = (await add(env, robots=["serve-1"], routes=["/api/robots"], rate_per_min=5))["key"]
    r = await env.client.post(
        "/api/robots/serve-1/commands", headers=bearer(key), json={"action": "dock"}
    )
    assert r.status == 202, await r.text()
    r = await env.client.post(
        "/api/robots/serve-2/commands", headers=bearer(key), json={"action": "dock"}
    )
    assert r.status == 403
    problem = await r.json()
    assert problem["code"] == "out_of_scope" and problem["field"] == "robot_id"
    r = await env.client.get("/api/orders", headers=bearer(key))
    assert r.status == 403 and (await r.json())["code"] == "out_of_scope"
    r = await env.client.get("/api/robots/serve-1", headers=bearer(key))
    assert r.status == 200
    statuses = []
    for _ in range(3):
        r = await env.client.get("/api/robots", headers=bearer(key))
        statuses.append(r.status)
    assert statuses == [200, 429, 429], "five a minute: the sixth and on wait"
    problem = await r.json()
    assert problem["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    r = await env.client.get("/api/robots", headers=env.auth())
    assert r.status == 200, "people have no such limit"
    refused = [a for a in await audit_events(env) if a["status"] == 403]
    assert [a["path"] for a in refused] == ["/api/robots/serve-2/commands"]
    r = await env.client.get("/api/robots/serve-1/commands/" + "a" * 32, headers=bearer(key))
    assert r.status == 429
    r = await env.client.get("/api/robots/serve-1/commands", headers=env.auth())
    assert (await r.json())["items"][0]["source"] == "integration:pos"


async def test_a_key_cannot_manage_keys_log_out_or_change_a_password(env: WebEnv) -> None:
    key = (await add(env, "ops", role="admin"))["key"]
    r = await env.client.get("/api/integrations", headers=bearer(key))
    assert r.status == 403
    sse = await env.client.get("/api/stream/events", params={"token": key})
    assert sse.status == 200, "a key works on SSE too"
    lines: list[str] = []
    while not any(line.startswith("data: ") for line in lines):
        lines.append((await sse.content.readline()).decode())
    assert "event: hello\n" in lines and '"username":"integration:ops"' in lines[-1]
    sse.close()
    r = await env.client.get("/api/users", headers=bearer(key))
    assert r.status == 200, "an admin key is an admin elsewhere"
    for path, body in (
        ("/api/auth/logout", None),
        ("/api/auth/refresh", None),
        ("/api/auth/password", {"old_password": "x", "new_password": "y" * 12}),
    ):
        r = await env.client.post(path, headers=bearer(key), json=body)
        assert r.status == 403, path
    r = await env.client.post(
        "/api/integrations", headers=env.auth(), json={"name": "ops", "role": "viewer"}
    )
    assert r.status == 409
    r = await env.client.post(
        "/api/integrations", headers=env.auth("staff"), json={"name": "x", "role": "viewer"}
    )
    assert r.status == 403
    for bad in ({"routes": ["/etc/passwd"]}, {"robots": ["no spaces"]}, {"rate_per_min": 0}):
        r = await env.client.post(
            "/api/integrations", headers=env.auth(), json={"name": "bad", "role": "viewer", **bad}
        )
        assert r.status == 422, bad


async def test_last_use_is_written_to_sql(env: WebEnv) -> None:
    key = (await add(env))["key"]
    assert (await env.client.get("/api/robots", headers=bearer(key))).status == 200
    await env.app[INTEGRATIONS].flush()
    async with env.app[DB]() as s:
        row = await s.scalar(select(Integration).where(Integration.name == "pos"))
    assert row is not None and row.last_used_at is not None
    assert row.last_used_address == "127.0.0.1" and len(row.key_hash) == 64
    assert key not in (row.key_hash, row.prefix)


async def test_a_revocation_reaches_another_web_process(make_env: MakeEnv, sqlite_url: str) -> None:
    a = await make_env(sqlite_url)
    b = await make_env(sqlite_url)
    key = (await add(a))["key"]
    ws = await b.client.ws_connect("/ws/events", headers={**bearer(key), "Origin": ORIGIN})
    await recv_until(ws, "snapshot")
    assert (await b.client.get("/api/robots", headers=bearer(key))).status == 200
    await a.client.post("/api/integrations/pos/revoke", headers=a.auth())
    assert await closed_with(ws, timeout=10) == 4001

    async def refused() -> bool:
        return (await b.client.get("/api/robots", headers=bearer(key))).status == 401

    await wait_for(refused, timeout=10)


def test_the_cli_adds_lists_and_revokes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3"
    argv = ["integrations", "add", "bms", "--role", "staff", "--robot", "serve-1"]
    assert in_process(monkeypatch, db, *argv, "--route", "POST /api/robots") == 0
    out = capsys.readouterr().out
    key = out.strip().splitlines()[-1]
    assert key.startswith("rdk_") and "'bms' added with role staff" in out
    assert in_process(monkeypatch, db, *argv) == 1
    assert "already exists" in capsys.readouterr().err
    assert in_process(monkeypatch, db, "integrations", "add", "BAD", "--role", "staff") == 2
    assert in_process(monkeypatch, db, "integrations", "list") == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("bms\tstaff\tactive\t") and key not in line
    assert "robots=serve-1" in line and "routes=POST /api/robots" in line
    assert in_process(monkeypatch, db, "integrations", "revoke", "bms") == 0
    assert in_process(monkeypatch, db, "integrations", "revoke", "nobody") == 1
    assert in_process(monkeypatch, db, "integrations", "list") == 0
    assert "\trevoked\t" in capsys.readouterr().out
