"""The chaos tests' world: real Redis, mosquitto, gateway and web processes, and a simulated
fleet in the test's loop whose robots number their events (``probe`` events, n = 1, 2, ...).

Processes are started the benchmark's way (``bench.harness.Context``: the run's config with
free ports, ``robodine gateway`` / ``robodine web`` as children with their logs in files),
so what is killed here is exactly what a restaurant's box runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench import fleetconf, prom, webtier
from bench.harness import Context, Ports
from bench.procs import Service, child_env, robodine_argv
from config import Settings
from protocol import streams
from robodine.testing.servers import MosquittoServer, RedisServer
from simulator.fleet import Fleet, FleetOptions
from simulator.model import ModelOptions
from simulator.transport import make_transport
from simulator.transport_mixed import ConfiguredTransport
from simulator.transport_vda5050 import VdaTransport

GATEWAY = {
    # Robots are heard every 0.5 s; a gateway restart is well inside offline_after_s, so
    # commands for them wait for the reconnect (docs/reliability.md, Robots).
    "heartbeat_s": 0.5,
    "stale_after_s": 3.0,
    "offline_after_s": 15.0,
    "shutdown_timeout_s": 3.0,
}


class World:
    """One test's processes: a Redis of its own (and mosquitto), the gateway, the web tier."""

    def __init__(
        self,
        workdir: Path,
        redis: RedisServer,
        *,
        robots: int = 6,
        mosquitto: MosquittoServer | None = None,
        extra_robots: Iterable[dict[str, Any]] = (),
        overrides: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.redis_server = redis
        self.mosquitto = mosquitto
        workdir.mkdir(parents=True, exist_ok=True)
        self.ctx = Context("chaos", quick=True, workdir=workdir, progress=lambda _: None)
        sections: dict[str, dict[str, Any]] = {
            "gateway": dict(GATEWAY),
            "logging": {"level": "info", "format": "json"},
            "commands": {"ttl_s": 60.0},
        }
        if mosquitto is not None:
            sections["mqtt"] = {
                "enabled": True,
                "url": mosquitto.url,
                "reconnect_max_s": 0.5,
                "keepalive_s": 5,
            }
            sections["vda5050"] = {"enabled": True, "resend_s": 0.5, "max_resends": 20}
        for name, values in (overrides or {}).items():
            sections.setdefault(name, {}).update(values)
        self.ports: Ports = self.ctx.config(robots, redis.url, sections)
        data = self.ports.config.data
        data["robots"] += list(extra_robots)
        self.ports.path.write_text(fleetconf.dumps(data))
        self.ports.config = fleetconf.BenchConfig(self.ports.path, data)
        self.settings = Settings(**data)
        self.gateway: Service | None = None
        self.web: Service | None = None
        self.redis = aioredis.Redis.from_url(redis.url)

    @property
    def robot_ids(self) -> list[str]:
        return [r.id for r in self.settings.robots]

    # ---- processes -----------------------------------------------------------------

    def start_gateway(self) -> Service:
        self.gateway = self.ctx.service(
            "gateway",
            robodine_argv("gateway", "--config", str(self.ports.path)),
            env=child_env(),
            cwd=self.ctx.workdir,
        )
        self.gateway.wait_port(self.ports.tcp, timeout=60)
        self.gateway.wait_port(self.ports.metrics, timeout=30)
        return self.gateway

    def start_web(self, *, first: bool = True) -> Service:
        if first:
            webtier.add_user(
                self.ports.path, webtier.USER, webtier.PASSWORD, "admin", self.ctx.workdir
            )
        self.web = self.ctx.service(
            "web",
            robodine_argv("web", "--config", str(self.ports.path)),
            env=child_env(),
            cwd=self.ctx.workdir,
        )
        self.web.wait_port(self.ports.web, timeout=60)
        return self.web

    def token(self) -> str:
        return webtier.login(self.ports.web)

    @staticmethod
    def kill(svc: Service | None) -> None:
        """SIGKILL: no goodbye, no flush; whatever the process held in memory is gone."""
        assert svc is not None and svc.proc is not None
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait(10)

    async def metrics(self) -> prom.Metrics:
        return await asyncio.to_thread(prom.scrape, self.ports.metrics)

    def log_lines(self, name: str, event: str) -> int:
        """How many log lines of process ``name`` are the structlog event ``event``."""
        path = self.ctx.workdir / f"{name}.log"
        return path.read_text(errors="replace").count(f'"event":"{event}"')

    async def close(self) -> None:
        await self.redis.aclose()
        self.ctx.close()

    # ---- the fleet -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def fleet(
        self,
        *,
        probe_hz: float = 10.0,
        hz: float = 10.0,
        speed: float = 1.0,
        robots: Iterable[str] | None = None,
    ) -> AsyncIterator[Fleet]:
        """The configured robots (or ``robots``) as simulated ones, each over the transport
        its config entry names, making ``probe_hz`` numbered events a second."""
        chosen = set(robots) if robots is not None else None
        cfgs = [r for r in self.settings.robots if chosen is None or r.id in chosen]
        sim_settings = self.settings
        if self.mosquitto is not None:
            mqtt = sim_settings.mqtt.model_copy(update={"url": self.mosquitto.url})
            sim_settings = sim_settings.model_copy(update={"mqtt": mqtt})
        transport = make_transport("config", sim_settings, "127.0.0.1")
        assert isinstance(transport, ConfiguredTransport)
        for inner in transport.transports.values():
            if isinstance(inner, VdaTransport):
                inner.speed = speed
        fleet = Fleet(
            sim_settings,
            cfgs,
            transport,
            FleetOptions(
                hz=hz,
                ramp_s=0.2,
                seed=5,
                probe_hz=probe_hz,
                model=ModelOptions(
                    speed=speed, pickup_s=1.0, load_s=0.2, cook_s=1.0, ready_hold_s=0.5
                ),
            ),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(fleet.run(stop.wait))
        try:
            yield fleet
        finally:
            stop.set()
            await task

    async def online(self, robots: Iterable[str], timeout: float = 30.0) -> float:
        """Wait until every one of ``robots`` is online in its ``rd:robot:{id}``; seconds."""
        t0 = time.monotonic()
        want = list(robots)
        deadline = t0 + timeout
        while True:
            states = [await self.redis.hget(streams.robot_key(r), "connection") for r in want]
            if all(s == b"online" for s in states):
                return time.monotonic() - t0
            if time.monotonic() > deadline:
                offline = [r for r, s in zip(want, states, strict=True) if s != b"online"]
                raise AssertionError(f"not online after {timeout}s: {offline}")
            await asyncio.sleep(0.1)


async def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    """Poll an async predicate; True once it holds, False when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
