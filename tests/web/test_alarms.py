"""Alarms from the event stream: raised, counted, cleared, acknowledged, escalated.

Against a real redis-server and SQLite or PostgreSQL: events are XADDed as the
gateway writes them and the web process's consumer group turns them into alarms.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, cast

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import update

from protocol.streams import EVENTS, EventRecord, Level, chat_stream, decode_fields
from tests.support.replies import RawEntries
from tests.support.web import MakeEnv, WebEnv, web_settings
from tests.waiting import wait_for
from web.alarms.rules import Clear, Raise, effects
from web.alarms.runner import RUNNER
from web.alarms.service import AlarmService
from web.app import WebConfigError, check_settings
from web.db.alarms import Alarm
from web.db.models import utcnow
from web.keys import DB


@pytest.fixture
async def aenv(make_env: MakeEnv, any_db_url: str) -> WebEnv:
    env = await make_env(any_db_url)
    await wait_for(lambda: _group_ready(env))  # the group starts at the stream's end
    return env


async def _group_ready(env: WebEnv) -> bool:
    try:
        groups = await env.redis.xinfo_groups(EVENTS)
    except Exception:
        return False
    return any(g["name"] in (b"alarms", "alarms") for g in groups)


async def alarms(env: WebEnv, who: str = "viewer", **query: str) -> dict[str, Any]:
    r = await env.client.get("/api/alarms", headers=env.auth(who), params=query)
    assert r.status == 200, await r.text()
    body: dict[str, Any] = await r.json()
    return body


async def until(env: WebEnv, n: int, **query: str) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await alarms(env, **query))["items"]
        return items if len(items) >= n else None

    found: list[dict[str, Any]] = await wait_for(enough, timeout=10)
    return found


async def audit(env: WebEnv, type_: str) -> list[dict[str, Any]]:
    out = []
    for _, fields in cast(RawEntries, await env.redis.xrange(EVENTS)):
        ev = decode_fields(fields)
        if ev["type"] == type_:
            out.append(ev)
    return out


def rec(type_: str, robot: str = "", level: str = "info", **data: Any) -> EventRecord:
    return EventRecord(
        eid="e", type=type_, ts=time.time(), robot=robot, level=Level(level), src="gw", data=data
    )


def test_which_events_raise_and_clear() -> None:
    assert effects(rec("robot.state", "r1", "alarm", state="estop", previous="idle")) == [
        Raise(
            "estop:r1",
            "estop",
            "r1",
            detail={"state": "estop", "previous": "idle", "task": "", "reason": ""},
        )
    ]
    kinds = [
        (rec("robot.state", "r1", "alarm", state="error"), "fault", "major"),
        (
            rec("robot.state", "r1", "alarm", state="error", reason="fatal_error"),
            "vda_fatal",
            "critical",
        ),
        (rec("robot.connection", "r1", "warning", state="stale"), "stale", "minor"),
        (rec("robot.connection", "r1", "warning", state="offline"), "offline", "major"),
        (
            rec("robot.event", "r1", "warning", name="battery_low", data={"battery": 14}),
            "battery_low",
            "minor",
        ),
        (
            rec(
                "robot.event",
                "a1",
                "alarm",
                name="agv_error",
                data={"error_level": "FATAL", "error_type": "motor"},
            ),
            "vda_fatal",
            "critical",
        ),
        (
            rec("robot.event", "a1", "alarm", name="order_rejected", data={"order": "o1"}),
            "delivery_failed",
            "major",
        ),
        (
            rec(
                "task.released",
                "r1",
                "warning",
                order="o1",
                task="o1:d",
                kind="deliver",
                reason="robot offline",
            ),
            "delivery_failed",
            "major",
        ),
        (
            rec("command.failed", "", "warning", order="o2", reason="invalid_order"),
            "delivery_failed",
            "major",
        ),
        (rec("gateway.spool_overflow", "", "alarm", lost=3), "system", "major"),
    ]
    for event, kind, severity in kinds:
        (eff,) = effects(event)
        assert isinstance(eff, Raise) and (eff.kind, eff.severity) == (kind, severity), event
    # what never raises
    assert (
        effects(
            rec("robot.event", "a1", "warning", name="agv_error", data={"error_level": "WARNING"})
        )
        == []
    )
    assert effects(rec("task.released", "c1", "warning", order="o1", kind="cook")) == []
    assert effects(rec("robot.state", "r1", state="en_route")) == [
        Clear("estop:r1", "robot en_route"),
        Clear("fault:r1", "robot en_route"),
        Clear("vda_fatal:r1", "robot en_route"),
    ]
    assert effects(rec("alarm.acked", "r1", "alarm", alarm=1)) == []  # our own audit
    assert effects(rec("order.status", order="o1", status="delivered")) == [
        Clear("delivery:o1", "delivered")
    ]


async def test_an_estop_is_raised_acknowledged_once_and_cleared(aenv: WebEnv) -> None:
    env = aenv
    await env.event("robot.state", "serve-1", Level.ALARM, state="estop", previous="en_route")
    (alarm,) = await until(env, 1, state="needs_ack")
    assert (alarm["kind"], alarm["severity"], alarm["robot"], alarm["active"]) == (
        "estop",
        "critical",
        "serve-1",
        True,
    )
    assert alarm["needs_ack"] and alarm["acked_at"] is None
    assert (await alarms(env))["needs_ack"] == 1
    raised = await wait_for(lambda: audit(env, "alarm.raised"))
    assert raised[0]["data"]["alarm"] == alarm["id"]

    path = f"/api/alarms/{alarm['id']}/ack"
    r = await env.client.post(path, headers=env.auth("viewer"), json={})
    assert r.status == 403
    r = await env.client.post(path, headers=env.auth("staff"), json={"note": "chair moved"})
    assert r.status == 200, await r.text()
    acked = await r.json()
    assert (acked["acked_by"], acked["ack_note"], acked["needs_ack"]) == (
        "staff",
        "chair moved",
        False,
    )
    assert acked["active"] is True  # acknowledged, the e-stop still holds
    again = await (await env.client.post(path, headers=env.auth("admin"), json={})).json()
    assert (again["acked_by"], again["acked_at"]) == ("staff", acked["acked_at"])
    (audit_ev,) = await audit(env, "alarm.acked")
    assert audit_ev["data"] == {
        "alarm": alarm["id"],
        "kind": "estop",
        "severity": "critical",
        "robot": "serve-1",
        "order": "",
        "by": "staff",
    }
    assert (await alarms(env, state="needs_ack"))["items"] == []

    await env.event("robot.state", "serve-1", state="idle", previous="estop")
    await wait_for(lambda: _cleared(env, alarm["id"]))
    assert (await alarms(env, state="open"))["items"] == []
    detail = await (
        await env.client.get(f"/api/alarms/{alarm['id']}", headers=env.auth("viewer"))
    ).json()
    assert [h["action"] for h in detail["history"]] == ["raised", "acked", "cleared"]
    assert [h["by"] for h in detail["history"]] == ["robot.state", "staff", "robot.state"]
    assert (await env.client.get("/api/alarms/999", headers=env.auth())).status == 404
    assert (await env.client.get("/api/alarms?state=bogus", headers=env.auth())).status == 422


async def _cleared(env: WebEnv, alarm_id: int) -> bool:
    r = await env.client.get(f"/api/alarms/{alarm_id}", headers=env.auth())
    return (await r.json())["cleared_at"] is not None


async def test_a_robot_going_stale_then_offline_is_one_alarm(aenv: WebEnv) -> None:
    env = aenv
    await env.event("robot.connection", "serve-2", Level.WARNING, state="stale", previous="online")
    (stale,) = await until(env, 1)
    assert (stale["kind"], stale["severity"], stale["latched"]) == ("stale", "minor", False)
    await env.event("robot.connection", "serve-2", Level.WARNING, state="offline", previous="stale")
    await wait_for(lambda: _kind(env, stale["id"], "offline"))
    await env.event("robot.connection", "serve-2", state="online", previous="offline")
    await wait_for(lambda: _cleared(env, stale["id"]))
    (alarm,) = (await alarms(env, state="all"))["items"]
    assert (alarm["kind"], alarm["severity"], alarm["count"]) == ("offline", "major", 2)
    assert alarm["needs_ack"] is True  # major: latched until someone acknowledges it

    # a robot stale a moment, then back: cleared and gone, nothing to acknowledge
    await env.event("robot.connection", "cook-1", Level.WARNING, state="stale")
    await until(env, 2, state="all")
    await env.event("robot.connection", "cook-1", state="online", previous="stale")
    await wait_for(lambda: _open_robots(env, {"serve-2"}))
    listed = {a["robot"]: a for a in (await alarms(env, state="all"))["items"]}
    assert listed["cook-1"]["needs_ack"] is False and listed["cook-1"]["active"] is False


async def _kind(env: WebEnv, alarm_id: int, kind: str) -> bool:
    r = await env.client.get(f"/api/alarms/{alarm_id}", headers=env.auth())
    return bool((await r.json())["kind"] == kind)


async def _open_robots(env: WebEnv, robots: set[str]) -> bool:
    return {a["robot"] for a in (await alarms(env, state="open"))["items"]} == robots


async def test_fatal_errors_failed_deliveries_and_system_alarms(aenv: WebEnv) -> None:
    env = aenv
    await env.event(
        "robot.event",
        "serve-1",
        Level.ALARM,
        name="agv_error",
        data={"error_type": "laserFault", "error_level": "FATAL", "description": "scanner dirty"},
    )
    await env.event("robot.state", "serve-1", Level.ALARM, state="error", reason="fatal_error")
    await env.event(
        "task.released",
        "serve-2",
        Level.WARNING,
        order="o-77",
        task="o-77:d",
        kind="deliver",
        reason="robot offline",
    )
    await env.event("gateway.spool_overflow", "", Level.ALARM, lost=12)
    items = await until(env, 3)
    by_kind = {a["kind"]: a for a in items}
    assert set(by_kind) == {"vda_fatal", "delivery_failed", "system"}
    await wait_for(lambda: _count(env, by_kind["vda_fatal"]["id"], 2))
    assert by_kind["vda_fatal"]["detail"]["error_type"] == "laserFault"
    assert (by_kind["delivery_failed"]["order"], by_kind["delivery_failed"]["robot"]) == (
        "o-77",
        "serve-2",
    )
    assert by_kind["delivery_failed"]["detail"]["reason"] == "robot offline"
    assert by_kind["system"]["detail"] == {"type": "gateway.spool_overflow", "lost": 12}
    # the order was delivered after all: its alarm clears (and still waits for an ack)
    await env.event("order.status", "serve-1", order="o-77", status="delivered")
    await wait_for(lambda: _cleared(env, by_kind["delivery_failed"]["id"]))
    critical = await alarms(env, severity="critical")
    assert [a["kind"] for a in critical["items"]] == ["vda_fatal"]


async def _count(env: WebEnv, alarm_id: int, n: int) -> bool:
    r = await env.client.get(f"/api/alarms/{alarm_id}", headers=env.auth())
    return bool((await r.json())["count"] == n)


async def test_an_event_delivered_twice_is_applied_once(aenv: WebEnv) -> None:
    env = aenv
    runner = env.app[RUNNER]
    sid = await env.event("robot.state", "serve-1", Level.ALARM, state="error")
    (alarm,) = await until(env, 1)
    (entry,) = cast(RawEntries, await env.redis.xrange(EVENTS, sid, sid))
    fields = {k.decode(): v.decode() for k, v in entry[1].items()}
    await runner.handle(EVENTS, [(sid, fields)])  # as after a crash before the XACK
    await runner.handle(EVENTS, [(sid, {"type": "robot.state"})])  # a malformed one: skipped
    got = await (await env.client.get(f"/api/alarms/{alarm['id']}", headers=env.auth())).json()
    assert got["count"] == 1 and len(got["history"]) == 1


async def test_low_batteries_from_the_snapshots(aenv: WebEnv) -> None:
    env = aenv
    runner = env.app[RUNNER]
    await env.snapshot("serve-1", battery=9.5, connection="online")
    await env.snapshot("serve-2", battery=80.0, connection="online")
    await env.snapshot("cook-1", battery=3.0, connection="offline")  # offline: not judged
    notices = await runner.check_batteries()
    assert [(n.type, n.alarm.robot) for n in notices] == [("alarm.raised", "serve-1")]
    assert await runner.check_batteries() == []  # still low: the same alarm, not bumped
    (alarm,) = (await alarms(env))["items"]
    assert (alarm["kind"], alarm["count"], alarm["detail"]) == ("battery_low", 1, {"battery": 9.5})
    await env.snapshot("serve-1", battery=17.0, connection="online")  # within the hysteresis
    assert await runner.check_batteries() == []
    await env.snapshot("serve-1", battery=60.0, connection="online")
    assert [n.type for n in await runner.check_batteries()] == ["alarm.cleared"]
    # minor: cleared, it needs no acknowledgement
    assert (await alarms(env, state="needs_ack"))["items"] == []
    # an admin raises the threshold: serve-1 at 60 % and serve-2 at 80 % are low now
    r = await env.client.patch(
        "/api/settings", headers=env.auth("admin"), json={"alarms.battery_below": 85}
    )
    assert r.status == 200, await r.text()
    assert [n.alarm.robot for n in await runner.check_batteries()] == ["serve-1", "serve-2"]


async def _backdate(env: WebEnv, minutes: float) -> None:
    async with env.app[DB]() as s, s.begin():
        await s.execute(update(Alarm).values(raised_at=utcnow() - timedelta(minutes=minutes)))


async def managers_room(env: WebEnv) -> list[dict[str, str]]:
    return [
        {k.decode(): v.decode() for k, v in f.items()}
        for _, f in cast(RawEntries, await env.redis.xrange(chat_stream("managers")))
    ]


async def test_unacknowledged_alarms_escalate_once_to_the_managers(
    aenv: WebEnv, make_env: MakeEnv, any_db_url: str
) -> None:
    env = aenv
    other = await make_env(any_db_url, users=False, web={"name": "web-other"})  # same database
    await env.event("robot.state", "serve-1", Level.ALARM, state="estop")
    await env.event("robot.state", "serve-2", Level.ALARM, state="error")
    second, first = await until(env, 2)  # newest first
    assert (first["robot"], second["robot"]) == ("serve-1", "serve-2")
    assert await env.app[RUNNER].escalate() == []  # not old enough
    await _backdate(env, 4)
    assert await env.app[RUNNER].escalate() == []  # 5 minutes by default
    r = await env.client.post(f"/api/alarms/{second['id']}/ack", headers=env.auth("staff"), json={})
    assert r.status == 200
    await _backdate(env, 6)
    results = await asyncio.gather(env.app[RUNNER].escalate(), other.app[RUNNER].escalate())
    assert sorted(a.id for done in results for a in done) == [first["id"]]  # acked: not posted
    (msg,) = await managers_room(env)
    assert msg["system"] == "1" and msg["username"] == "robodine"
    assert "serve-1" in msg["content"] and "비상 정지 / e-stop" in msg["content"]
    assert "5분째" in msg["content"] and f"#{first['id']}" in msg["content"]
    assert await env.app[RUNNER].escalate() == []  # once
    (ev,) = await wait_for(lambda: audit(env, "alarm.escalated"))
    assert ev["data"]["alarm"] == first["id"] and ev["data"]["by"] == "managers"
    got = await (await env.client.get(f"/api/alarms/{first['id']}", headers=env.auth())).json()
    assert got["escalated_at"] is not None and got["history"][-1]["action"] == "escalated"


async def test_an_escalation_that_cannot_be_posted_is_tried_again(aenv: WebEnv) -> None:
    env = aenv
    await env.event("robot.state", "serve-1", Level.ALARM, state="estop")
    (alarm,) = await until(env, 1)
    await _backdate(env, 10)
    service = AlarmService(env.app[DB])

    async def down(_: Alarm) -> None:
        raise RedisConnectionError("redis is away")

    with pytest.raises(RedisConnectionError):
        await service.escalate_due(300, "escalation", down)
    got = await (await env.client.get(f"/api/alarms/{alarm['id']}", headers=env.auth())).json()
    assert got["escalated_at"] is None  # undone: the next check posts it
    assert [a.id for a in await env.app[RUNNER].escalate()] == [alarm["id"]]


async def test_run_time_settings(aenv: WebEnv) -> None:
    env = aenv
    assert (await env.client.get("/api/settings", headers=env.auth("staff"))).status == 403
    got = await (await env.client.get("/api/settings", headers=env.auth())).json()
    items = {i["key"]: i for i in got["items"]}
    assert set(items) == {"alarms.escalate_after_s", "alarms.escalate_room", "alarms.battery_below"}
    assert items["alarms.escalate_room"]["choices"] == ["kitchen", "floor", "managers"]
    assert items["alarms.escalate_after_s"]["value"] == 300.0
    assert items["alarms.escalate_after_s"]["updated_by"] is None

    for body, field in (
        ({"alarms.escalate_room": "nowhere"}, "alarms.escalate_room"),
        ({"alarms.battery_below": 150}, "alarms.battery_below"),
        ({"web.port": 1}, "web.port"),
    ):
        r = await env.client.patch("/api/settings", headers=env.auth(), json=body)
        assert r.status == 422 and (await r.json())["field"] == field, await r.text()
    change = {"alarms.escalate_after_s": 60, "alarms.escalate_room": "floor"}
    r = await env.client.patch("/api/settings", headers=env.auth(), json=change)
    items = {i["key"]: i for i in (await r.json())["items"]}
    assert (items["alarms.escalate_after_s"]["value"], items["alarms.escalate_room"]["value"]) == (
        60,
        "floor",
    )
    assert items["alarms.escalate_after_s"]["updated_by"] == "admin"
    assert items["alarms.escalate_after_s"]["file_value"] == 300.0
    (changed,) = await audit(env, "settings.changed")
    assert changed["data"]["changes"] == {
        "alarms.escalate_after_s": 60,
        "alarms.escalate_room": "floor",
    }
    # the escalation follows at once: a 2-minute-old alarm goes to the floor room now
    await env.event("robot.state", "serve-1", Level.ALARM, state="estop")
    await until(env, 1)
    await _backdate(env, 2)
    assert len(await env.app[RUNNER].escalate()) == 1
    posted = [
        f[b"content"].decode()
        for _, f in cast(RawEntries, await env.redis.xrange(chat_stream("floor")))
    ]
    assert [p for p in posted if "alarm #" in p] == [posted[-1]]  # (the relay posts there too)
    r = await env.client.patch(
        "/api/settings", headers=env.auth(), json={"alarms.escalate_after_s": None}
    )
    items = {i["key"]: i for i in (await r.json())["items"]}
    assert items["alarms.escalate_after_s"]["value"] == 300.0
    assert items["alarms.escalate_after_s"]["updated_by"] is None


def test_the_escalation_room_must_be_a_chat_room() -> None:
    s = web_settings(
        "redis://127.0.0.1:1", "sqlite+aiosqlite:///x", alarms={"escalate_room": "attic"}
    )
    with pytest.raises(WebConfigError, match=r"alarms\.escalate_room: 'attic'"):
        check_settings(s)


async def test_a_rule_that_fails_for_one_event_spares_the_others(
    aenv: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = aenv
    from web.alarms import runner as runner_module

    def picky(rec: EventRecord) -> list[Any]:
        if rec.robot == "serve-2":
            raise KeyError("a bug")
        return effects(rec)

    monkeypatch.setattr(runner_module, "effects", picky)
    await env.event("robot.state", "serve-2", Level.ALARM, state="estop")
    await env.event("robot.state", "serve-1", Level.ALARM, state="estop")
    (alarm,) = await until(env, 1)
    assert alarm["robot"] == "serve-1"
