"""Robots added through the API on MQTT and VDA 5050: transport and identity in SQL,
rd:registry and the answers, as the gateway reads them back."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from alembic import command
from sqlalchemy import create_engine, text

from gateway.fleet.registry import robot_from_entry
from protocol.streams import COMMANDS, REGISTRY, RegistryEntry
from tests.support.web import DATA_KEY, ROBOTS, MakeEnv, WebEnv
from web.db.migrate import alembic_config

AGV = {"manufacturer": "Acme", "serial": "SN-40"}


async def post(env: WebEnv, body: dict[str, Any], who: str = "admin") -> tuple[int, Any]:
    r = await env.client.post("/api/robots", headers=env.auth(who), json=body)
    return r.status, await r.json()


async def test_mqtt_and_vda5050_robots_carry_their_transport_everywhere(env: WebEnv) -> None:
    status, mq = await post(env, {"id": "mq-7", "kind": "cooking", "transport": "mqtt"})
    assert status == 201, mq
    assert (mq["transport"], mq["key"], mq["vda"]) == ("mqtt", None, None)  # the broker logs it in
    status, agv = await post(
        env, {"id": "agv-7", "kind": "serving", "vda": {**AGV, "version": "2.0.0"}}
    )
    assert status == 201, agv
    assert agv["transport"] == "vda5050" and agv["key"] is None  # vda given: vda5050
    assert agv["vda"] == {**AGV, "version": "2.0.0"}
    status, tcp = await post(env, {"id": "tray-7", "kind": "serving"})
    assert tcp["transport"] == "tcp" and len(bytes.fromhex(tcp["key"])) == 32

    listed = {
        r["id"]: r
        for r in (await (await env.client.get("/api/robots", headers=env.auth("viewer"))).json())[
            "items"
        ]
    }
    assert (listed["mq-7"]["transport"], listed["agv-7"]["transport"]) == ("mqtt", "vda5050")
    assert listed["agv-7"]["vda"]["serial"] == "SN-40" and listed["mq-7"]["vda"] is None
    assert listed["serve-1"]["transport"] == "tcp"  # a config robot: the file's transport

    # the gateway reads each entry back as the config robot it describes
    keys = (bytes.fromhex(DATA_KEY),)
    for robot, transport in (("mq-7", "mqtt"), ("agv-7", "vda5050"), ("tray-7", "tcp")):
        raw = cast(bytes, await env.redis.hget(REGISTRY, robot))
        config = robot_from_entry(robot, raw, keys)
        assert config.transport == transport
    agv_config = robot_from_entry(
        "agv-7", cast(bytes, await env.redis.hget(REGISTRY, "agv-7")), keys
    )
    assert agv_config.vda is not None
    assert (agv_config.vda.manufacturer, agv_config.vda.serial, agv_config.vda.version) == (
        "Acme",
        "SN-40",
        "2.0.0",
    )

    # an MQTT robot has no key to change
    r = await env.client.post("/api/robots/mq-7/key", headers=env.auth())
    assert r.status == 409 and "broker login" in (await r.json())["detail"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"id": "a-1", "kind": "serving", "transport": "vda5050"}, 422, "vda"),
        ({"id": "a-1", "kind": "cooking", "vda": AGV}, 422, "kind"),
        ({"id": "a-1", "kind": "serving", "transport": "mqtt", "vda": AGV}, 422, "vda"),
        ({"id": "a-1", "kind": "serving", "vda": {**AGV, "version": "9.9.9"}}, 422, "vda.version"),
        ({"id": "a-1", "kind": "serving", "vda": {**AGV, "serial": "a/b"}}, 422, "vda.serial"),
        ({"id": "a-1", "kind": "serving", "vda": {"manufacturer": "Acme"}}, 422, "vda.serial"),
        ({"id": "a-1", "kind": "serving", "transport": "udp"}, 422, "transport"),
        (
            {"id": "a-1", "kind": "serving", "vda": {"manufacturer": "Acme", "serial": "SN-1"}},
            409,
            "vda",
        ),  # agv-1 of the config file
    ],
)
async def test_registrations_a_config_file_would_refuse(
    make_env: MakeEnv, body: dict[str, Any], status: int, field: str
) -> None:
    env = await make_env(
        robots=[
            *ROBOTS,
            {"id": "agv-1", "kind": "serving", "vda": {"manufacturer": "Acme", "serial": "SN-1"}},
        ]
    )
    got, problem = await post(env, body)
    assert (got, problem.get("field")) == (status, field), problem
    assert await env.redis.hlen(REGISTRY) == 0 and await env.redis.xlen(COMMANDS) == 0


async def test_one_agv_is_one_robot(env: WebEnv) -> None:
    assert (await post(env, {"id": "agv-a", "kind": "serving", "vda": AGV}))[0] == 201
    status, problem = await post(env, {"id": "agv-b", "kind": "serving", "vda": AGV})
    assert (status, problem["field"]) == (409, "vda")
    assert await env.redis.hkeys(REGISTRY) == [b"agv-a"]


def test_migration_0004_keeps_robots_as_tcp_and_goes_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    engine = create_engine(url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            text(
                "INSERT INTO robots (id, kind, name, network, source, key_sealed, "
                "created_by, created_at, updated_at) VALUES ('old-1', 'serving', '', "
                "'', 'api', 'x', 'a', '2026-01-01', '2026-01-01')"
            )
        )
        command.upgrade(cfg, "0004")
        row = conn.execute(text("SELECT transport, vda_serial FROM robots")).one()
        assert tuple(row) == ("tcp", None)
        bad = "INSERT INTO robots (id, kind, source, transport, created_at, updated_at) VALUES "
        with pytest.raises(Exception, match="CHECK"), conn.begin_nested():  # vda5050, no identity
            conn.execute(text(bad + "('v-1', 'serving', 'api', 'vda5050', '2026', '2026')"))
        command.downgrade(cfg, "0003")
        assert conn.execute(text("SELECT id FROM robots")).scalars().all() == ["old-1"]
    engine.dispose()


def test_old_registry_entries_are_tcp() -> None:
    entry = msgspec.json.decode(b'{"id":"x","kind":"serving","key":"k"}', type=RegistryEntry)
    assert (entry.transport, entry.vda) == ("tcp", None)
