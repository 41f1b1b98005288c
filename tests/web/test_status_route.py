"""GET /api/status: admins only; the document `robodine status --json` prints."""

from __future__ import annotations

from tests.support.web import WebEnv


async def test_admins_get_the_whole_document(env: WebEnv) -> None:
    r = await env.client.get("/api/status", headers=env.auth("staff"))
    assert r.status == 403
    assert (await env.client.get("/api/status")).status == 401
    r = await env.client.get("/api/status", headers=env.auth("admin"))
    assert r.status == 200
    doc = await r.json()
    assert list(doc["sections"]) == [
        "redis",
        "broker",
        "gateway",
        "cluster",
        "web",
        "robots",
        "spool",
        "streams",
        "projector",
        "database",
        "outbox",
        "errors",
    ]
    s = doc["sections"]
    assert s["web"] == {
        "state": "ok",
        "summary": "web-test: answering",
        "problems": [],
        "details": {"name": "web-test"},
    }
    assert s["redis"]["state"] in ("ok", "degraded")  # the test server runs without a snapshot
    assert s["gateway"]["state"] == "down"  # no gateway in this test
    assert s["cluster"] == {
        "state": "off",
        "summary": "one gateway per Redis (cluster.enabled = false)",
        "problems": [],
        "details": {},
    }
    assert doc["status"] == "down"
    assert s["database"]["details"]["revision"] == s["database"]["details"]["head"]
