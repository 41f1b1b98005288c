"""`robodine backup` under a running simulated fleet, restored into a fresh redis-server
and database: the counts the manifest gives are what the restored box holds, and the
system started on it serves the orders, events, chat and robots. Bad archives, busy
targets and a Redis that is away are refused before anything is written."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from tests.ops.system import ADMIN_PASSWORD, System, running
from tests.servers import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _shop(system: System, orders: int, messages: list[str]) -> list[int]:
    """Place orders and chat through the API, as staff would."""
    async with aiohttp.ClientSession(system.url) as http:
        r = await http.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        token = (await r.json())["token"]
        h = {"Authorization": f"Bearer {token}"}
        tables = (await (await http.get("/api/tables", headers=h)).json())["items"]
        menu = (await (await http.get("/api/menu", headers=h)).json())["items"]
        ids = []
        for i in range(orders):
            body = {
                "table_id": tables[i % len(tables)]["id"],
                "items": [{"menu_item_id": menu[i % len(menu)]["id"], "quantity": 1}],
            }
            r = await http.post("/api/orders", json=body, headers=h)
            assert r.status in (200, 201, 202), await r.text()
            ids.append((await r.json())["id"])
        ws = await http.ws_connect(
            "/ws/chat/kitchen", params={"token": token}, headers={"Origin": system.url}
        )
        await ws.receive_json(timeout=5)  # history
        for m in messages:
            await ws.send_json({"content": m})
        seen: list[str] = []
        while len(seen) < len(messages):
            frame = await ws.receive_json(timeout=5)
            if frame.get("type") == "message":
                seen.append(frame["content"])
        await ws.close()
        return ids


async def _served(system: System, order_ids: list[int]) -> dict[str, Any]:
    async with aiohttp.ClientSession(system.url) as http:
        r = await http.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert r.status == 200, "the restored users log in"
        h = {"Authorization": f"Bearer {(await r.json())['token']}"}
        orders = {
            o["id"]
            for o in (
                await (await http.get("/api/orders", params={"limit": "500"}, headers=h)).json()
            )["items"]
        }
        listed = await (await http.get("/api/robots", headers=h)).json()
        robots = [x["id"] for x in listed["items"]]
        ws = await http.ws_connect(
            "/ws/chat/kitchen",
            params={"token": (h["Authorization"].split()[1])},
            headers={"Origin": system.url},
        )
        history = await ws.receive_json(timeout=5)
        await ws.close()
        events = await (await http.get("/api/events", params={"limit": "5"}, headers=h)).json()
        return {
            "orders_found": set(order_ids) <= orders,
            "robots": robots,
            "chat": [m["content"] for m in history["messages"]],
            "events": events,
        }


def counts(redis_url: str, db: Path) -> dict[str, int]:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    chat = sum(r.xlen(k) for k in r.scan_iter(match="rd:chat:*", _type="stream"))
    with sqlite3.connect(db) as s:
        orders = s.execute("SELECT count(*) FROM orders").fetchone()[0]
        users = s.execute("SELECT count(*) FROM users").fetchone()[0]
    return {
        "orders": orders,
        "events": r.xlen("rd:events"),
        "chat_messages": chat,
        "robots": r.scard("rd:robots"),
        "users": users,
    }


def manifest_of(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive, "r:gz") as tar:
        f = tar.extractfile("manifest.json")
        assert f is not None
        return dict(json.loads(f.read()))


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


def test_backup_of_a_running_fleet_restores_into_a_fresh_box(
    redis_private: RedisServer, fresh_redis: RedisServer, tmp_path: Path
) -> None:
    archive = tmp_path / "box.tar.gz"
    with running(tmp_path / "old", redis_private.url) as old:
        demo = old.robodine("demo-data", "--if-empty", input=ADMIN_PASSWORD + "\n")
        assert demo.returncode == 0, demo.stderr
        old.start("gateway")
        old.start("web")
        old.start("sim", "--status-s", "0", "--pickup-s", "0.5", notify=False)
        order_ids = asyncio.run(_shop(old, 4, ["table 3 wants water", "two more kimchi"]))
        time.sleep(3)  # the robots cook and carry while the backup runs
        done = old.robodine("backup", str(archive))
        assert done.returncode == 0, done.stderr
        assert "4 orders" in done.stdout and "(no secrets: --with-secrets)" in done.stdout
        assert not list(tmp_path.glob("*.partial"))
    m = manifest_of(archive)
    assert m["format"] == 1 and m["database"]["kind"] == "sqlite"
    assert m["counts"]["orders"] == 4 and m["counts"]["chat_messages"] == 2
    assert m["counts"]["robots"] == 3 and m["counts"]["events"] > 0
    assert m["redis"]["streams"]["rd:events"] == m["counts"]["events"]
    assert set(m["files"]) == {"redis.jsonl", "database.sqlite3", "config/robodine.toml"}
    assert (archive.stat().st_mode & 0o777) == 0o600

    new = System(tmp_path / "new", fresh_redis.url)
    new.config.write_text((tmp_path / "old" / "robodine.toml").read_text())  # same keys
    done = new.robodine("restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert counts(fresh_redis.url, tmp_path / "new" / "robodine.sqlite3") == m["counts"]
    # the consumer groups are where they were (or before what they had not acknowledged)
    r = redis.Redis.from_url(fresh_redis.url, decode_responses=True)
    assert {g["name"] for g in r.xinfo_groups("rd:events")} >= {"projector"}
    assert {g["name"] for g in r.xinfo_groups("rd:commands")} == {"gateway"}

    again = new.robodine("restore", str(archive))
    assert again.returncode == 1
    assert "Redis already holds" in again.stderr and "--force" in again.stderr

    try:
        new.start("gateway")
        new.start("web")
        served = asyncio.run(_served(new, order_ids))
    finally:
        new.close()
    assert served["orders_found"]
    assert sorted(served["robots"]) == ["cook-001", "serve-001", "serve-002"]
    assert served["chat"][-2:] == ["table 3 wants water", "two more kimchi"]
    assert served["events"]["items"]

    forced = new.robodine("restore", str(archive), "--force")
    assert forced.returncode == 0, forced.stderr


def test_secrets_only_when_asked(redis_private: RedisServer, tmp_path: Path) -> None:
    system = System(tmp_path / "box", redis_private.url, ROBODINE_WEB_SECRET="s" * 40)
    assert system.robodine("db", "upgrade").returncode == 0
    archive = tmp_path / "with.tar.gz"
    done = system.robodine("backup", str(archive), "--with-secrets")
    assert done.returncode == 0, done.stderr
    with tarfile.open(archive, "r:gz") as tar:
        f = tar.extractfile("secrets.env")
        assert f is not None
        lines = f.read().decode().splitlines()
    assert f"ROBODINE_WEB_SECRET={'s' * 40}" in lines
    assert any(line.startswith("ROBODINE_DATA_KEY=") for line in lines)
    assert manifest_of(archive)["secrets"] is True


def test_backup_with_redis_down_leaves_no_archive(tmp_path: Path) -> None:
    from tests.servers import free_port

    system = System(tmp_path / "box", f"redis://127.0.0.1:{free_port()}/0")
    archive = tmp_path / "x.tar.gz"
    done = system.robodine("backup", str(archive))
    assert done.returncode == 1
    assert "Redis at redis://127.0.0.1:" in done.stderr and "no backup written" in done.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "box"]


def _rewrite(src: Path, dest: Path, **manifest: Any) -> None:
    """A copy of ``src`` whose manifest has ``manifest`` merged in."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dest, "w:gz") as tout:
        for member in tin:
            extracted = tin.extractfile(member)
            assert extracted is not None, member.name  # every member is a regular file
            data = extracted.read()
            if member.name == "manifest.json":
                doc = json.loads(data)
                for k, v in manifest.items():
                    if isinstance(v, dict):
                        doc[k].update(v)
                    else:
                        doc[k] = v
                data = json.dumps(doc).encode()
                member.size = len(data)
            tout.addfile(member, io.BytesIO(data))


@pytest.fixture
def small_archive(redis_private: RedisServer, tmp_path: Path) -> Path:
    r = redis.Redis.from_url(redis_private.url)
    r.xadd("rd:events", {"type": "robot.state", "level": "info"})
    system = System(tmp_path / "src", redis_private.url)
    assert system.robodine("db", "upgrade").returncode == 0
    archive = tmp_path / "small.tar.gz"
    assert system.robodine("backup", str(archive)).returncode == 0
    return archive


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated", "truncated"),
        ("newer", "archive format 99; this robodine"),
        ("postgresql", "holds a postgresql database and database.url is sqlite"),
        ("schema", "schema 9999, which this robodine"),
    ],
)
def test_a_bad_archive_is_refused_before_anything_is_written(
    small_archive: Path, fresh_redis: RedisServer, tmp_path: Path, damage: str, message: str
) -> None:
    bad = tmp_path / f"{damage}.tar.gz"
    if damage == "truncated":
        data = small_archive.read_bytes()
        bad.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "newer":
        _rewrite(small_archive, bad, format=99, robodine="9.0.0")
    elif damage == "postgresql":
        _rewrite(small_archive, bad, database={"kind": "postgresql"})
    else:
        _rewrite(small_archive, bad, database={"revision": "9999"})
    target = System(tmp_path / "target", fresh_redis.url)
    done = target.robodine("restore", str(bad))
    assert done.returncode == 1, done.stdout
    assert message in done.stderr, done.stderr
    assert redis.Redis.from_url(fresh_redis.url).dbsize() == 0
    assert not (tmp_path / "target" / "robodine.sqlite3").exists()


def test_a_damaged_member_is_refused(
    small_archive: Path, fresh_redis: RedisServer, tmp_path: Path
) -> None:
    bad = tmp_path / "damaged.tar.gz"
    with tarfile.open(small_archive, "r:gz") as tin, tarfile.open(bad, "w:gz") as tout:
        for member in tin:
            extracted = tin.extractfile(member)
            assert extracted is not None, member.name  # every member is a regular file
            data = extracted.read()
            if member.name == "redis.jsonl":
                data = data.replace(b"robot.state", b"robot.STATE")
            tout.addfile(member, io.BytesIO(data))
    done = System(tmp_path / "target", fresh_redis.url).robodine("restore", str(bad))
    assert done.returncode == 1 and "redis.jsonl does not match its checksum" in done.stderr


def test_postgresql_round_trip(
    redis_private: RedisServer,
    fresh_redis: RedisServer,
    tmp_path: Path,
    pg_database: Callable[[], str],
) -> None:
    src = System(tmp_path / "src", redis_private.url, ROBODINE_DATABASE_URL=pg_database())
    assert src.robodine("demo-data", input=ADMIN_PASSWORD + "\n").returncode == 0
    archive = tmp_path / "pg.tar.gz"
    done = src.robodine("backup", str(archive))
    assert done.returncode == 0, done.stderr
    m = manifest_of(archive)
    assert m["database"]["kind"] == "postgresql" and m["database"]["rows"]["menu_items"] > 0
    dst = System(tmp_path / "dst", fresh_redis.url, ROBODINE_DATABASE_URL=pg_database())
    done = dst.robodine("restore", str(archive))
    assert done.returncode == 0, done.stderr
    again = dst.robodine("restore", str(archive))
    assert again.returncode == 1 and "not empty" in again.stderr
    done = dst.robodine("backup", str(tmp_path / "pg2.tar.gz"))
    assert done.returncode == 0, done.stderr
    assert manifest_of(tmp_path / "pg2.tar.gz")["database"]["rows"] == m["database"]["rows"]
