"""Real redis-server and mosquitto processes on free loopback ports, for tests and benchmarks.

Each server lives in its own temporary directory and can be killed and
restarted on the same port, so tests can stage outages. The benchmark runs
them without persistence (``RedisServer(aof=False)``,
``MosquittoServer(persistence=False)``): its figures then measure software,
not the disk of whichever shared machine ran them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "GatewayServer",
    "MosquittoServer",
    "MotoServer",
    "RedisServer",
    "SentinelServer",
    "WebServer",
    "free_port",
    "log_tail",
    "missing_binaries",
    "postgres_available",
    "sentinel_url",
    "wait_port",
]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_binaries(*names: str) -> list[str]:
    """Those of ``names`` that are not on PATH."""
    return [n for n in names if shutil.which(n) is None]


def wait_port(
    port: int,
    proc: subprocess.Popen[bytes],
    timeout: float = 10.0,
    *,
    name: str = "server",
    log: Path | None = None,
) -> None:
    """Return once something accepts TCP connections on ``port``; raise if ``proc`` exits
    first or nothing listens within ``timeout`` (with the tail of ``log``, if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"{name}: nothing listening on {port} after {timeout}s:\n{log_tail(log)}")


def log_tail(log: Path | None, lines: int = 15) -> str:
    """The last ``lines`` lines of a process's log ("" without one)."""
    if log is None:
        return ""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class _Server:
    binary = ""
    module = ""  # a Python module run as the server instead of ``binary`` (python -m)
    start_timeout = 10.0

    def __init__(self, port: int | None = None, *, log: Path | None = None) -> None:
        if self.module:
            if importlib.util.find_spec(self.module.split(".")[0]) is None:
                raise RuntimeError(f"{self.module} not installed; run scripts/setup")
        elif shutil.which(self.binary) is None:
            raise RuntimeError(f"{self.binary} not found; run scripts/setup")
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"rd-{self.binary}-"))
        self.log = log  # the server's output goes here (appended), or nowhere
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] | None = None  # the process's environment (None: ours)
        self.ready_port = 0  # the port ``start`` waits for, when not ``port``

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.binary} not started"
        return self.proc.pid

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(self.log, "ab")) if self.log else subprocess.DEVNULL
            self.proc = subprocess.Popen(  # noqa: S603 - argv is ours, no shell
                self.argv(),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self.env,
            )
        wait_port(
            self.ready_port or self.port,
            self.proc,
            self.start_timeout,
            name=self.binary,
            log=self.log,
        )

    def kill(self) -> None:
        """SIGKILL: the crash case, no chance to save anything."""
        self._stop(signal.SIGKILL)

    def stop(self) -> None:
        self._stop(signal.SIGTERM)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP for the block, SIGCONT after: a server that hangs (a stuck fsync, a
        peer gone without RST) while the kernel still accepts connections for it."""
        proc = self.proc
        assert proc is not None, f"{self.binary} not started"
        proc.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)

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

    def __init__(
        self,
        port: int | None = None,
        *,
        aof: bool = True,
        log: Path | None = None,
        replica_of: int | None = None,
    ) -> None:
        """``replica_of``: the port of a master on this machine to replicate."""
        super().__init__(port, log=log)
        self.aof = aof
        self.replica_of = replica_of

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
            *(["--replicaof", "127.0.0.1", str(self.replica_of)] if self.replica_of else []),
        ]


class SentinelServer(_Server):
    """``redis-server --sentinel`` watching the master ``service`` on ``master_port``; it
    rewrites its config file as it learns, so each lives in its own directory."""

    binary = "redis-server"

    def __init__(
        self,
        master_port: int,
        port: int | None = None,
        *,
        service: str = "robodine",
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        replicas: tuple[int, ...] = (),
        log: Path | None = None,
    ) -> None:
        """``replicas``: ports of the master's replicas, known at once (a sentinel finds
        them by itself only at its next INFO of the master, up to 10 s later)."""
        super().__init__(port, log=log)
        self.master_port = master_port
        self.replicas = replicas
        self.service = service
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    def argv(self) -> list[str]:
        conf = self.dir / "sentinel.conf"
        if not conf.exists():  # a restart keeps what it learnt
            s = self.service
            conf.write_text(
                "\n".join(
                    [
                        f"port {self.port}",
                        "bind 127.0.0.1",
                        f"dir {self.dir}",
                        f"sentinel monitor {s} 127.0.0.1 {self.master_port} {self.quorum}",
                        f"sentinel down-after-milliseconds {s} {self.down_after_ms}",
                        f"sentinel failover-timeout {s} {self.failover_timeout_ms}",
                        f"sentinel parallel-syncs {s} 1",
                        *(f"sentinel known-replica {s} 127.0.0.1 {p}" for p in self.replicas),
                    ]
                )
                + "\n"
            )
        return ["redis-server", str(conf), "--sentinel"]


def sentinel_url(sentinels: list[SentinelServer], db: int = 0) -> str:
    """``redis+sentinel://`` for these sentinels (robodine.redisio.sentinel)."""
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in sentinels)
    return f"redis+sentinel://{hosts}/{sentinels[0].service}/{db}"


class MosquittoServer(_Server):
    binary = "mosquitto"

    def __init__(
        self,
        port: int | None = None,
        *,
        persistence: bool = True,
        max_queued_messages: int | None = None,
        log: Path | None = None,
    ) -> None:
        super().__init__(port, log=log)
        self.persistence = persistence
        self.max_queued_messages = max_queued_messages  # None: mosquitto's default (1000)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.dir}/",
                "autosave_interval 1",
            ]
        else:
            lines.append("persistence false")
        if self.max_queued_messages is not None:
            lines.append(f"max_queued_messages {self.max_queued_messages}")
        if os.geteuid() == 0:
            # As root, mosquitto drops to user `mosquitto`, which cannot write
            # our 0700 temp dir: persistence would silently save nothing.
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        return ["mosquitto", "-c", str(conf)]


def postgres_available(dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres") -> bool:
    if os.environ.get("ROBODINE_TEST_NO_PG"):
        return False
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), 0.5):
        return True
    return False


class MotoServer(_Server):
    """moto's S3-compatible server (its server mode, a process of its own) for the media
    store's S3 backend: a real HTTP S3 endpoint, not an in-process mock."""

    binary = "moto_server"
    module = "moto.server"
    start_timeout = 30.0  # it imports a great deal
    access_key = secret_key = "test"  # noqa: S105 - moto accepts any key

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self) -> None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", self.access_key)
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", self.secret_key)
        super().start()


class GatewayServer(_Server):
    """A real `robodine gateway` process: ``config`` (a TOML file), ``env`` the settings
    that differ from it (``ROBODINE_GATEWAY_NAME``, ...). ``port`` is its TCP port, which
    ``start`` waits for; SIGKILL (``kill``) is the crash a site must survive."""

    binary = "robodine-gateway"
    module = "robodine"
    start_timeout = 30.0

    def __init__(
        self, config: Path, env: dict[str, str], *, port: int | None = None, log: Path | None = None
    ) -> None:
        super().__init__(port, log=log)
        self.config = config
        # Several gateways on one box: each its own camera port too (0: any free one,
        # told to robots in `welcome`), unless the test says which.
        self.env = {
            **os.environ,
            "ROBODINE_CAMERA_PORT": "0",
            **env,
            "ROBODINE_TCP_PORT": str(self.port),
        }

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, "gateway", "--config", str(self.config)]


class WebServer(_Server):
    """A real `robodine web` process: ``config`` (a TOML file), ``env`` the settings that
    differ from it (``ROBODINE_WEB_NAME``, ...). ``port`` is its HTTP port, which ``start``
    waits for; several processes may be given one port when ``web.reuse_port`` is on."""

    binary = "robodine-web"
    module = "robodine"
    start_timeout = 60.0

    def __init__(
        self, config: Path, env: dict[str, str], *, port: int | None = None, log: Path | None = None
    ) -> None:
        super().__init__(port, log=log)
        self.config = config
        self.env = {**os.environ, **env, "ROBODINE_WEB_PORT": str(self.port)}
        # Its metrics listener opens after web.port: with web.reuse_port another process may
        # answer on web.port already, so this one is started once its own port listens.
        self.ready_port = int(self.env.get("ROBODINE_WEB_METRICS_PORT", "0"))

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, "web", "--config", str(self.config)]

    def add_user(self, name: str, password: str, role: str) -> None:
        """`robodine users add` on this process's config (and database)."""
        argv = [sys.executable, "-m", self.module, "--config", str(self.config)]
        done = subprocess.run(  # noqa: S603 - argv is ours, no shell
            [*argv, "users", "add", name, "--role", role],
            input=password + "\n",
            text=True,
            capture_output=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise RuntimeError(f"robodine users add {name}: {done.stderr.strip()[-500:]}")
