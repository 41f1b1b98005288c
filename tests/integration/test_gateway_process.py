"""The real `robodine gateway` process: systemd readiness, clean SIGTERM, exit codes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.robot import robots_config
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.integration


def write_config(path: Path, redis_url: str, tcp: int, udp: int) -> None:
    robots = "".join(
        f'[[robots]]\nid = "{r["id"]}"\nkind = "{r["kind"]}"\nkey = "{r["key"]}"\n\n'
        for r in robots_config()
    )
    path.write_text(
        f'[tcp]\nhost = "127.0.0.1"\nport = {tcp}\n[udp]\nhost = "127.0.0.1"\nport = {udp}\n'
        "[camera]\nport = 0\n"
        f'[redis]\nurl = "{redis_url}"\n[gateway]\nmetrics_port = 0\n'
        f'[spool]\npath = "{path.parent / "spool.sqlite3"}"\n\n{robots}'
    )


def listening(proc: subprocess.Popen[bytes], tcp: int, timeout: float = 15) -> None:
    """Wait until the gateway process accepts robots on ``tcp``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", tcp), 1).close()
            return
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)


def test_ready_then_clean_sigterm(redis_server: RedisServer, tmp_path: Path) -> None:
    cfg = tmp_path / "gw.toml"
    tcp = free_port()
    write_config(cfg, redis_server.url, tcp, free_port(socket.SOCK_DGRAM))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(15)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "robodine", "gateway", "--config", str(cfg)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ready = notify.recv(4096).decode()
        assert ready.startswith("READY=1") and "serving 3 robots" in ready
        socket.create_connection(("127.0.0.1", tcp), 2).close()  # really listening when READY
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert notify.recv(4096) == b"STOPPING=1"
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err.decode()
        assert time.monotonic() - t0 < 5
        lines = err.decode().splitlines()
        events = [line for line in lines if '"event":"gateway_stopped"' in line]
        assert events, lines  # JSON logs when stderr is not a terminal
    finally:
        proc.kill()
        notify.close()


def test_unreachable_redis_still_serves_and_exits_cleanly(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.toml"
    tcp = free_port()
    write_config(cfg, f"redis://127.0.0.1:{free_port()}/0", tcp, free_port(socket.SOCK_DGRAM))
    proc = subprocess.Popen(
        [sys.executable, "-m", "robodine", "gateway", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        listening(proc, tcp)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0
        text = err.decode()
        assert text.count('"event":"redis_unavailable"') == 1  # logged once, not per retry
        assert '"spooled":2' in text  # gateway.started and gateway.stopped, kept on disk
    finally:
        proc.kill()


def test_missing_config_file_exits_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "robodine", "gateway", "--config", "/nonexistent.toml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "robodine: config: config: file '/nonexistent.toml' not found"


def _gateway_config_error(cfg: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "robodine", "gateway", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    return out.stderr.splitlines()


@pytest.mark.parametrize(
    ("spool", "says"),
    [
        ("{dir}", "'{dir}' is a directory; name a file in it"),
        (
            "{dir}/file/spool.sqlite3",
            "cannot create the directory '{dir}/file': a file is in the way",
        ),
        ("{dir}/junk", "'{dir}/junk' cannot be used as the spool: file is not a database"),
    ],
    ids=["a directory", "under a file", "not a spool"],
)
def test_a_spool_path_that_cannot_hold_a_spool_exits_2_with_one_line(
    redis_server: RedisServer, tmp_path: Path, spool: str, says: str
) -> None:
    cfg = tmp_path / "gw.toml"
    write_config(cfg, redis_server.url, free_port(), free_port(socket.SOCK_DGRAM))
    d = tmp_path / "d"
    d.mkdir()
    (d / "file").write_text("")
    (d / "junk").write_bytes(b"this is no SQLite database, it is just text\n" * 50)
    text = cfg.read_text().replace(str(tmp_path / "spool.sqlite3"), spool.format(dir=d))
    cfg.write_text(text)
    assert _gateway_config_error(cfg) == [
        f"robodine: config: spool.path: {says.format(dir=d)} (env ROBODINE_SPOOL_PATH)"
    ]


def test_a_redis_database_the_server_does_not_have_exits_2_with_one_line(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    cfg = tmp_path / "gw.toml"
    url = redis_server.url.rsplit("/", 1)[0] + "/99"  # the server has 16
    write_config(cfg, url, free_port(), free_port(socket.SOCK_DGRAM))
    assert _gateway_config_error(cfg) == [
        "robodine: config: redis.url: the Redis server has no database 99 "
        "(DB index is out of range) (env ROBODINE_REDIS_URL)"
    ]


def test_a_redis_database_found_missing_when_redis_comes_up_stops_with_exit_2(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "gw.toml"
    tcp, port = free_port(), free_port()
    write_config(cfg, f"redis://127.0.0.1:{port}/99", tcp, free_port(socket.SOCK_DGRAM))
    proc = subprocess.Popen(
        [sys.executable, "-m", "robodine", "gateway", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    server = RedisServer(port)
    try:
        listening(proc, tcp)  # serving robots while Redis is away
        server.start()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2
        lines = err.decode().splitlines()
        assert lines[-1] == (
            "robodine: config: redis.url: the Redis server has no database 99 "
            "(DB index is out of range) (env ROBODINE_REDIS_URL)"
        )
        assert any('"event":"gateway_stopping"' in line for line in lines)  # the ordered stop
    finally:
        proc.kill()
        server.close()
