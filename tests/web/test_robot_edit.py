"""PATCH /api/robots/{id}: a robot added through the API changed in SQL, rd:registry and the
answers, checked as a new robot is, and served as changed by the real gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import msgspec
import pytest

from gateway.fleet.registry import robot_from_entry
from protocol.messages import Error, Welcome
from protocol.streams import COMMANDS, REGISTRY, CommandRecord, RegistryEntry, from_fields
from protocol.vocabulary import ErrorCode, RobotKind
from tests.robot import TestRobot
from tests.servers import RedisServer
from tests.support.gateway import gateway_settings, run_gateway
from tests.support.replies import RawEntries
from tests.support.web import DATA_KEY, ROBOTS, MakeEnv, WebEnv
from tests.waiting import wait_for

AGV = {"manufacturer": "Acme", "serial": "SN-50"}
KEYS = (bytes.fromhex(DATA_KEY),)


async def post(env: WebEnv, body: dict[str, Any]) -> dict[str, Any]:
    r = await env.client.post("/api/robots", headers=env.auth(), json=body)
    assert r.status == 201, await r.text()
    return dict(await r.json())


async def patch(
    env: WebEnv, robot: str, body: dict[str, Any], who: str = "admin"
) -> tuple[int, Any]:
    r = await env.client.patch(f"/api/robots/{robot}", headers=env.auth(who), json=body)
    return r.status, await r.json()


async def entry(env: WebEnv, robot: str) -> RegistryEntry:
    return msgspec.json.decode(
        cast(bytes, await env.redis.hget(REGISTRY, robot)), type=RegistryEntry
    )


async def syncs(env: WebEnv) -> list[str]:
    """The robots named by each registry.sync on rd:commands, in order."""
    out = []
    for _, fields in cast(RawEntries, await env.redis.xrange(COMMANDS)):
        rec = from_fields(CommandRecord, fields)
        if rec.type == "registry.sync":
            out.append(rec.args["robot"])
    return out


async def test_name_network_and_kind_change_everywhere_and_keep_the_key(env: WebEnv) -> None:
    created = await post(env, {"id": "tray-5", "kind": "serving", "name": "Tray"})
    sealed = (await entry(env, "tray-5")).key
    status, got = await patch(
        env, "tray-5", {"name": "Tray Five", "network": "b8:27:eb:00:00:05", "kind": "cooking"}
    )
    assert status == 200, got
    assert (got["name"], got["network"], got["kind"], got["key"]) == (
        "Tray Five",
        "b8:27:eb:00:00:05",
        "cooking",
        None,  # the key did not change: nothing to show
    )
    assert got["transport"] == "tcp" and got["source"] == "api"
    r = await env.client.get("/api/robots/tray-5", headers=env.auth("viewer"))
    shown = await r.json()
    assert (shown["name"], shown["kind"], shown["network"]) == (
        "Tray Five",
        "cooking",
        "b8:27:eb:00:00:05",
    )
    listed = await (await env.client.get("/api/robots", headers=env.auth("viewer"))).json()
    assert [x["name"] for x in listed["items"] if x["id"] == "tray-5"] == ["Tray Five"]
    stored = await entry(env, "tray-5")
    assert (stored.name, stored.kind, stored.key) == ("Tray Five", "cooking", sealed)
    config = robot_from_entry("tray-5", cast(bytes, await env.redis.hget(REGISTRY, "tray-5")), KEYS)
    assert config.key.get_secret_value() == created["key"]  # the robot's key still works
    assert await syncs(env) == ["tray-5", "tray-5"]  # created, then changed


async def test_transport_and_identity_move_and_give_a_new_key(env: WebEnv) -> None:
    old_key = (await post(env, {"id": "mover", "kind": "serving"}))["key"]
    # vda without transport: it becomes a VDA 5050 AGV, as POST reads it
    status, got = await patch(env, "mover", {"vda": {**AGV, "version": "2.0.0"}})
    assert status == 200, got
    assert (got["transport"], got["vda"], got["key"]) == (
        "vda5050",
        {**AGV, "version": "2.0.0"},
        None,  # the broker login authenticates it: a key nobody knows
    )
    config = robot_from_entry("mover", cast(bytes, await env.redis.hget(REGISTRY, "mover")), KEYS)
    assert config.transport == "vda5050" and config.vda is not None
    assert (config.vda.serial, config.vda.version) == ("SN-50", "2.0.0")
    assert config.key.get_secret_value() != old_key  # its TCP key stopped working

    # another serial, the transport kept
    status, got = await patch(env, "mover", {"vda": {**AGV, "serial": "SN-51"}})
    assert status == 200 and got["vda"] == {**AGV, "serial": "SN-51", "version": None}

    # back to TCP: the identity goes with the transport, and a key is shown once
    status, got = await patch(env, "mover", {"transport": "tcp"})
    assert status == 200, got
    assert (got["transport"], got["vda"]) == ("tcp", None)
    assert len(bytes.fromhex(got["key"])) == 32
    config = robot_from_entry("mover", cast(bytes, await env.redis.hget(REGISTRY, "mover")), KEYS)
    assert config.key.get_secret_value() == got["key"] and config.vda is None
    shown = await (await env.client.get("/api/robots/mover", headers=env.auth())).json()
    assert "key" not in shown  # never again

    status, got = await patch(env, "mover", {"transport": "mqtt"})
    assert (status, got["transport"], got["key"]) == (200, "mqtt", None)


@pytest.mark.parametrize(
    ("robot", "body", "status", "field", "detail"),
    [
        ("agv-x", {"kind": "cooking"}, 422, "kind", "must be of kind serving"),
        ("agv-x", {"vda": None}, 422, "vda", "needs vda"),
        ("tray-x", {"transport": "vda5050"}, 422, "vda", "needs vda"),
        ("tray-x", {"transport": "mqtt", "vda": AGV}, 422, "vda", "transport is 'mqtt'"),
        ("agv-x", {"vda": {**AGV, "version": "9.9.9"}}, 422, "vda.version", "VDA 5050 version"),
        ("tray-x", {"vda": {**AGV, "serial": "a/b"}}, 422, "vda.serial", ""),
        ("tray-x", {"transport": "udp"}, 422, "transport", ""),
        ("tray-x", {"name": "x" * 101}, 422, "name", ""),
        ("tray-x", {"colour": "red"}, 422, "colour", ""),
        ("tray-x", {"vda": {"manufacturer": "Acme", "serial": "SN-1"}}, 409, "vda", "'agv-1'"),
        ("tray-x", {"vda": AGV}, 409, "vda", "another robot"),  # agv-x is that AGV
        ("serve-1", {"name": "Renamed"}, 409, "id", "config file, which wins"),
    ],
)
async def test_changes_a_new_robot_could_not_have_are_refused(
    make_env: MakeEnv,
    robot: str,
    body: dict[str, Any],
    status: int,
    field: str,
    detail: str,
) -> None:
    env = await make_env(
        robots=[
            *ROBOTS,
            {"id": "agv-1", "kind": "serving", "vda": {"manufacturer": "Acme", "serial": "SN-1"}},
        ]
    )
    await post(env, {"id": "agv-x", "kind": "serving", "vda": AGV})
    await post(env, {"id": "tray-x", "kind": "serving"})
    before = {k: await env.redis.hget(REGISTRY, k) for k in (b"agv-x", b"tray-x")}
    sent = await env.redis.xlen(COMMANDS)
    got, problem = await patch(env, robot, body)
    assert (got, problem.get("field")) == (status, field), problem
    assert detail in problem["detail"]
    after = {k: await env.redis.hget(REGISTRY, k) for k in (b"agv-x", b"tray-x")}
    assert after == before and await env.redis.xlen(COMMANDS) == sent  # nothing changed
    for rid in ("agv-x", "tray-x"):
        shown = await (await env.client.get(f"/api/robots/{rid}", headers=env.auth())).json()
        assert shown["name"] == "" and shown["kind"] == "serving"


async def test_only_admins_edit_and_unknown_robots_are_404(env: WebEnv) -> None:
    await post(env, {"id": "tray-6", "kind": "serving"})
    for who in ("staff", "viewer"):
        status, problem = await patch(env, "tray-6", {"name": "x"}, who)
        assert status == 403, problem
    status, problem = await patch(env, "ghost", {"name": "x"})
    assert status == 404 and "ghost" in problem["detail"]
    assert (await entry(env, "tray-6")).name == ""


@pytest.mark.integration
async def test_the_gateway_serves_the_edited_robot(
    make_env: MakeEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = await make_env()
    key = bytes.fromhex((await post(env, {"id": "tray-8", "kind": "serving"}))["key"])
    settings = gateway_settings(redis_server.url, tmp_path, data={"key": DATA_KEY})
    async with run_gateway(settings) as gw:
        bot = TestRobot("tray-8", RobotKind.SERVING, gw.tcp_port, gw.udp_port, key=key)
        assert isinstance(await bot.connect(), Welcome)

        # a new name relabels it: the connection stays
        assert (await patch(env, "tray-8", {"name": "Tray Eight"}))[0] == 200

        async def renamed() -> bool:
            snap = await env.redis.hgetall("rd:robot:tray-8")
            return snap.get(b"name") == b"Tray Eight"

        await wait_for(renamed)
        bot.state("idle")

        async def idle() -> bool:
            r = await env.client.get("/api/robots/tray-8", headers=env.auth("viewer"))
            got = await r.json()
            return bool(got["connection"] == "online" and got["state"] == "idle")

        await wait_for(idle)

        # a new kind ends the session: it must come back as a cooking robot
        assert (await patch(env, "tray-8", {"kind": "cooking"}))[0] == 200
        err = await bot.recv()
        assert isinstance(err, Error) and err.code == ErrorCode.AUTH_FAILED
        cook = TestRobot("tray-8", RobotKind.COOKING, gw.tcp_port, gw.udp_port, key=key)
        assert isinstance(await cook.connect(), Welcome)  # same key, new kind

        # to MQTT: a new key nobody knows; the old one no longer says hello over TCP
        status, moved = await patch(env, "tray-8", {"transport": "mqtt"})
        assert (status, moved["key"]) == (200, None)
        assert isinstance(await cook.recv(), Error)
        again = TestRobot("tray-8", RobotKind.COOKING, gw.tcp_port, gw.udp_port, key=key)
        assert isinstance(await again.connect(), Error)

        # back to TCP with the key shown once: it works
        status, back = await patch(env, "tray-8", {"transport": "tcp"})
        fresh = TestRobot(
            "tray-8", RobotKind.COOKING, gw.tcp_port, gw.udp_port, key=bytes.fromhex(back["key"])
        )
        assert isinstance(await fresh.connect(), Welcome)
        for b in (bot, cook, again, fresh):
            await b.close()
