"""scripts/run as a new user meets it: a taken port fails loudly, naming the process, the
setting and the protocol; Ctrl-C stops the processes in dependency order, Redis last."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """scripts/run on the example config, every port free, its state in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBODINE_")}
    env.update(
        RUN_DIR=str(tmp_path / "run"),
        SIM_ROBOTS="2",
        ROBODINE_CONFIG=str(REPO / "config" / "example.toml"),
        ROBODINE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # none there: its own
        ROBODINE_TCP_PORT=str(free_port()),
        ROBODINE_UDP_PORT=str(free_port(socket.SOCK_DGRAM)),
        ROBODINE_CAMERA_PORT=str(free_port(socket.SOCK_DGRAM)),
        ROBODINE_WEB_PORT=str(free_port()),
        ROBODINE_GATEWAY_METRICS_PORT=str(free_port()),
        ROBODINE_WEB_METRICS_PORT=str(free_port()),
        ROBODINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/robodine.sqlite3",
        ROBODINE_SPOOL_PATH=str(tmp_path / "spool.sqlite3"),
        ROBODINE_MEDIA_URL=str(tmp_path / "media"),
        ROBODINE_LOGGING_FORMAT="json",
    )
    env.update(extra)
    return env


def _signal_state(pid: int) -> str:
    """What the kernel says of a process that did not react to a signal: blocked, ignored
    and caught signal masks, and where it waits."""
    proc = Path(f"/proc/{pid}")
    try:
        status = [
            line
            for line in (proc / "status").read_text().splitlines()
            if line.startswith(("State", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"))
        ]
        return "; ".join(status) + f"; wchan {(proc / 'wchan').read_text()}"
    except OSError as exc:
        return f"({exc})"


@pytest.fixture
def taken() -> Iterator[dict[str, int]]:
    """A TCP port with a listener and a UDP port with a bound socket."""
    tcp = socket.socket()
    tcp.bind(("0.0.0.0", 0))
    tcp.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 0))
    yield {"TCP": tcp.getsockname()[1], "UDP": udp.getsockname()[1]}
    tcp.close()
    udp.close()


@pytest.mark.parametrize("proto", ["TCP", "UDP"])
def test_a_taken_gateway_port_fails_naming_the_port_and_protocol(
    tmp_path: Path, taken: dict[str, int], proto: str
) -> None:
    port = taken[proto]
    env = run_env(tmp_path, **{f"ROBODINE_{proto}_PORT": str(port)})
    out = subprocess.run(
        [str(REPO / "scripts" / "run")], env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Robodine is running" not in out.stderr
    key = f"{proto.lower()}.port"
    line = f"gateway did not start (exit status 2): {key}: cannot listen on {proto} 0.0.0.0:{port}"
    assert line in out.stderr, out.stderr[-3000:]
    assert "Address already in use" in out.stderr


def test_ctrl_c_stops_everything_in_order_with_redis_last(
    tmp_path: Path, taken: dict[str, int]
) -> None:
    """Also: the banner shows the metrics addresses bound, and says when one is not."""
    env = run_env(tmp_path, ROBODINE_GATEWAY_METRICS_HOST="0.0.0.0")
    env["ROBODINE_GATEWAY_METRICS_PORT"] = str(taken["TCP"])
    log = tmp_path / "run.out"
    with log.open("w") as f:
        proc = subprocess.Popen(
            [str(REPO / "scripts" / "run")], env=env, stdout=f, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 150
        while "Ctrl-C stops everything" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        banner = log.read_text()
        gw, web = env["ROBODINE_GATEWAY_METRICS_PORT"], env["ROBODINE_WEB_METRICS_PORT"]
        assert f"gateway metrics  not serving at 0.0.0.0:{gw} (see metrics_unavailable" in banner
        assert f"web metrics      curl -s http://127.0.0.1:{web}/metrics" in banner
        assert f"http://127.0.0.1:{env['ROBODINE_WEB_PORT']}/" in banner
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(60) == 130
        except subprocess.TimeoutExpired:
            pytest.fail(f"scripts/run ignored Ctrl-C for 60 s: {_signal_state(proc.pid)}")
    finally:
        if proc.poll() is None:  # the test failed first: let the script stop what it started
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    text = log.read_text()
    assert "stopping: redis-server gateway web recorder simulator in reverse order" in text
    order = [m.group(1) for m in re.finditer(r'"event":"(web_stopped|gateway_stopped)"', text)]
    assert order == ["web_stopped", "gateway_stopped"], text[-3000:]
    # The gateway flushed into a Redis still up: nothing went to its spool.
    assert re.search(r'"spooled":0,"event":"gateway_stopped"', text), text[-3000:]
    redis_log = (tmp_path / "run" / "log" / "redis-server.log").read_text()
    assert "User requested shutdown" in redis_log  # stopped by its SIGTERM, not left running
