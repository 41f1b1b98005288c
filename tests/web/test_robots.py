"""Robots REST and commands: what the web reads from rd:robot:{id} and writes to rd:commands."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from protocol.streams import COMMANDS, CommandRecord, from_fields
from tests.support.clock import FakeClock
from tests.support.replies import RawEntries
from tests.support.web import MakeEnv, WebEnv
from web.keys import USER_CACHE
from web.robots.routes import LIST_MAX_AGE_S


async def test_robot_list_merges_registry_and_snapshots(env: WebEnv) -> None:
    await env.snapshot(
        "serve-1",
        kind="serving",
        connection="online",
        state="idle",
        battery=71.5,
        x=1.0,
        y=2.0,
        seq=9,
        firmware="2.1",
    )
    r = await env.client.get("/api/robots", headers=env.auth("viewer"))
    assert r.status == 200
    items = {i["id"]: i for i in (await r.json())["items"]}
    assert list(items) == ["cook-1", "serve-1", "serve-2"]
    s1 = items["serve-1"]
    assert s1["registered"] and s1["name"] == "Server One" and s1["battery"] == 71.5
    assert s1["seq"] == 9 and s1["firmware"] == "2.1" and s1["connection"] == "online"
    assert items["serve-2"]["connection"] == "offline" and items["serve-2"]["battery"] is None
    r = await env.client.get("/api/robots/serve-1", headers=env.auth("viewer"))
    assert (await r.json()) == s1
    r = await env.client.get("/api/robots/ghost", headers=env.auth("viewer"))
    assert r.status == 404 and (await r.json())["code"] == "not_found"
    r = await env.client.get("/api/robots/bad%20id", headers=env.auth("viewer"))
    assert r.status == 404


async def test_robot_kinds_say_which_actions_each_kind_carries_out(env: WebEnv) -> None:
    r = await env.client.get("/api/robot-kinds", headers=env.auth("viewer"))
    assert r.status == 200
    kinds = {
        k["kind"]: {a["action"]: a["needs_args"] for a in k["actions"]}
        for k in (await r.json())["items"]
    }
    assert kinds["serving"] == {
        "goto": True,
        "dock": False,
        "cancel": False,
        "pause": False,
        "resume": False,
        "estop": False,
        "release": False,
        "pickup_done": False,
    }
    assert kinds["cooking"] == {
        "cook": True,
        "cancel": False,
        "pause": False,
        "resume": False,
        "estop": False,
        "release": False,
    }
    # what it lists is what the command route takes: an unlisted action is refused
    r = await env.client.post(
        "/api/robots/cook-1/commands", json={"action": "dock"}, headers=env.auth("staff")
    )
    assert r.status == 422 and (await r.json())["field"] == "action"
    r = await env.client.get("/api/robot-kinds")
    assert r.status == 401


async def test_recent_telemetry_of_one_robot(env: WebEnv) -> None:
    ids = []
    for seq in range(1, 8):
        ids.append(await env.telemetry("serve-1", seq, x=seq))
        await env.telemetry("serve-2", seq)
    r = await env.client.get(
        "/api/robots/serve-1/telemetry", headers=env.auth(), params={"limit": "3"}
    )
    page = await r.json()
    assert [i["sample"]["seq"] for i in page["items"]] == [5, 6, 7]
    assert [i["id"] for i in page["items"]] == ids[-3:]
    r = await env.client.get(
        "/api/robots/serve-1/telemetry",
        headers=env.auth(),
        params={"limit": "3", "before": page["before"]},
    )
    older = await r.json()
    assert [i["sample"]["seq"] for i in older["items"]] == [2, 3, 4]
    r = await env.client.get(
        "/api/robots/serve-1/telemetry",
        headers=env.auth(),
        params={"limit": "10", "before": older["before"]},
    )
    last = await r.json()
    assert [i["sample"]["seq"] for i in last["items"]] == [1] and last["before"] is None
    r = await env.client.get(
        "/api/robots/serve-1/telemetry", headers=env.auth(), params={"before": "x"}
    )
    assert r.status == 422 and (await r.json())["field"] == "before"


async def commands(env: WebEnv) -> list[CommandRecord]:
    return [
        from_fields(CommandRecord, f) for _, f in cast(RawEntries, await env.redis.xrange(COMMANDS))
    ]


async def test_a_command_goes_to_rd_commands_with_the_users_name(env: WebEnv) -> None:
    r = await env.client.post(
        "/api/robots/serve-1/commands",
        headers=env.auth("staff"),
        json={"action": "goto", "args": {"x": 3.5, "y": 4}},
    )
    assert r.status == 202, await r.text()
    body = await r.json()
    (rec,) = await commands(env)
    assert rec.id == body["command"] and len(rec.id) == 32
    assert (rec.robot, rec.action, rec.args, rec.source) == (
        "serve-1",
        "goto",
        {"x": 3.5, "y": 4.0},
        "staff",
    )
    assert rec.type == "robot" and time.time() - 5 < rec.ts <= time.time()
    assert 29 < rec.expires - rec.ts <= 30.0  # commands.ttl_s
    assert body["stream_id"] == (cast(RawEntries, await env.redis.xrange(COMMANDS)))[0][0].decode()


async def test_goto_a_table_resolves_its_coordinates(env: WebEnv) -> None:
    r = await env.client.post(
        "/api/robots/serve-1/commands",
        headers=env.auth("staff"),
        json={"action": "goto", "args": {"table": "t1"}, "ttl_s": 5},
    )
    assert r.status == 202
    (rec,) = await commands(env)
    assert rec.args == {"x": 5.0, "y": 4.0, "table": "t1"}
    assert rec.expires - rec.ts == pytest.approx(5, abs=0.01)


async def test_cook_command_args(env: WebEnv) -> None:
    r = await env.client.post(
        "/api/robots/cook-1/commands",
        headers=env.auth("staff"),
        json={"action": "cook", "args": {"recipe": "ramen", "order": "o-1"}},
    )
    assert r.status == 202
    (rec,) = await commands(env)
    assert rec.args == {"recipe": "ramen", "order": "o-1"}


async def test_cook_takes_seconds_bounded_and_passes_them_on(env: WebEnv) -> None:
    """docs/protocol.md lists `seconds` as an optional argument of `cook`."""
    r = await env.client.post(
        "/api/robots/cook-1/commands",
        headers=env.auth("staff"),
        json={"action": "cook", "args": {"recipe": "ramen", "seconds": 90.5}},
    )
    assert r.status == 202, await r.text()
    (rec,) = await commands(env)
    assert rec.args == {"recipe": "ramen", "seconds": 90.5}
    for bad in (0, -1, 3601, "90", True):
        r = await env.client.post(
            "/api/robots/cook-1/commands",
            headers=env.auth("staff"),
            json={"action": "cook", "args": {"recipe": "ramen", "seconds": bad}},
        )
        assert r.status == 422, bad
        assert (await r.json())["field"] == "args.seconds"
    assert await env.redis.xlen(COMMANDS) == 1


@pytest.mark.parametrize(
    ("robot", "body", "status", "field"),
    [
        ("serve-1", {"action": "fly"}, 422, "action"),
        ("serve-1", {"args": {}}, 422, "action"),
        ("serve-1", {"action": "goto", "args": {"x": 1}}, 422, "args.y"),
        ("serve-1", {"action": "goto", "args": {"x": "1", "y": 2}}, 422, "args.x"),
        ("serve-1", {"action": "goto", "args": {"table": "t9"}}, 422, "args.table"),
        ("serve-1", {"action": "goto", "args": {"x": 1, "y": 2, "speed": 9}}, 422, "args.speed"),
        ("serve-1", {"action": "dock", "args": {"dock": "nowhere"}}, 422, "args.dock"),
        ("serve-1", {"action": "estop", "args": {"now": True}}, 422, "args.now"),
        ("serve-1", {"action": "estop", "ttl_s": 0}, 422, "ttl_s"),
        ("serve-1", {"action": "cook", "args": {"recipe": "soup"}}, 422, "action"),
        ("cook-1", {"action": "goto", "args": {"x": 1, "y": 2}}, 422, "action"),
        ("ghost", {"action": "estop"}, 404, None),
    ],
)
async def test_bad_commands_are_refused_and_never_queued(
    env: WebEnv,
    robot: str,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    r = await env.client.post(f"/api/robots/{robot}/commands", headers=env.auth("staff"), json=body)
    assert r.status == status
    assert (await r.json()).get("field") == field
    assert await env.redis.xlen(COMMANDS) == 0


async def test_viewers_cannot_command(env: WebEnv) -> None:
    r = await env.client.post(
        "/api/robots/serve-1/commands", headers=env.auth("viewer"), json={"action": "estop"}
    )
    assert r.status == 403
    assert await env.redis.xlen(COMMANDS) == 0


async def test_idempotency_key_sends_a_command_once(env: WebEnv) -> None:
    headers = {**env.auth("staff"), "Idempotency-Key": "tap-42"}
    body = {"action": "dock", "args": {"dock": "dock-1"}}
    r1 = await env.client.post("/api/robots/serve-1/commands", headers=headers, json=body)
    r2 = await env.client.post("/api/robots/serve-1/commands", headers=headers, json=body)
    assert r1.status == 202 and r2.status == 200
    a, b = await r1.json(), await r2.json()
    assert a["command"] == b["command"] and b["duplicate"] is True
    assert await env.redis.xlen(COMMANDS) == 1
    (rec,) = await commands(env)
    assert rec.args == {"dock": "dock-1", "x": 1.0, "y": 1.0}
    r3 = await env.client.post(
        "/api/robots/serve-1/commands", headers=headers, json={"action": "estop"}
    )
    assert r3.status == 422 and (await r3.json())["field"] == "Idempotency-Key"
    r4 = await env.client.post(
        "/api/robots/serve-1/commands",
        json=body,
        headers={**env.auth("staff"), "Idempotency-Key": "x" * 200},
    )
    assert r4.status == 422


async def test_commands_are_never_trimmed(env: WebEnv) -> None:
    for _ in range(30):
        r = await env.client.post(
            "/api/robots/serve-1/commands", headers=env.auth("staff"), json={"action": "pause"}
        )
        assert r.status == 202
    assert await env.redis.xlen(COMMANDS) == 30
    info = await env.redis.xinfo_stream(COMMANDS)
    assert info["entries-added"] == 30


async def test_robots_registered_at_run_time_are_listed_without_their_key(env: WebEnv) -> None:
    await env.redis.hset(
        "rd:registry",
        mapping={
            "serve-9": '{"id": "serve-9", "kind": "serving", "name": "Nine", "key": "sealed:abc"}',
            "broken": "not json",
        },
    )
    r = await env.client.get("/api/robots", headers=env.auth("viewer"))
    items = {i["id"]: i for i in (await r.json())["items"]}
    assert items["serve-9"]["registered"] is True and items["serve-9"]["name"] == "Nine"
    assert "broken" not in items
    assert "sealed" not in await r.text()


async def test_robot_list_is_fresh_within_its_bound_with_etag_and_304(env: WebEnv) -> None:
    await env.snapshot("serve-1", kind="serving", connection="online", state="idle")
    r = await env.client.get("/api/robots", headers=env.auth("viewer"))
    first = {i["id"]: i for i in (await r.json())["items"]}
    etag = r.headers["ETag"]
    assert first["serve-1"]["state"] == "idle" and etag.startswith('W/"')
    assert r.headers["Cache-Control"] == "no-store"  # the ETag is for clients that keep it

    r = await env.client.get("/api/robots", headers={**env.auth("viewer"), "If-None-Match": etag})
    assert r.status == 304 and await r.read() == b"" and r.headers["ETag"] == etag

    await env.snapshot("serve-1", kind="serving", connection="online", state="delivering")
    await asyncio.sleep(LIST_MAX_AGE_S + 0.1)  # the documented bound (docs/api.md)
    r = await env.client.get("/api/robots", headers={**env.auth("viewer"), "If-None-Match": etag})
    assert r.status == 200 and r.headers["ETag"] != etag
    assert {i["id"]: i for i in (await r.json())["items"]}["serve-1"]["state"] == "delivering"


async def test_robots_added_or_removed_here_show_at_once(env: WebEnv) -> None:
    async def ids() -> list[str]:
        r = await env.client.get("/api/robots", headers=env.auth("viewer"))
        return [i["id"] for i in (await r.json())["items"]]

    assert "tray-9" not in await ids()  # the list is now cached
    r = await env.client.post(
        "/api/robots", headers=env.auth("admin"), json={"id": "tray-9", "kind": "serving"}
    )
    assert r.status == 201
    assert "tray-9" in await ids()
    r = await env.client.delete("/api/robots/tray-9", headers=env.auth("admin"))
    assert r.status == 204
    assert "tray-9" not in await ids()


async def test_robot_list_gzipped_for_clients_that_take_it(make_env: MakeEnv) -> None:
    env = await make_env(web={"gzip_min_bytes": 100})  # three robots: about 1 KB
    plain = await env.client.get("/api/robots", headers=env.auth())
    r = await env.client.get("/api/robots", headers={**env.auth(), "Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in r.headers["Vary"]
    assert await r.json() == await plain.json()  # the client decompressed it


async def test_a_revocation_in_another_process_applies_within_auth_cache_s(
    make_env: MakeEnv,
) -> None:
    one = await make_env(web={"auth_cache_s": 0.3})
    two = await make_env(web={"auth_cache_s": 0.3})  # same database and Redis
    two.app[USER_CACHE].clock = clock = FakeClock()
    old = one.auth("staff")
    r = await two.client.get("/api/robots", headers=old)
    assert r.status == 200  # token verified and the user's row cached in process two
    r = await one.client.patch(
        "/api/users/staff", headers=one.auth("admin"), json={"disabled": True}
    )
    assert r.status == 200
    r = await two.client.get("/api/robots", headers=old)
    assert r.status == 200  # process two has not looked again yet
    clock.advance(0.4)
    r = await two.client.get("/api/robots", headers=old)
    assert r.status == 401 and (await r.json())["code"] == "invalid_token"
