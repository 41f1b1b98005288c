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
        f'[redis]\nurl = "{redis_url}"\n[gateway]\nmetrics_port = 0\n'
        f'[spool]\npath = "{path.parent / "spool.sqlite3"}"\n\n{robots}'
    )


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
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", tcp), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
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
