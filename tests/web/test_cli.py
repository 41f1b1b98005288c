"""The interface outside checks rely on: `robodine users add` and `robodine web` as processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.servers import RedisServer, free_port
from tests.support.web import DATA_KEY, ORIGIN, SECRET, MakeEnv, in_process
from web.db.migrate import head_revision
from web.security import Role

PASSWORD = "a password for the cli"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBODINE_")}
    env.update(extra)
    return env


def _config(tmp_path: Path, redis_url: str, db_url: str) -> Path:
    path = tmp_path / "robodine.toml"
    path.write_text(f"""
[web]
secret = "{SECRET}"
origins = ["{ORIGIN}"]
argon2_time_cost = 1
argon2_memory_kib = 8
argon2_parallelism = 1
hub_block_ms = 200
shutdown_timeout_s = 2

[redis]
url = "{redis_url}"

[database]
url = "{db_url}"

[logging]
format = "json"
""")
    return path


def robodine(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "robodine", *args],
        input=stdin,
        text=True,
        capture_output=True,
        env=env or _env(),
        timeout=60,
        check=False,
    )


def test_users_add_on_an_empty_database(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/fresh.sqlite3"
    env = _env(
        ROBODINE_DATABASE_URL=db,
        ROBODINE_WEB_ARGON2_MEMORY_KIB="8",
        ROBODINE_WEB_ARGON2_TIME_COST="1",
        ROBODINE_WEB_ARGON2_PARALLELISM="1",
    )
    done = robodine("users", "add", "boss", "--role", "admin", stdin=PASSWORD + "\n", env=env)
    assert done.returncode == 0, done.stderr
    # Quiet: the one line it did, no alembic INFO lines nor the migration's log line.
    assert done.stdout == "user 'boss' created with role admin\n"
    assert done.stderr == ""
    again = robodine("users", "add", "boss", "--role", "staff", stdin=PASSWORD + "\n", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_help_says_what_robodine_is_not_how_the_parser_is_built() -> None:
    done = robodine("--help")
    assert done.returncode == 0, done.stderr
    assert "serving and cooking robots" in done.stdout and "staff dashboard" in done.stdout
    assert "robodine COMMAND --help" in done.stdout
    assert "SUBCOMMAND" not in done.stdout and "argument parsing" not in done.stdout
    for command in ("gateway", "web", "users", "demo-data", "sim"):
        assert f"    {command} " in done.stdout, command


def test_users_commands_report_bad_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3"
    assert (
        in_process(monkeypatch, db, "users", "add", "kid", "--role", "viewer", stdin="short\n") == 2
    )
    assert "at least 10 characters" in capsys.readouterr().err
    assert (
        in_process(monkeypatch, db, "users", "add", "Kid Name", "--role", "viewer", stdin=PASSWORD)
        == 2
    )
    assert "username" in capsys.readouterr().err
    assert in_process(monkeypatch, db, "users", "add", "kid", "--role", "viewer", stdin="") == 2
    assert "password" in capsys.readouterr().err
    assert (
        in_process(
            monkeypatch, db, "users", "add", "kid", "--role", "viewer", stdin=PASSWORD + "\n"
        )
        == 0
    )
    assert in_process(monkeypatch, db, "users", "list") == 0
    assert capsys.readouterr().out.split()[-3:] == ["kid", "viewer", "active"]
    assert in_process(monkeypatch, db, "users", "passwd", "kid", stdin="another password\n") == 0
    assert in_process(monkeypatch, db, "users", "passwd", "ghost", stdin="another password\n") == 1
    assert in_process(monkeypatch, db, "users", "remove", "kid") == 0
    assert in_process(monkeypatch, db, "users", "remove", "kid") == 1
    assert in_process(monkeypatch, db, "db", "current") == 0
    head = head_revision()
    assert f"current {head}, head {head}" in capsys.readouterr().out


def test_web_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    done = robodine("web", env=_env(ROBODINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    assert done.returncode == 2
    assert "robodine: config: web.secret: required" in done.stderr
    assert "ROBODINE_WEB_SECRET" in done.stderr


def test_web_refuses_to_start_without_a_data_key(tmp_path: Path) -> None:
    env = _env(
        ROBODINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db", ROBODINE_WEB_SECRET=SECRET
    )
    done = robodine("web", env=env)
    assert done.returncode == 2
    assert "robodine: config: data.key: required to seal the keys of robots" in done.stderr
    assert "ROBODINE_DATA_KEY" in done.stderr
    bad = robodine("web", env={**env, "ROBODINE_DATA_KEY": "12ab"})
    assert bad.returncode == 2
    assert "data.key" in bad.stderr and "64 hex digits" in bad.stderr


async def _wait_http(url: str, proc: asyncio.subprocess.Process, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as s:
        while asyncio.get_running_loop().time() < deadline:
            assert proc.returncode is None, "robodine web exited"
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(url)


async def test_web_process_serves_a_fresh_database_and_shares_chat_with_another(
    tmp_path: Path,
    redis_server: RedisServer,
    make_env: MakeEnv,
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/shared.sqlite3"
    config = _config(tmp_path, redis_server.url, db)
    port = free_port()
    env = _env(
        ROBODINE_WEB_PORT=str(port),
        ROBODINE_WEB_HOST="127.0.0.1",
        ROBODINE_WEB_NAME="web-proc",
        ROBODINE_DATA_KEY=DATA_KEY,
    )
    added = await asyncio.to_thread(
        robodine,
        "--config",
        str(config),
        "users",
        "add",
        "chef",
        "--role",
        "staff",
        stdin=PASSWORD + "\n",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    env.update(NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="400000")
    log_path = tmp_path / "web.log"
    with log_path.open("w") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "robodine",
            "web",
            "--config",
            str(config),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_http(f"{base}/ready", proc)
        # A request aiohttp refuses before any route: problem+json, no versions, no traceback.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Nul: a\x00b\r\n\r\n")
        refused = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, body = refused.partition(b"\r\n\r\n")
        assert b" 400 " in head.split(b"\r\n")[0] and b"Server: robodine\r\n" in head + b"\r\n"
        assert b"application/problem+json" in head and b'"code":"bad_request"' in body
        local = await make_env(db, users=False)  # a second web process, in this test's loop
        await local.add_user("admin", Role.ADMIN)
        await local.login("admin")
        async with aiohttp.ClientSession() as s:
            async with s.post(
                f"{base}/api/auth/login", json={"username": "chef", "password": PASSWORD}
            ) as r:
                assert r.status == 200
                login = await r.json()
            assert set(login) >= {"token", "expires_at"}
            async with s.get(f"{base}/health") as r:
                assert (await r.json())["server"] == "web-proc"
            ws = await s.ws_connect(
                f"{base}/ws/chat/kitchen",
                params={"token": login["token"]},
                headers={"Origin": ORIGIN},
            )
            history = await ws.receive_json(timeout=5)
            assert history["type"] == "history"
            mine = await local.ws("/ws/chat/kitchen", "admin")
            assert (await mine.receive_json(timeout=5))["type"] == "history"
            await ws.send_json({"content": "from the process"})
            await mine.send_json({"content": "from the test"})
            seen_remote: list[tuple[str, str]] = []
            seen_local: list[tuple[str, str]] = []
            while len(seen_remote) < 2:
                f = await ws.receive_json(timeout=5)
                if f["type"] == "message":
                    seen_remote.append((f["username"], f["content"]))
            while len(seen_local) < 2:
                f = await mine.receive_json(timeout=5)
                if f["type"] == "message":
                    seen_local.append((f["username"], f["content"]))
            assert (
                sorted(seen_remote)
                == sorted(seen_local)
                == [("admin", "from the test"), ("chef", "from the process")]
            )
            proc.send_signal(signal.SIGTERM)
            while True:
                msg = await ws.receive(timeout=10)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
            assert ws.close_code == 1001
            await mine.close()
        async with asyncio.timeout(15):
            assert await proc.wait() == 0
        log = log_path.read_text()
        notes = []
        with contextlib.suppress(BlockingIOError):
            while True:
                notes.append(notify.recv(4096).decode())
        assert notes[0] == "READY=1\nSTATUS=serving" and notes[-1] == "STOPPING=1"
        assert "WATCHDOG=1" in notes
        assert '"event":"web_started"' in log and '"event":"web_stopped"' in log
        assert '"event":"http_bad_request"' in log and "Traceback" not in log
        assert '"event":"http_request"' in log and "token=[redacted]" in log
        assert "token=" not in log.replace("token=[redacted]", "")
    finally:
        notify.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
