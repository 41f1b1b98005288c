"""The web tier against real servers: settings, a running web process and socket readers;
the fixtures the web and fuzz conftests both offer."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import sys
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from config import Settings
from protocol.streams import (
    EVENTS,
    ROBOTS_INDEX,
    TELEMETRY,
    EventRecord,
    Level,
    RobotSnapshot,
    TelemetryRecord,
    robot_key,
    to_fields,
)
from robodine import cli as robodine_cli
from tests.servers import RedisServer
from tests.support.replies import as_fields
from web import create_app
from web.db.migrate import upgrade
from web.db.session import create_engine
from web.keys import DB, PASSWORDS
from web.security import Role
from web.users.service import UserService

SECRET = "test-secret-" + "s" * 60  # 72 bytes: HS512 forgeries in tests need 64


PASSWORD = "correct horse battery staple"


ORIGIN = "http://dash.test"


DATA_KEY = "d7" * 32  # seals robot keys (ROBODINE_DATA_KEY)


ROBOTS = [
    {"id": "serve-1", "kind": "serving", "key": "11" * 32, "name": "Server One"},
    {"id": "serve-2", "kind": "serving", "key": "22" * 32},
    {"id": "cook-1", "kind": "cooking", "key": "33" * 32},
]


def web_settings(redis_url: str, db_url: str, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "web": {
            "name": "web-test",
            "secret": SECRET,
            "origins": [ORIGIN],
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8,
            "argon2_parallelism": 1,
            "hub_block_ms": 200,
            "ws_heartbeat_s": 5,
            "shutdown_timeout_s": 2,
        },
        "redis": {"url": redis_url, "connect_timeout_s": 0.5},
        "database": {"url": db_url},
        "floor": {"tables": [{"name": "t1", "x": 5.0, "y": 4.0}]},
        "data": {"key": DATA_KEY},
        "robots": ROBOTS,
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return Settings(**data)


def _migrate(url: str) -> None:
    from config.settings import DatabaseSettings

    async def go() -> None:
        engine = create_engine(DatabaseSettings(url=url))
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(go())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite file of this test's own (a copy of the session's template)."""
    path = tmp_path / "web.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


class WebEnv:
    """One running web app plus the tools a test needs to talk to it."""

    def __init__(
        self, client: TestClient[Any, Any], settings: Settings, redis: aioredis.Redis
    ) -> None:
        self.client = client
        self.settings = settings
        self.redis = redis
        self.tokens: dict[str, str] = {}

    @property
    def app(self) -> Any:
        return self.client.app

    async def add_user(self, name: str, role: Role, password: str = PASSWORD) -> None:
        users = UserService(self.app[DB], self.app[PASSWORDS], 8)
        await users.create(name, password, role)

    async def login(self, name: str, password: str = PASSWORD) -> str:
        r = await self.client.post("/api/auth/login", json={"username": name, "password": password})
        assert r.status == 200, await r.text()
        token = (await r.json())["token"]
        self.tokens[name] = token
        return str(token)

    def auth(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def ws(
        self,
        path: str,
        who: str = "admin",
        *,
        token: str | None = None,
        origin: str | None = ORIGIN,
        **params: Any,
    ) -> ClientWebSocketResponse:
        query = {"token": token or self.tokens[who], **{k: str(v) for k, v in params.items()}}
        headers = {"Origin": origin} if origin else {}
        return await self.client.ws_connect(path, params=query, headers=headers)

    # -- what the gateway writes --

    async def event(
        self, type_: str, robot: str = "", level: Level = Level.INFO, **data: Any
    ) -> str:
        rec = EventRecord(
            eid=uuid.uuid4().hex,
            type=type_,
            ts=time.time(),
            robot=robot,
            level=level,
            src="gw-test",
            data=data,
        )
        return _s(await self.redis.xadd(EVENTS, as_fields(to_fields(rec))))

    async def telemetry(self, robot: str, seq: int, x: float = 1.0, battery: float = 90.0) -> str:
        rec = TelemetryRecord(
            robot=robot,
            seq=seq,
            ts=time.time(),
            x=x,
            y=2.0,
            theta=0.0,
            battery=battery,
            speed=0.5,
            transport="udp",
            rx=time.time(),
        )
        return _s(await self.redis.xadd(TELEMETRY, as_fields(to_fields(rec))))

    async def snapshot(self, robot: str, **fields: Any) -> None:
        snap = RobotSnapshot(id=robot, **fields)
        await self.redis.hset(robot_key(robot), mapping=as_fields(to_fields(snap)))
        await self.redis.sadd(ROBOTS_INDEX, robot)


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


_UNREAD: weakref.WeakKeyDictionary[ClientWebSocketResponse, list[dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


async def recv(ws: ClientWebSocketResponse, timeout: float = 3.0) -> dict[str, Any]:
    """The next JSON frame (fails on close or timeout); a ``batch`` is read frame by frame."""
    unread = _UNREAD.setdefault(ws, [])
    if unread:
        return unread.pop(0)
    msg = await ws.receive(timeout=timeout)
    assert msg.type is WSMsgType.TEXT, (
        f"expected a text frame, got {msg.type} {msg.data!r} {msg.extra!r}"
    )
    data = orjson.loads(msg.data)
    assert isinstance(data, dict)
    if data["type"] == "batch":
        assert len(data["frames"]) > 1, "a batch holds several frames"
        unread.extend(data["frames"])
        return unread.pop(0)
    return data


async def recv_until(
    ws: ClientWebSocketResponse, type_: str, timeout: float = 3.0
) -> dict[str, Any]:
    """Skip frames until one of ``type_`` arrives."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"no {type_!r} frame within {timeout}s"
        frame = await recv(ws, left)
        if frame["type"] == type_:
            return frame


async def closed_with(ws: ClientWebSocketResponse, timeout: float = 3.0) -> int | None:
    """Read until the server closes; the code of its close frame (not of the client's own
    reply, which ``ws.close_code`` may hold when a late frame raced the close)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, "the server did not close the socket"
        msg = await ws.receive(timeout=left)
        if msg.type is WSMsgType.CLOSE:
            return int(msg.data)
        if msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
            return ws.close_code


MakeEnv = Callable[..., Awaitable[WebEnv]]


@pytest.fixture
async def make_env(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    sqlite_url: str,
) -> MakeEnv:
    """Start a web process; ``users=False`` skips creating admin/staff/viewer."""

    async def make(db_url: str | None = None, *, users: bool = True, **overrides: Any) -> WebEnv:
        settings = web_settings(redis_server.url, db_url or sqlite_url, **overrides)
        client = await aiohttp_client(create_app(settings))
        env = WebEnv(client, settings, redis_client)
        if users:
            for role in Role:
                name = str(role)
                try:
                    await env.add_user(name, role)
                except Exception as exc:  # a second process on the same database
                    if getattr(exc, "status", None) != 409:
                        raise
                await env.login(name)
        return env

    return make


@pytest.fixture
async def env(make_env: MakeEnv) -> WebEnv:
    return await make_env()


def in_process(monkeypatch: pytest.MonkeyPatch, db: str, *argv: str, stdin: str = "") -> int:
    """The same CLI in this process (cheaper than a subprocess for the remaining cases)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    monkeypatch.setattr(robodine_cli, "configure_logging", lambda *a, **k: None)
    for key in [k for k in os.environ if k.startswith("ROBODINE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ROBODINE_DATABASE_URL", db)
    monkeypatch.setenv("ROBODINE_WEB_ARGON2_MEMORY_KIB", "8")
    monkeypatch.setenv("ROBODINE_WEB_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ROBODINE_WEB_ARGON2_PARALLELISM", "1")
    return robodine_cli.main(list(argv))
