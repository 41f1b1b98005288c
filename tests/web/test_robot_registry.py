"""Robots added through the API: key shown once, sealed at rest, mirrored to rd:registry."""

from __future__ import annotations

import io
import os
import sys
from typing import cast

import msgspec
import pytest
from sqlalchemy import select

from protocol.sealing import key_id, unseal
from protocol.streams import COMMANDS, REGISTRY, RegistryEntry, decode_fields
from robodine import cli as robodine_cli
from tests.servers import RedisServer
from tests.support.replies import RawEntries
from tests.support.web import DATA_KEY, MakeEnv, WebEnv
from web.db.restaurant import RobotRow
from web.keys import DB

NEW_DATA_KEY = "e8" * 32


async def syncs(env: WebEnv) -> list[str]:
    return [
        decode_fields(f)["args"]["robot"]
        for _, f in cast(RawEntries, await env.redis.xrange(COMMANDS))
        if f[b"type"] == b"registry.sync"
    ]


async def sealed_in_sql(env: WebEnv, robot: str) -> str | None:
    async with env.app[DB]() as s:
        row = await s.get(RobotRow, robot)
    return None if row is None else row.key_sealed


async def test_a_robot_is_registered_with_its_key_shown_once(env: WebEnv) -> None:
    body = {"id": "tray-7", "kind": "serving", "name": "Tray Seven", "network": "aa:bb:cc:00:11:22"}
    r = await env.client.post("/api/robots", headers=env.auth("admin"), json=body)
    assert r.status == 201, await r.text()
    created = await r.json()
    key = bytes.fromhex(created["key"])
    assert len(key) == 32
    assert (created["id"], created["kind"], created["name"], created["source"]) == (
        "tray-7",
        "serving",
        "Tray Seven",
        "api",
    )
    assert created["registered"] is True and created["network"] == "aa:bb:cc:00:11:22"

    data_key = bytes.fromhex(DATA_KEY)
    sealed = await sealed_in_sql(env, "tray-7")
    assert sealed is not None and created["key"] not in sealed
    assert unseal(data_key, "tray-7", sealed) == key
    entry = msgspec.json.decode(
        cast(bytes, await env.redis.hget(REGISTRY, "tray-7")), type=RegistryEntry
    )
    assert (entry.id, entry.kind, entry.name) == ("tray-7", "serving", "Tray Seven")
    assert unseal(data_key, "tray-7", entry.key) == key
    assert await syncs(env) == ["tray-7"]

    for path in ("/api/robots", "/api/robots/tray-7"):
        r = await env.client.get(path, headers=env.auth("admin"))
        text = await r.text()
        assert "tray-7" in text and created["key"] not in text and '"key"' not in text
    listed = {
        i["id"]: i
        for i in (await (await env.client.get("/api/robots", headers=env.auth())).json())["items"]
    }
    assert listed["tray-7"]["source"] == "api" and listed["serve-1"]["source"] == "config"

    # the kind decides what it may be told to do
    r = await env.client.post(
        "/api/robots/tray-7/commands",
        headers=env.auth("staff"),
        json={"action": "cook", "args": {"recipe": "ramen"}},
    )
    assert r.status == 422 and (await r.json())["field"] == "action"
    assert "a serving robot cannot cook" in (await r.json())["detail"]


@pytest.mark.parametrize(
    ("who", "body", "status", "field"),
    [
        ("staff", {"id": "x-1", "kind": "serving"}, 403, None),
        ("admin", {"id": "serve-1", "kind": "serving"}, 409, "id"),  # in the config file
        ("admin", {"id": "x 1", "kind": "serving"}, 422, "id"),
        ("admin", {"id": "x-1", "kind": "flying"}, 422, "kind"),
        ("admin", {"id": "x-1", "kind": "serving", "key": "00" * 32}, 422, "key"),
    ],
)
async def test_bad_registrations(
    env: WebEnv, who: str, body: dict[str, str], status: int, field: str | None
) -> None:
    r = await env.client.post("/api/robots", headers=env.auth(who), json=body)
    assert r.status == status
    assert (await r.json()).get("field") == field
    assert await env.redis.hlen(REGISTRY) == 0 and await env.redis.xlen(COMMANDS) == 0


async def test_rekey_and_remove(env: WebEnv) -> None:
    first = await (
        await env.client.post(
            "/api/robots", headers=env.auth(), json={"id": "wok-2", "kind": "cooking"}
        )
    ).json()
    again = await env.client.post(
        "/api/robots", headers=env.auth(), json={"id": "wok-2", "kind": "cooking"}
    )
    assert again.status == 409
    r = await env.client.post("/api/robots/wok-2/key", headers=env.auth())
    assert r.status == 200
    second = await r.json()
    assert second["key"] != first["key"]
    entry = msgspec.json.decode(
        cast(bytes, await env.redis.hget(REGISTRY, "wok-2")), type=RegistryEntry
    )
    assert unseal(bytes.fromhex(DATA_KEY), "wok-2", entry.key).hex() == second["key"]
    assert (await env.client.post("/api/robots/serve-1/key", headers=env.auth())).status == 409
    assert (await env.client.post("/api/robots/ghost/key", headers=env.auth())).status == 404

    assert (await env.client.delete("/api/robots/wok-2", headers=env.auth("staff"))).status == 403
    assert (await env.client.delete("/api/robots/serve-1", headers=env.auth())).status == 409
    assert (await env.client.delete("/api/robots/wok-2", headers=env.auth())).status == 204
    assert await sealed_in_sql(env, "wok-2") is None
    assert not await env.redis.hexists(REGISTRY, "wok-2")
    assert await syncs(env) == ["wok-2", "wok-2", "wok-2"]
    assert (await env.client.delete("/api/robots/wok-2", headers=env.auth())).status == 404


async def test_rd_registry_is_restored_from_sql_at_start(
    env: WebEnv, make_env: MakeEnv, sqlite_url: str
) -> None:
    await env.client.post(
        "/api/robots", headers=env.auth(), json={"id": "tray-8", "kind": "serving"}
    )
    await env.redis.delete(REGISTRY, COMMANDS)  # Redis lost its data
    await make_env(sqlite_url, users=False)  # another web process starts
    assert await env.redis.hexists(REGISTRY, "tray-8")
    assert await syncs(env) == ["tray-8"]


def _cli(monkeypatch: pytest.MonkeyPatch, db: str, redis_url: str, **env: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setattr(robodine_cli, "configure_logging", lambda *a, **k: None)
    for key in [k for k in os.environ if k.startswith("ROBODINE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ROBODINE_DATABASE_URL", db)
    monkeypatch.setenv("ROBODINE_REDIS_URL", redis_url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return robodine_cli.main(["rotate-data-key"])


async def test_rotating_the_data_key_reseals_sql_and_redis(
    env: WebEnv,
    sqlite_url: str,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys = {}
    for rid in ("tray-1", "tray-2"):
        r = await env.client.post(
            "/api/robots", headers=env.auth(), json={"id": rid, "kind": "serving"}
        )
        keys[rid] = bytes.fromhex((await r.json())["key"])
    await env.redis.delete(COMMANDS)
    import asyncio

    async def run(**e: str) -> int:
        return await asyncio.to_thread(_cli, monkeypatch, sqlite_url, redis_server.url, **e)

    assert await run(ROBODINE_DATA_KEY=NEW_DATA_KEY) == 2
    assert "ROBODINE_DATA_PREVIOUS_KEY" in capsys.readouterr().err
    assert await run(ROBODINE_DATA_KEY=NEW_DATA_KEY, ROBODINE_DATA_PREVIOUS_KEY=DATA_KEY) == 0
    assert "re-sealed 2 in SQL and 2 in rd:registry; 0 already current" in capsys.readouterr().out
    new = bytes.fromhex(NEW_DATA_KEY)
    for rid, key in keys.items():
        sealed = await sealed_in_sql(env, rid)
        assert sealed is not None and sealed.split(":")[1] == key_id(new)
        assert unseal(new, rid, sealed) == key
        entry = msgspec.json.decode(
            cast(bytes, await env.redis.hget(REGISTRY, rid)), type=RegistryEntry
        )
        assert unseal(new, rid, entry.key) == key
    assert sorted(await syncs(env)) == ["tray-1", "tray-2"]
    # again: nothing left to do
    assert await run(ROBODINE_DATA_KEY=NEW_DATA_KEY, ROBODINE_DATA_PREVIOUS_KEY=DATA_KEY) == 0
    assert "re-sealed 0 in SQL and 0 in rd:registry; 4 already current" in capsys.readouterr().out
    # a value sealed under neither key is reported, not guessed at
    async with env.app[DB]() as s, s.begin():
        row = await s.get(RobotRow, "tray-1")
        assert row is not None
        row.key_sealed = (await sealed_in_sql(env, "tray-2")) or ""  # another robot's box
    assert await run(ROBODINE_DATA_KEY=NEW_DATA_KEY, ROBODINE_DATA_PREVIOUS_KEY=DATA_KEY) == 1
    assert "cannot open tray-1" in capsys.readouterr().err
    async with env.app[DB]() as s:
        assert len((await s.scalars(select(RobotRow))).all()) == 2


async def test_a_web_tier_started_with_both_keys_finishes_the_rotation(
    env: WebEnv, make_env: MakeEnv, sqlite_url: str
) -> None:
    r = await env.client.post(
        "/api/robots", headers=env.auth(), json={"id": "tray-3", "kind": "serving"}
    )
    key = bytes.fromhex((await r.json())["key"])
    await make_env(sqlite_url, users=False, data={"key": NEW_DATA_KEY, "previous_key": DATA_KEY})
    new = bytes.fromhex(NEW_DATA_KEY)
    sealed = await sealed_in_sql(env, "tray-3")
    assert sealed is not None and unseal(new, "tray-3", sealed) == key
    entry = msgspec.json.decode(
        cast(bytes, await env.redis.hget(REGISTRY, "tray-3")), type=RegistryEntry
    )
    assert unseal(new, "tray-3", entry.key) == key
