"""The whole system as real processes (gateway, web tier, simulated robots) on one Redis,
for the operations tests: `robodine status`, backup and restore, upgrades.

Each daemon gets a NOTIFY_SOCKET of its own, so "started" means what systemd would
see: READY=1. Ports are free ones; state lives in the test's directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.servers import free_port

ADMIN_PASSWORD = "correct horse battery staple"


class System:
    def __init__(self, root: Path, redis_url: str, *, robots: int = 3, **env: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "robodine.toml"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "robodine",
                "sim",
                "--write-config",
                str(robots),
                str(self.config),
                "--force",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.web_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ROBODINE_")}
        self.env.update(
            ROBODINE_CONFIG=str(self.config),
            ROBODINE_REDIS_URL=redis_url,
            ROBODINE_TCP_HOST="127.0.0.1",
            ROBODINE_TCP_PORT=str(free_port()),
            ROBODINE_UDP_HOST="127.0.0.1",
            ROBODINE_UDP_PORT=str(free_port(socket.SOCK_DGRAM)),
            ROBODINE_CAMERA_PORT=str(free_port(socket.SOCK_DGRAM)),
            ROBODINE_WEB_PORT=str(self.web_port),
            ROBODINE_WEB_ARGON2_TIME_COST="1",
            ROBODINE_WEB_ARGON2_MEMORY_KIB="8",
            ROBODINE_WEB_ARGON2_PARALLELISM="1",
            ROBODINE_GATEWAY_METRICS_PORT=str(free_port()),
            ROBODINE_WEB_METRICS_PORT=str(free_port()),
            ROBODINE_DATABASE_URL=f"sqlite+aiosqlite:///{root}/robodine.sqlite3",
            ROBODINE_SPOOL_PATH=str(root / "spool.sqlite3"),
            ROBODINE_MEDIA_URL=str(root / "media"),
            ROBODINE_LOGGING_FORMAT="json",
        )
        self.env.update(env)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def robodine(
        self, *args: str, input: str | None = None, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "robodine", *args],
            env={**self.env, **env},
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )

    def start(self, name: str, *args: str, notify: bool = True, timeout: float = 60) -> None:
        """``robodine NAME ARGS``; with ``notify``, return once it sent READY=1."""
        log = (self.root / f"{name}.log").open("ab")
        env = dict(self.env)
        sock = None
        if notify:
            path = self.root / f"{name}.notify"
            path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(path))
            sock.settimeout(1.0)
            env["NOTIFY_SOCKET"] = str(path)
        with log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "robodine", name, *args],
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
            )
        self.procs[name] = proc
        if sock is None:
            return
        with contextlib.closing(sock):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"{name} exited {proc.returncode}:\n{self.log(name)}"
                try:
                    if sock.recv(4096).startswith(b"READY=1"):
                        return
                except TimeoutError:
                    continue
        raise AssertionError(f"{name} not ready within {timeout} s:\n{self.log(name)}")

    def stop(self, name: str, sig: int = signal.SIGTERM) -> int:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
        return proc.wait(30)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def close(self) -> None:
        for name in reversed(list(self.procs)):  # the simulator first, the gateway last
            with contextlib.suppress(Exception):
                self.stop(name)
        for proc in self.procs.values():
            proc.kill()

    def admin(self) -> None:
        """An admin user (web tier migrates first: run it once before)."""
        out = self.robodine("users", "add", "admin", "--role", "admin", input=ADMIN_PASSWORD + "\n")
        assert out.returncode == 0, out.stderr


@contextlib.contextmanager
def running(root: Path, redis_url: str, *parts: str, **kw: Any) -> Iterator[System]:
    """``System`` with ``parts`` started (gateway, web, sim), all stopped after."""
    system = System(root, redis_url, **kw)
    try:
        for part in parts:
            if part == "sim":
                system.start("sim", "--status-s", "0", "--hz", "5", notify=False)
            else:
                system.start(part)
        yield system
    finally:
        system.close()
