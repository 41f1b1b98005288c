"""GET /api/events: pages by stream id, filters, polling with next."""

from __future__ import annotations

from protocol.streams import EVENTS, Level
from tests.support.web import WebEnv


async def test_newest_page_then_older_pages(env: WebEnv) -> None:
    ids = [await env.event("robot.state", "serve-1", i=i) for i in range(25)]
    r = await env.client.get("/api/events", headers=env.auth("viewer"), params={"limit": "10"})
    page = await r.json()
    assert [i["id"] for i in page["items"]] == ids[15:]
    assert page["next"] == ids[-1] and page["before"] == ids[15]
    r = await env.client.get(
        "/api/events", headers=env.auth("viewer"), params={"limit": "10", "before": page["before"]}
    )
    older = await r.json()
    assert [i["id"] for i in older["items"]] == ids[5:15]
    r = await env.client.get(
        "/api/events", headers=env.auth("viewer"), params={"limit": "10", "before": older["before"]}
    )
    oldest = await r.json()
    assert [i["id"] for i in oldest["items"]] == ids[:5] and oldest["before"] is None


async def test_forward_paging_and_polling_with_next(env: WebEnv) -> None:
    ids = [await env.event("robot.state", "serve-1", i=i) for i in range(5)]
    r = await env.client.get(
        "/api/events", headers=env.auth(), params={"since": ids[1], "limit": "2"}
    )
    page = await r.json()
    assert [i["id"] for i in page["items"]] == ids[2:4] and page["next"] == ids[3]
    r = await env.client.get("/api/events", headers=env.auth(), params={"since": page["next"]})
    page = await r.json()
    assert [i["id"] for i in page["items"]] == ids[4:]
    r = await env.client.get("/api/events", headers=env.auth(), params={"since": page["next"]})
    page = await r.json()
    assert page["items"] == [] and page["next"] == ids[4]  # nothing new: poll again with the same
    new = await env.event("robot.state", "serve-1")
    r = await env.client.get("/api/events", headers=env.auth(), params={"since": page["next"]})
    assert [i["id"] for i in (await r.json())["items"]] == [new]


async def test_filters_and_the_cursor_moving_past_skipped_entries(env: WebEnv) -> None:
    a = await env.event("command.failed", "serve-2", Level.WARNING, command="c1", reason="offline")
    for _ in range(5):
        await env.event("robot.state", "serve-1")
    b = await env.event("command.acked", "serve-2", command="c2")
    r = await env.client.get(
        "/api/events", headers=env.auth(), params=[("robot", "serve-2"), ("type", "command.*")]
    )
    page = await r.json()
    assert [i["id"] for i in page["items"]] == [a, b]
    assert page["items"][0]["event"]["data"] == {"command": "c1", "reason": "offline"}
    r = await env.client.get(
        "/api/events",
        headers=env.auth(),
        params={"since": a, "robot": "serve-2", "level": "warning"},
    )
    page = await r.json()
    assert page["items"] == [] and page["next"] == b and page["scanned"] == 6


async def test_since_as_unix_milliseconds(env: WebEnv) -> None:
    a = await env.event("robot.state", "serve-1")
    ms = a.split("-")[0]
    r = await env.client.get("/api/events", headers=env.auth(), params={"since": ms})
    assert [i["id"] for i in (await r.json())["items"]] == [a]


async def test_a_malformed_entry_is_skipped_not_a_500(env: WebEnv) -> None:
    await env.redis.xadd(EVENTS, {"junk": "1"})
    good = await env.event("robot.state", "serve-1")
    r = await env.client.get("/api/events", headers=env.auth())
    assert r.status == 200
    assert [i["id"] for i in (await r.json())["items"]] == [good]


async def test_bad_event_queries(env: WebEnv) -> None:
    for params, field in (
        ({"since": "abc"}, "since"),
        ({"before": "1-2-3"}, "before"),
        ({"limit": "5000"}, "limit"),
        ({"level": "loud"}, "level[0]"),
        ({"type": "Robot State"}, "type[0]"),
        ({"since": "1-0", "before": "2-0"}, "before"),
    ):
        r = await env.client.get("/api/events", headers=env.auth(), params=params)
        assert r.status == 422, params
        assert (await r.json())["field"] == field
