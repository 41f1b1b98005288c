"""What a scenario gets to work with (``Context``) and what it gives back (``Result``).

A scenario module has ``NAME``, ``MEASURES``, ``CEILING``, ``GOAL``,
``BOUNDED_BY`` (what limits its figure, in a few lines that hold from run to
run; RESULTS.md shows it beside the run's own measured ``bound``),
``unavailable() -> str | None`` (the reason it cannot run here, or None) and
``run(ctx) -> Result``. Everything it starts goes through the context, which
stops it again (newest first) and remembers each process's peak RSS.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench import fleetconf
from bench.procs import Service, child_env, robodine_argv
from robodine.testing.servers import MosquittoServer, RedisServer, free_port


@dataclass
class Result:
    scenario: str
    status: str  # "ok" | "not available" | "failed"
    measures: str = ""
    goal: str = ""
    project: float | None = None  # the headline figure
    unit: str = ""
    ceiling: float | None = None  # the same figure for the ceiling, measured in this run
    ceiling_label: str = ""
    ratio: float | None = None
    met: bool | None = None  # the goal; never asserted, only reported
    reason: str = ""  # why not available / why it failed
    figures: dict[str, Any] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    bound: str = ""  # what bounds the figure, measured where possible
    profile: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Scenario(Protocol):
    NAME: str
    MEASURES: str
    CEILING: str
    GOAL: str
    BOUNDED_BY: str

    def unavailable(self) -> str | None: ...

    def run(self, ctx: Context) -> Result: ...


@dataclass
class Ports:
    tcp: int
    udp: int
    metrics: int
    web: int
    config: fleetconf.BenchConfig = field(init=False)

    @property
    def path(self) -> Path:
        return self.config.path


@dataclass
class Gateway:
    service: Service
    config: fleetconf.BenchConfig
    tcp_port: int
    udp_port: int
    metrics_port: int


class Context:
    """One scenario's run: its temp dir, its processes, its progress lines."""

    def __init__(
        self,
        scenario: str,
        *,
        quick: bool,
        workdir: Path,
        progress: Callable[[str], None],
        profile: bool = False,
    ) -> None:
        self.scenario = scenario
        self.quick = quick
        self.workdir = workdir
        self.profile_enabled = profile
        self._progress = progress
        self._stack = ExitStack()
        self.services: list[Service] = []

    def log(self, message: str) -> None:
        self._progress(f"{self.scenario}: {message}")

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full

    # ---- processes -------------------------------------------------------------

    def service(self, name: str, argv: list[str], **kw: Any) -> Service:
        svc = Service(name, argv, log=self.workdir / f"{name}.log", **kw).start()
        self._track(svc)
        return svc

    def _track(self, svc: Service) -> None:
        self.services.append(svc)
        self._stack.callback(svc.stop)

    def redis(self) -> tuple[RedisServer, str]:
        """A redis-server of the run's own, without persistence (AOF and RDB off)."""
        server = RedisServer(aof=False, log=self.workdir / "redis.log")
        self._stack.callback(server.close)
        server.start()
        return server, server.url

    def mosquitto(self) -> tuple[MosquittoServer, int]:
        """A mosquitto of the run's own, without persistence; up to 100,000 messages queue
        per client instead of mosquitto's 1,000, so a subscriber behind a burst of the load
        is not cut off by the broker."""
        server = MosquittoServer(
            persistence=False, max_queued_messages=100_000, log=self.workdir / "mosquitto.log"
        )
        self._stack.callback(server.close)
        server.start()
        return server, server.port

    def config(
        self,
        robots: int,
        redis_url: str,
        overrides: dict[str, dict[str, Any]] | None = None,
        robot_fields: dict[str, Any] | None = None,
    ) -> Ports:
        """Write the run's config (robots, free ports for every listener) and return the ports."""
        ports = Ports(free_port(), free_port(socket.SOCK_DGRAM), free_port(), free_port())
        web = {
            "host": "127.0.0.1",
            "port": ports.web,
            "origins": [f"http://127.0.0.1:{ports.web}"],
            # logins are not what is measured: cheap hashes keep set-up short
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8192,
            "argon2_parallelism": 1,
            "login_attempts_per_min": 10_000,
            "shutdown_timeout_s": 2.0,
        }
        merged: dict[str, dict[str, Any]] = {
            "web": web,
            "database": {"url": f"sqlite+aiosqlite:///{self.workdir / 'web.sqlite3'}"},
        }
        for name, values in (overrides or {}).items():
            merged.setdefault(name, {}).update(values)
        ports.config = fleetconf.write_config(
            self.workdir / "robodine.toml",
            robots,
            tcp_port=ports.tcp,
            udp_port=ports.udp,
            redis_url=redis_url,
            metrics_port=ports.metrics,
            overrides=merged,
            robot_fields=robot_fields,
        )
        return ports

    def gateway(
        self,
        robots: int,
        redis_url: str,
        overrides: dict[str, dict[str, Any]] | None = None,
        ports: Ports | None = None,
    ) -> Gateway:
        """Start `robodine gateway --config` on the run's config (written here unless given)."""
        ports = ports or self.config(robots, redis_url, overrides)
        svc = self.service(
            "gateway",
            robodine_argv("gateway", "--config", str(ports.path)),
            env=child_env(),
            cwd=self.workdir,
        )
        svc.wait_port(ports.tcp)
        svc.wait_port(ports.metrics)
        return Gateway(svc, ports.config, ports.tcp, ports.udp, ports.metrics)

    def web(self, ports: Ports) -> Service:
        """Create the bench user, start `robodine web --config`, wait until it listens."""
        from bench import webtier

        webtier.add_user(ports.path, webtier.USER, webtier.PASSWORD, "admin", self.workdir)
        svc = self.service(
            "web",
            robodine_argv("web", "--config", str(ports.path)),
            env=child_env(),
            cwd=self.workdir,
        )
        svc.wait_port(ports.web, timeout=60)
        return svc

    def peak_rss(self) -> dict[str, float]:
        return {
            s.name: round(s.peak_rss_mb, 1)
            for s in self.services
            if s.name in ("gateway", "web") or s.name.startswith("web")
        }

    @contextlib.contextmanager
    def profiling(self, svc: Service, label: str) -> Iterator[dict[str, Any]]:
        """py-spy the service while the block runs; the dict gets the top functions."""
        out: dict[str, Any] = {}
        if not self.profile_enabled:
            yield out
            return
        from bench import profile

        with profile.record(svc.pid, self.workdir / f"profile-{label}.txt") as summary:
            yield out
        out.update(summary)

    def close(self) -> None:
        for svc in self.services:
            svc.sample_memory()
        self._stack.close()


def now_s() -> float:
    return time.perf_counter()


def eprint(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
