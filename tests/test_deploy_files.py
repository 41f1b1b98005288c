"""The edge-box deployment files do what docs/operations.md says they do.

- systemd units: exposure score, syntax, the contract with the code (notify,
  watchdog, paths the settings loader accepts), and a sandbox check that runs
  what the daemons do under strace and compares it with the units' filters.
- Redis snippet: included last it wins over hostile defaults, and acknowledged
  XADDs survive SIGKILL (with a contrast run that shows the test can fail).
- Mosquitto snippet + ACL example: the broker starts with them, refuses
  anonymous clients, confines robots to their own topics, and keeps PUBACKed
  QoS 1 messages queued for an offline gateway across a SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import redis

from config import load_settings
from tests.servers import MosquittoServer, RedisServer

REPO = Path(__file__).resolve().parents[1]
SYSTEMD = REPO / "systemd"
UNITS = (
    "robodine-gateway.service",
    "robodine-web.service",
    "robodine-worker.service",
    "robodine-recorder.service",
)
REDIS_SNIPPET = REPO / "config" / "redis-robodine.conf"
MOSQUITTO_SNIPPET = REPO / "config" / "mosquitto-robodine.conf"
MOSQUITTO_ACL = REPO / "config" / "mosquitto-acl.example"
MAX_EXPOSURE = 2.0

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)

Unit = dict[str, list[tuple[str, str]]]


def parse_unit(path: Path) -> Unit:
    """Section -> [(key, value)] in file order; systemd keys may repeat."""
    unit: Unit = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            unit.setdefault(section, [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {raw!r}"
        unit[section].append((key.strip(), value.strip()))
    return unit


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: Unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}= appears {len(found)} times"
    return found[0]


def unit_environment(unit: Unit) -> dict[str, str]:
    env = {}
    for assignment in values(unit, "Service", "Environment"):
        name, _, value = assignment.partition("=")
        env[name] = value
    return env


# --- systemd units: score and syntax --------------------------------------------------------


@needs_analyze
@pytest.mark.parametrize("name", UNITS)
def test_unit_exposure_is_ok(name: str) -> None:
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(SYSTEMD / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(
        rf"Overall exposure level for {re.escape(name)}: (\d+\.\d+) (\w+)", proc.stdout
    )
    assert match, proc.stdout[-2000:] + proc.stderr
    assert float(match[1]) <= MAX_EXPOSURE, proc.stdout
    assert match[2] == "OK"
    # A misspelled key is ignored with a warning, and its protection silently lost.
    assert "Unknown" not in proc.stderr, proc.stderr


@needs_analyze
def test_units_verify_cleanly_except_for_the_missing_venv() -> None:
    files = [str(SYSTEMD / n) for n in (*UNITS, "robodine.target")]
    proc = subprocess.run(
        ["systemd-analyze", "verify", *files],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    complaints = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.strip() and "/opt/robodine/.venv/bin/robodine is not executable" not in line
    ]
    assert complaints == []


# --- systemd units: the contract with the code ----------------------------------------------


def test_gateway_unit_contract() -> None:
    unit = parse_unit(SYSTEMD / "robodine-gateway.service")
    assert one(unit, "Service", "Type") == "notify"  # robodine.lifecycle sends READY=1
    assert one(unit, "Service", "NotifyAccess") == "main"
    assert one(unit, "Service", "WatchdogSec") == "10"  # Notifier pings every 5 s
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "TimeoutStopSec") == "15"
    assert one(unit, "Service", "ExecStart") == (
        "/opt/robodine/.venv/bin/robodine gateway --config /etc/robodine/robodine.toml"
    )
    after = " ".join(values(unit, "Unit", "After")).split()
    assert {"redis-server.service", "mosquitto.service", "network-online.target"} <= set(after)
    # Robot ports are > 1024: no capability at all.
    assert one(unit, "Service", "CapabilityBoundingSet") == ""
    assert set(one(unit, "Service", "RestrictAddressFamilies").split()) == {
        "AF_INET",
        "AF_INET6",
        "AF_UNIX",
    }


def test_web_unit_runs_web_with_the_same_hardening() -> None:
    gateway = parse_unit(SYSTEMD / "robodine-gateway.service")
    web = parse_unit(SYSTEMD / "robodine-web.service")
    assert one(web, "Service", "ExecStart") == (
        "/opt/robodine/.venv/bin/robodine web --config /etc/robodine/robodine.toml"
    )
    per_unit = {
        "Type",
        "NotifyAccess",
        "WatchdogSec",
        "ExecStart",
        "Environment",
        "TimeoutStartSec",
    }

    def hardening(u: Unit) -> list[tuple[str, str]]:
        return [(k, v) for k, v in u["Service"] if k not in per_unit]

    assert hardening(web) == hardening(gateway)


def test_worker_unit_runs_the_worker_with_the_same_hardening_but_any_address() -> None:
    """Webhook endpoints may be anywhere: no IP allowlist (the code refuses the box itself)."""
    gateway = parse_unit(SYSTEMD / "robodine-gateway.service")
    worker = parse_unit(SYSTEMD / "robodine-worker.service")
    assert one(worker, "Service", "ExecStart") == (
        "/opt/robodine/.venv/bin/robodine worker --config /etc/robodine/robodine.toml"
    )
    assert one(worker, "Service", "Type") == "notify"
    per_unit = {
        "Type",
        "NotifyAccess",
        "WatchdogSec",
        "ExecStart",
        "Environment",
        "TimeoutStartSec",
        "IPAddressDeny",
        "IPAddressAllow",
    }

    def hardening(u: Unit) -> list[tuple[str, str]]:
        return [(k, v) for k, v in u["Service"] if k not in per_unit]

    assert hardening(worker) == hardening(gateway)
    assert values(worker, "Service", "IPAddressDeny") == []


def test_recorder_unit_runs_the_recorder_with_the_web_tiers_hardening() -> None:
    """Redis, the database and an object store on the LAN: the web tier's allowlist."""
    web = parse_unit(SYSTEMD / "robodine-web.service")
    recorder = parse_unit(SYSTEMD / "robodine-recorder.service")
    assert one(recorder, "Service", "ExecStart") == (
        "/opt/robodine/.venv/bin/robodine recorder --config /etc/robodine/robodine.toml"
    )
    assert one(recorder, "Service", "Type") == "notify"
    assert "robodine-web.service" in one(recorder, "Unit", "After")
    per_unit = {"ExecStart"}

    def hardening(u: Unit) -> list[tuple[str, str]]:
        return [(k, v) for k, v in u["Service"] if k not in per_unit]

    assert hardening(recorder) == hardening(web)


@pytest.mark.parametrize("name", UNITS)
def test_units_keep_secrets_in_the_environment_file(name: str) -> None:
    unit = parse_unit(SYSTEMD / name)
    # "-": a box without the file still starts (the config check then names what is missing).
    assert one(unit, "Service", "EnvironmentFile") == "-/etc/robodine/secrets.env"
    secretish = re.compile(r"SECRET|KEY|PASSWORD|TOKEN", re.IGNORECASE)
    assert [n for n in unit_environment(unit) if secretish.search(n)] == []
    comments = " ".join(line.lstrip("# ") for line in (SYSTEMD / name).read_text().splitlines())
    assert "never go in this unit or in the repository" in comments
    tracked = subprocess.run(
        ["git", "ls-files", "*secrets.env"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    assert tracked == ""


@pytest.mark.parametrize("name", UNITS)
def test_unit_environment_is_accepted_by_the_settings_loader(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Environment= the unit sets is a real setting, pointing into StateDirectory."""
    unit = parse_unit(SYSTEMD / name)
    state_dir = Path("/var/lib") / one(unit, "Service", "StateDirectory")
    assert one(unit, "Service", "WorkingDirectory") == str(state_dir)
    env = {k: v for k, v in unit_environment(unit).items() if k.startswith("ROBODINE_")}
    assert env, "the unit should place the writable files in its StateDirectory"
    for key in [k for k in os.environ if k.startswith("ROBODINE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(None)
    if name == "robodine-gateway.service":
        assert settings.spool.path == state_dir / "spool.sqlite3"
    else:
        # sqlite+aiosqlite:/// + absolute path: four slashes, or it is relative to the cwd.
        assert settings.database.url == f"sqlite+aiosqlite:///{state_dir}/robodine.sqlite3"


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("robodine-gateway.service", "gateway"),
        ("robodine-web.service", "web"),
        ("robodine-worker.service", "worker"),
        ("robodine-recorder.service", "recorder"),
    ],
)
def test_exec_start_parses_with_the_cli(name: str, command: str) -> None:
    from robodine.cli import build_parser

    parser = build_parser()
    argv = one(parse_unit(SYSTEMD / name), "Service", "ExecStart").split()[1:]
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices is not None
    if command not in sub.choices:
        pytest.skip(f"`robodine {command}` is not registered yet")
    args = parser.parse_args(argv)
    assert (args.command, args.config) == (command, "/etc/robodine/robodine.toml")


def test_target_groups_both_units() -> None:
    target = parse_unit(SYSTEMD / "robodine.target")
    assert set(" ".join(values(target, "Unit", "Wants")).split()) == set(UNITS)
    assert one(target, "Install", "WantedBy") == "multi-user.target"
    for name in UNITS:
        unit = parse_unit(SYSTEMD / name)
        assert one(unit, "Unit", "PartOf") == "robodine.target"
        assert one(unit, "Install", "WantedBy") == "robodine.target"


# --- systemd units: the sandbox lets the daemons work ---------------------------------------

WORKLOAD = r'''
"""What the two daemons do, in one process, for checking the systemd sandbox."""
import asyncio, ctypes, os, signal, socket, sqlite3, sys, tempfile

libc = ctypes.CDLL(None, use_errno=True)
# PR_SET_MDWE(65), PR_MDWE_REFUSE_EXEC_GAIN: the kernel's MemoryDenyWriteExecute (Linux >= 6.3)
print("mdwe", "on" if libc.prctl(65, 1, 0, 0, 0) == 0 else "unavailable", flush=True)

import faulthandler; faulthandler.enable()
import aiohttp, aiomqtt, argon2, jwt, msgspec, orjson, prometheus_client, pydantic
import redis.asyncio as aioredis, structlog, uvloop
from aiohttp import web
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from robodine.lifecycle import Notifier, install_signal_handlers

REDIS_PORT, MQTT_PORT, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    install_signal_handlers(loop, stop)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ns:
        ns.bind(d + "/notify")
        n = Notifier({"NOTIFY_SOCKET": d + "/notify", "WATCHDOG_USEC": "20000"})
        wd = asyncio.create_task(n.run_watchdog(lambda: True))
        # gateway: TCP + UDP listeners, Redis streams, MQTT, SQLite spool (WAL)
        srv = await asyncio.start_server(lambda r, w: w.close(), "0.0.0.0", 0)
        _, w = await asyncio.open_connection("127.0.0.1", srv.sockets[0].getsockname()[1])
        w.close()
        tr, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                    local_addr=("0.0.0.0", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.sendto(b"x", ("127.0.0.1", tr.get_extra_info("sockname")[1]))
        red = aioredis.Redis(host="localhost", port=REDIS_PORT)
        await red.xadd("s", {"a": orjson.dumps({"x": 1})})
        await red.xread({"s": "0"}, block=10)
        await red.aclose()
        async with aiomqtt.Client("localhost", MQTT_PORT) as m:
            await m.publish("t", b"x", qos=1)
        db = sqlite3.connect(d + "/spool.sqlite3")
        db.execute("pragma journal_mode=wal"); db.execute("create table t(x)")
        db.execute("insert into t values (1)"); db.commit(); db.close()
        await asyncio.to_thread(lambda: None)
        # web: aiohttp server + client, SQLAlchemy async (greenlet), argon2, JWT, AES-GCM
        app = web.Application()
        app.router.add_get("/", lambda req: web.json_response({"ok": 1}))
        runner = web.AppRunner(app); await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/") as resp:
            assert await resp.json() == {"ok": 1}
        eng = create_async_engine(f"sqlite+aiosqlite:///{d}/web.sqlite3")
        async with eng.begin() as conn:
            assert (await conn.execute(text("select 1"))).scalar() == 1
        await eng.dispose()
        argon2.PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1).hash("pw")
        jwt.encode({"a": 1}, "k" * 32, algorithm="HS256")
        AESGCM(AESGCM.generate_key(bit_length=128)).encrypt(b"0" * 12, b"data", None)
        prometheus_client.generate_latest()
        await runner.cleanup()
        srv.close(); await srv.wait_closed(); tr.close()
        wd.cancel()
        os.kill(os.getpid(), signal.SIGTERM)
        await stop.wait()
    print("workload ok", flush=True)

with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(main())
'''


def _syscall_groups() -> dict[str, list[str]]:
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter", "--no-pager"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    groups: dict[str, list[str]] = {}
    current = ""
    for line in out.splitlines():
        if line.startswith("@"):
            current = line.split()[0]
            groups[current] = []
        elif current and line.strip() and not line.strip().startswith("#"):
            groups[current].append(line.strip())
    return groups


def _allowed_syscalls(unit: Unit) -> set[str]:
    groups = _syscall_groups()

    def expand(item: str) -> set[str]:
        if not item.startswith("@"):
            return {item}
        return set().union(*(expand(x) for x in groups[item]))

    allowed: set[str] = set()
    for value in values(unit, "Service", "SystemCallFilter"):
        deny = value.startswith("~")
        names = set().union(*(expand(x) for x in value.lstrip("~").split()))
        allowed = allowed - names if deny else allowed | names
    return allowed


@needs_analyze
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_sandbox_allows_what_the_daemons_do(
    redis_server: RedisServer, mosquitto_server: MosquittoServer, tmp_path: Path
) -> None:
    """No syscall outside SystemCallFilter, no socket family outside RestrictAddressFamilies,
    no W+X or PROT_EXEC mprotect (MemoryDenyWriteExecute), with the kernel's MDWE on."""
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    trace = tmp_path / "trace"
    proc = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-o",
            str(trace),
            sys.executable,
            str(script),
            str(redis_server.port),
            str(mosquitto_server.port),
            str(tmp_path),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "workload ok" in proc.stdout
    calls = trace.read_text().splitlines()
    used = {m[1] for line in calls if (m := re.match(r"^\d+\s+([a-z0-9_]+)\(", line))}
    # SQLite chowns its journal to the database owner only when running as root
    # (robust_fchown); under User=robodine that call never happens.
    root_only = {"fchown"} if os.geteuid() == 0 else set()
    for name in UNITS:
        unit = parse_unit(SYSTEMD / name)
        assert used - _allowed_syscalls(unit) <= root_only, name
        families = set(re.findall(r"\bsocket\((AF_[A-Z0-9]+)", "\n".join(calls)))
        assert families <= set(one(unit, "Service", "RestrictAddressFamilies").split())
        assert one(unit, "Service", "MemoryDenyWriteExecute") == "yes"
    wx = [
        line
        for line in calls
        if re.match(r"^\d+\s+(mmap|mprotect|pkey_mprotect)\(", line)
        and "PROT_EXEC" in line
        and ("PROT_WRITE" in line or "mprotect" in line)
    ]
    assert wx == []


# --- Redis snippet --------------------------------------------------------------------------


def _active_lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_redis_snippet_settings() -> None:
    lines = _active_lines(REDIS_SNIPPET)
    for wanted in (
        "appendonly yes",
        "appendfsync everysec",
        "aof-use-rdb-preamble yes",
        "maxmemory-policy noeviction",
        "no-appendfsync-on-rewrite no",
    ):
        assert wanted in lines
    # The snippet must not move Redis: port/bind/dir stay Debian's.
    assert not [x for x in lines if x.split()[0] in {"port", "bind", "dir", "unixsocket"}]


class SnippetRedis(RedisServer):
    """redis-server with a main config of hostile defaults and our snippet included last,
    the way /etc/redis/redis.conf ends with `include /etc/redis/robodine.conf`."""

    HOSTILE = (
        "appendonly no\nappendfsync always\naof-use-rdb-preamble no\n"
        "maxmemory-policy allkeys-lru\nno-appendfsync-on-rewrite yes\n"
    )

    def __init__(self, *extra: str) -> None:
        super().__init__()
        self.extra = list(extra)
        self.main_conf = self.dir / "redis.conf"
        self.main_conf.write_text(f"{self.HOSTILE}include {REDIS_SNIPPET}\n")

    def argv(self) -> list[str]:
        return [
            "redis-server",
            str(self.main_conf),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--daemonize",
            "no",
            *self.extra,
        ]


@contextlib.contextmanager
def _redis(*extra: str) -> Iterator[SnippetRedis]:
    server = SnippetRedis(*extra)
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_redis_starts_with_the_snippet_and_it_wins() -> None:
    with _redis() as server:
        r = redis.Redis(port=server.port)
        got = {
            k: r.config_get(k)[k]
            for k in (
                "appendonly",
                "appendfsync",
                "aof-use-rdb-preamble",
                "maxmemory-policy",
                "no-appendfsync-on-rewrite",
                "maxmemory",
            )
        }
        r.close()
    assert got == {
        "appendonly": "yes",
        "appendfsync": "everysec",
        "aof-use-rdb-preamble": "yes",
        "maxmemory-policy": "noeviction",
        "no-appendfsync-on-rewrite": "no",
        "maxmemory": str(512 * 1024 * 1024),
    }


def _acked_xadds_after_sigkill(server: SnippetRedis, n: int = 5000) -> tuple[int, bool]:
    r = redis.Redis(port=server.port)
    last = b""
    for start in range(0, n, 1000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, start + 1000):
            pipe.xadd("rd:events", {"seq": i})
        last = pipe.execute()[-1]  # every reply is Redis's acknowledgement
    r.close()
    server.kill()
    server.start()
    r = redis.Redis(port=server.port)
    try:
        tail = r.xrevrange("rd:events", count=1) or []
        return r.xlen("rd:events"), bool(tail) and tail[0][0] == last
    finally:
        r.close()


def test_redis_with_the_snippet_keeps_acked_xadds_across_sigkill() -> None:
    with _redis() as server:
        assert _acked_xadds_after_sigkill(server) == (5000, True)


def test_redis_without_persistence_loses_them_so_the_test_can_fail() -> None:
    with _redis("--appendonly", "no", "--save", "") as server:
        assert _acked_xadds_after_sigkill(server) == (0, False)


def test_redis_noeviction_refuses_writes_instead_of_deleting_streams() -> None:
    with _redis() as server:
        r = redis.Redis(port=server.port)
        try:
            for i in range(100):
                r.xadd("rd:commands", {"seq": i})
                r.xadd("rd:events", {"seq": i})
            r.config_set("maxmemory", 1)  # Redis is now "full"
            with pytest.raises(redis.exceptions.OutOfMemoryError, match="maxmemory"):
                r.xadd("rd:commands", {"kind": "estop"})
            assert (r.xlen("rd:commands"), r.xlen("rd:events")) == (100, 100)
        finally:
            r.close()


# --- Mosquitto snippet and ACL --------------------------------------------------------------

PASSWORDS = {"robodine-gateway": "gw-pw", "r1": "r1-pw", "r2": "r2-pw", "agv-7": "agv-pw"}


def test_mosquitto_snippet_settings() -> None:
    settings = dict(line.split(None, 1) for line in _active_lines(MOSQUITTO_SNIPPET))
    assert settings["persistence"] == "true"
    assert int(settings["autosave_interval"]) <= 5  # the default 1800 s loses all on a crash
    assert settings["autosave_on_changes"] == "false"
    assert settings["allow_anonymous"] == "false"
    assert settings["password_file"] == "/etc/mosquitto/robodine.passwd"
    assert settings["acl_file"] == "/etc/mosquitto/robodine.acl"
    assert 0 < int(settings["max_queued_messages"]) <= 100_000
    assert settings["listener"] == "1883"
    # Debian's main file sets it; a second one in conf.d would be an error.
    assert "persistence_location" not in settings


class RobodineMosquitto(MosquittoServer):
    """mosquitto with a Debian-like main file that include_dir's our snippet, on a free port."""

    def __init__(self) -> None:
        super().__init__()
        confd = self.dir / "conf.d"
        confd.mkdir()
        text = MOSQUITTO_SNIPPET.read_text()
        for pattern, line in [
            (r"^listener 1883$", f"listener {self.port} 127.0.0.1"),
            (r"^password_file .*$", f"password_file {self.dir / 'robodine.passwd'}"),
            (r"^acl_file .*$", f"acl_file {self.dir / 'robodine.acl'}"),
        ]:
            text, count = re.subn(pattern, line, text, flags=re.MULTILINE)
            assert count == 1, pattern
        (confd / "robodine.conf").write_text(text)
        shutil.copy(MOSQUITTO_ACL, self.dir / "robodine.acl")
        passwd = self.dir / "robodine.passwd"
        for user, password in PASSWORDS.items():
            create = [] if passwd.exists() else ["-c"]
            subprocess.run(
                ["mosquitto_passwd", *create, "-b", str(passwd), user, password],
                check=True,
                capture_output=True,
                timeout=30,
            )
        (self.dir / "mosquitto.conf").write_text(
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "log_dest none\n"
            f"include_dir {confd}\n"
        )
        self._as_broker_user([passwd, self.dir / "robodine.acl"])

    def _as_broker_user(self, secrets: list[Path]) -> None:
        """Started as root, mosquitto drops to user `mosquitto` before reading the password
        and ACL files and writing its database: give them to it, as on a real box."""
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam("mosquitto")
        except KeyError:
            user = pwd.getpwnam("nobody")
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        for path in secrets:
            os.chown(path, 0, user.pw_gid)
            path.chmod(0o640)

    @property
    def db(self) -> Path:
        return self.dir / "mosquitto.db"

    def argv(self) -> list[str]:
        return ["mosquitto", "-c", str(self.dir / "mosquitto.conf")]


@pytest.fixture
def broker() -> Iterator[RobodineMosquitto]:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd not installed")
    server = RobodineMosquitto()
    server.start()
    yield server
    server.close()


@contextlib.asynccontextmanager
async def mqtt(
    broker: RobodineMosquitto, user: str | None, **kw: Any
) -> AsyncIterator[aiomqtt.Client]:
    password = PASSWORDS.get(user) if user else None
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username=user, password=password, timeout=5, **kw
    ) as client:
        yield client


async def _topics_until(client: aiomqtt.Client, marker: str) -> list[str]:
    seen = []
    async with asyncio.timeout(5):
        async for message in client.messages:
            seen.append(str(message.topic))
            if str(message.topic) == marker:
                return seen
    raise AssertionError("unreachable")


def test_acl_example_matches_the_protocol_topic_layout() -> None:
    from protocol.mqtt_topics import GATEWAY_CHANNELS, ROBOT_CHANNELS, TOPIC_ROOT
    from protocol.vda5050.enums import INTERFACE_NAME, MAJOR_VERSION
    from protocol.vda5050.topics import AGV_PUBLISHES, MASTER_PUBLISHES

    rules = [line.split() for line in _active_lines(MOSQUITTO_ACL) if line.startswith("pattern")]
    v1 = f"{TOPIC_ROOT}/%u/"
    vda = f"{INTERFACE_NAME}/{MAJOR_VERSION}/ExampleAGV/%u/"

    def channels(access: str, prefix: str) -> set[str]:
        return {t.removeprefix(prefix) for _, a, t in rules if a == access and t.startswith(prefix)}

    assert channels("write", v1) == {c.value for c in ROBOT_CHANNELS}
    assert channels("read", v1) == {c.value for c in GATEWAY_CHANNELS}
    assert channels("write", vda) == {s.value for s in AGV_PUBLISHES}
    assert channels("read", vda) == {s.value for s in MASTER_PUBLISHES}
    assert all(t.startswith((v1, vda)) for *_, t in rules)
    assert not [r for r in rules if r[1] == "readwrite"]


@pytest.mark.parametrize(("user", "password"), [(None, None), ("r1", "wrong")])
async def test_mosquitto_refuses_anonymous_and_bad_passwords(
    broker: RobodineMosquitto, user: str | None, password: str | None
) -> None:
    with pytest.raises(aiomqtt.MqttError, match=r"(?i)authori[sz]ed"):
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username=user, password=password, timeout=5
        ):
            pass


async def test_robot_publishes_only_under_its_own_id(broker: RobodineMosquitto) -> None:
    base = "robodine/v1/robots"
    async with mqtt(broker, "robodine-gateway") as gw, mqtt(broker, "r1") as r1:
        await gw.subscribe("robodine/v1/#", qos=1)
        for topic in (
            f"{base}/r1/telemetry",
            f"{base}/r2/telemetry",
            f"{base}/r1/event",
            "robodine/v1/fleet/announce",
            f"{base}/r1/command",
            f"{base}/r1/x",
            f"{base}/r1/state",
        ):
            await r1.publish(topic, b"{}", qos=1)
        seen = await _topics_until(gw, f"{base}/r1/state")
    assert seen == [f"{base}/r1/telemetry", f"{base}/r1/event", f"{base}/r1/state"]


async def test_robot_reads_only_its_own_command_topic(broker: RobodineMosquitto) -> None:
    base = "robodine/v1/robots"
    async with mqtt(broker, "robodine-gateway") as gw, mqtt(broker, "r1") as r1:
        await r1.subscribe("robodine/v1/#", qos=1)
        for topic in (
            f"{base}/r2/command",
            f"{base}/r2/telemetry",
            f"{base}/r1/telemetry",
            f"{base}/r1/command",
        ):
            await gw.publish(topic, b"{}", qos=1)
        seen = await _topics_until(r1, f"{base}/r1/command")
    assert seen == [f"{base}/r1/command"]


async def test_vda5050_agv_is_confined_to_its_serial(broker: RobodineMosquitto) -> None:
    own = "uagv/v2/ExampleAGV/agv-7"
    async with mqtt(broker, "robodine-gateway") as gw, mqtt(broker, "agv-7") as agv:
        await gw.subscribe("uagv/v2/#", qos=1)
        for topic in (
            f"{own}/state",
            "uagv/v2/ExampleAGV/agv-8/state",
            "uagv/v2/OtherMaker/agv-7/state",
            f"{own}/order",
            f"{own}/connection",
        ):
            await agv.publish(topic, b"{}", qos=1)
        assert await _topics_until(gw, f"{own}/connection") == [f"{own}/state", f"{own}/connection"]
        await agv.subscribe("uagv/v2/#", qos=1)
        for topic in (
            "uagv/v2/ExampleAGV/agv-8/order",
            f"{own}/state",
            f"{own}/instantActions",
            f"{own}/order",
        ):
            await gw.publish(topic, b"{}", qos=1)
        assert await _topics_until(agv, f"{own}/order") == [f"{own}/instantActions", f"{own}/order"]


async def test_queued_qos1_for_offline_gateway_survive_sigkill(
    broker: RobodineMosquitto,
) -> None:
    """A SIGKILLed mosquitto with our config still delivers the acknowledged QoS 1 messages
    (with the default autosave_interval of 1800 s, 0 of 100 arrived)."""
    session = {"identifier": "robodine-gateway-test", "clean_session": False}
    async with mqtt(broker, "robodine-gateway", **session) as gw:
        await gw.subscribe("robodine/v1/robots/+/event", qos=1)
    async with mqtt(broker, "r1") as r1:
        for i in range(50):
            await r1.publish("robodine/v1/robots/r1/event", str(i).encode(), qos=1)  # PUBACKed
    acked_at = time.time()
    deadline = time.monotonic() + 6  # autosave_interval 2: saved within ~3 s
    while not (broker.db.exists() and broker.db.stat().st_mtime > acked_at):
        assert time.monotonic() < deadline, "mosquitto did not autosave"
        await asyncio.sleep(0.1)
    broker.kill()
    broker.start()
    async with mqtt(broker, "robodine-gateway", **session) as gw:
        got = []
        async with asyncio.timeout(5):
            async for message in gw.messages:
                got.append(message.payload)
                if len(got) == 50:
                    break
    assert got == [str(i).encode() for i in range(50)]


def test_password_and_acl_files_are_for_the_broker_group_only(
    broker: RobodineMosquitto,
) -> None:
    """What docs/operations.md prescribes (root:mosquitto 0640) is enough for the broker."""
    if os.geteuid() != 0:
        pytest.skip("ownership only matters when the broker starts as root")
    for name in ("robodine.passwd", "robodine.acl"):
        st = (broker.dir / name).stat()
        assert (st.st_uid, oct(st.st_mode & 0o777)) == (0, "0o640")
        assert grp.getgrgid(st.st_gid).gr_name in {"mosquitto", "nogroup"}
