from __future__ import annotations

from tests.support.web import WebEnv, recv


async def test_health_and_login(env: WebEnv) -> None:
    r = await env.client.get("/health")
    assert r.status == 200
    body = await r.json()
    assert body["status"] == "ok"
    r = await env.client.get("/ready")
    assert r.status == 200, await r.text()
    r = await env.client.get("/api/auth/me", headers=env.auth("staff"))
    assert (await r.json())["username"] == "staff"


async def test_ws_events(env: WebEnv) -> None:
    sid = await env.event("robot.state", "serve-1", state="idle", previous="charging")
    ws = await env.ws("/ws/events")
    hello = await recv(ws)
    assert hello["type"] == "hello"
    snap = await recv(ws)
    assert snap["type"] == "snapshot"
    assert [i["id"] for i in snap["items"]] == [sid]
    sid2 = await env.event("robot.state", "serve-1", state="assigned", previous="idle")
    live = await recv(ws)
    assert live["type"] == "event" and live["id"] == sid2
    await ws.close()
