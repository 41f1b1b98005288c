"""Command status resources: a command followed to its outcome over REST, with ``?wait=``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from protocol.messages import Ack, Command, Welcome
from protocol.streams import EventType, Level
from protocol.vocabulary import RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.web import MakeEnv, WebEnv
from web.robots.command_status import index_key, record_key


async def _post(env: WebEnv, robot: str = "serve-1", **body: object) -> tuple[str, str]:
    r = await env.client.post(
        f"/api/robots/{robot}/commands",
        headers=env.auth("staff"),
        json=body or {"action": "dock"},
    )
    assert r.status == 202, await r.text()
    cid = (await r.json())["command"]
    assert r.headers["Location"] == f"/api/robots/{robot}/commands/{cid}"
    return cid, r.headers["Location"]


@pytest.mark.integration
async def test_a_command_followed_to_acked_by_wait(
    make_env: MakeEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = await make_env()
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)) as gw:
        bot = TestRobot("serve-1", RobotKind.SERVING, gw.tcp_port, gw.udp_port)
        assert isinstance(await bot.connect(), Welcome)
        bot.state("idle")
        cid, location = await _post(env, action="goto", args={"table": "t1"})
        r = await env.client.get(location, headers=env.auth("viewer"))
        assert (await r.json())["status"] in ("queued", "sent")

        async def robot_acks() -> None:
            cmd = await bot.recv()
            assert isinstance(cmd, Command) and cmd.id == cid
            await asyncio.sleep(0.3)  # the request below is waiting by now
            bot.send(
                Ack(robot="serve-1", seq=bot.next_seq(), ts=time.time(), id=cid, data={"at": "t1"})
            )

        acking = asyncio.create_task(robot_acks())
        started = time.monotonic()
        r = await env.client.get(location, params={"wait": "10"}, headers=env.auth("viewer"))
        took = time.monotonic() - started
        await acking
        assert r.status == 200
        got = await r.json()
        assert got["status"] == "acked", got
        assert got["attempts"] == 1 and got["result"] == {"at": "t1"}
        assert got["action"] == "goto" and got["args"] == {"x": 5.0, "y": 4.0, "table": "t1"}
        assert got["source"] == "staff" and got["robot"] == "serve-1"
        assert got["sent_at"] is not None and got["finished_at"] is not None
        assert got["reason"] is None and got["stream_id"]
        assert took < 5, "the answer came with the outcome, not at the end of the wait"
        await bot.close()


@pytest.mark.integration
async def test_a_command_to_an_offline_robot_fails(
    make_env: MakeEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = await make_env()
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)):
        cid, location = await _post(env, robot="serve-2")
        r = await env.client.get(location, params={"wait": "10"}, headers=env.auth("viewer"))
        got = await r.json()
        assert got["status"] == "failed" and got["reason"] == "robot_offline", got
        assert got["attempts"] == 0 and got["sent_at"] is None
        r = await env.client.get("/api/robots/serve-2/commands", headers=env.auth("viewer"))
        page = await r.json()
        assert page["total"] == 1 and [c["command"] for c in page["items"]] == [cid]
        assert page["items"][0]["status"] == "failed"


async def test_wait_is_bounded_and_unknown_commands_are_404(env: WebEnv) -> None:
    cid, location = await _post(env)
    for bad in ("31", "-1", "soon"):
        r = await env.client.get(location, params={"wait": bad}, headers=env.auth())
        assert r.status == 422, bad
        problem = await r.json()
        assert problem["field"] == "wait" and problem["in"] == "query"
    r = await env.client.get("/api/robots/serve-1/commands/" + "f" * 32, headers=env.auth())
    assert r.status == 404
    r = await env.client.get(f"/api/robots/serve-2/commands/{cid}", headers=env.auth())
    assert r.status == 404, "a command is found under its own robot only"
    r = await env.client.get(location, headers={})
    assert r.status == 401


async def test_a_wait_without_outcome_answers_the_status_it_has(env: WebEnv) -> None:
    _, location = await _post(env)
    started = time.monotonic()
    r = await env.client.get(location, params={"wait": "0.6"}, headers=env.auth())
    assert r.status == 200 and (await r.json())["status"] == "queued"
    assert 0.5 <= time.monotonic() - started < 5


async def test_events_move_a_record_forward_only(env: WebEnv) -> None:
    cid, location = await _post(env)

    async def status() -> dict[str, object]:
        r = await env.client.get(location, headers=env.auth())
        got = await r.json()
        assert isinstance(got, dict)
        return got

    async def until(want: str) -> dict[str, object]:
        got: dict[str, object] = {}
        for _ in range(100):
            got = await status()
            if got["status"] == want:
                return got
            await asyncio.sleep(0.05)
        raise AssertionError(f"never {want}: {got}")

    await env.event(EventType.COMMAND_SENT, "serve-1", command=cid, action="dock", args={})
    await until("sent")
    await env.event(
        EventType.COMMAND_FAILED,
        "serve-1",
        Level.WARNING,
        command=cid,
        action="dock",
        reason="expired",
        attempts=0,
    )
    got = await until("expired")
    assert got["reason"] == "expired"
    # a late "sent" (replayed) does not move it back
    await env.event(EventType.COMMAND_SENT, "serve-1", command=cid, action="dock", args={})
    marker = await env.event(EventType.COMMAND_SENT, "serve-9", command="x" * 32, action="dock")
    await until_record(env, "x" * 32)
    assert marker and (await status())["status"] == "expired"


async def until_record(env: WebEnv, cid: str) -> None:
    for _ in range(100):
        if await env.redis.exists(record_key(cid)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no record for {cid}")


async def test_the_gateways_own_commands_get_a_record(env: WebEnv) -> None:
    cid = "d" * 32
    await env.event(
        EventType.COMMAND_SENT,
        "serve-1",
        command=cid,
        action="dock",
        args={"dock": "d1"},
        source="dispatcher",
    )
    await until_record(env, cid)
    r = await env.client.get(f"/api/robots/serve-1/commands/{cid}", headers=env.auth())
    got = await r.json()
    assert got["status"] == "sent" and got["source"] == "dispatcher"
    assert got["args"] == {"dock": "d1"} and got["stream_id"] is None


async def test_the_list_pages_newest_first_and_records_expire(env: WebEnv) -> None:
    ids = [(await _post(env))[0] for _ in range(3)]
    r = await env.client.get(
        "/api/robots/serve-1/commands", params={"limit": "2"}, headers=env.auth("viewer")
    )
    page = await r.json()
    assert page["total"] == 3
    assert [c["command"] for c in page["items"]] == ids[::-1][:2]
    r = await env.client.get(
        "/api/robots/serve-1/commands",
        params={"limit": "2", "offset": "2"},
        headers=env.auth("viewer"),
    )
    assert [c["command"] for c in (await r.json())["items"]] == ids[:1]
    retention = env.settings.redis.commands_retention_s
    for key in (record_key(ids[0]), index_key("serve-1")):
        ttl = await env.redis.ttl(key)
        assert 0 < ttl <= retention, (key, ttl)
    r = await env.client.get("/api/robots/nobody/commands", headers=env.auth())
    assert r.status == 404


async def test_a_repeated_request_answers_the_same_location(env: WebEnv) -> None:
    headers = {**env.auth("staff"), "Idempotency-Key": "k-1"}
    first = await env.client.post(
        "/api/robots/serve-1/commands", headers=headers, json={"action": "dock"}
    )
    again = await env.client.post(
        "/api/robots/serve-1/commands", headers=headers, json={"action": "dock"}
    )
    assert (first.status, again.status) == (202, 200)
    assert (await again.json())["duplicate"] is True
    assert first.headers["Location"] == again.headers["Location"]
