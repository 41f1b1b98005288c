"""Real redis-server and mosquitto processes on free loopback ports, for tests and benchmarks.

Each server lives in its own temporary directory and can be killed and
restarted on the same port, so tests can stage outages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")


class _Server:
    binary = ""

    def __init__(self, port: int | None = None) -> None:
        if shutil.which(self.binary) is None:
            raise RuntimeError(f"{self.binary} not found; run scripts/setup")
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"rd-{self.binary}-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv(), cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(self.port, self.proc)

    def kill(self) -> None:
        """SIGKILL: the crash case, no chance to save anything."""
        self._stop(signal.SIGKILL)

    def stop(self) -> None:
        self._stop(signal.SIGTERM)

    def _stop(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer(_Server):
    binary = "redis-server"

    def __init__(self, port: int | None = None, *, aof: bool = True) -> None:
        super().__init__(port)
        self.aof = aof

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        return [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.aof else "no",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
        ]


class MosquittoServer(_Server):
    binary = "mosquitto"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "autosave_interval 1\n" + ("user root\n" if os.geteuid() == 0 else "")
            # As root, mosquitto drops to user `mosquitto`, which cannot write
            # our 0700 temp dir: persistence would silently save nothing.
        )
        return ["mosquitto", "-c", str(conf)]


def postgres_available(dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres") -> bool:
    if os.environ.get("ROBODINE_TEST_NO_PG"):
        return False
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), 0.5):
        return True
    return False
