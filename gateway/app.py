"""The gateway daemon: one TaskGroup, a fixed start order and a fixed stop order.

Start: spool -> Redis clients -> writer -> fleet -> UDP -> TCP -> command
reader -> ticker -> READY. Stop (STYLE.md lesson 8): STOPPING -> stop
accepting and tell robots -> stop reading commands -> record gateway.stopped
-> flush the writer (what Redis cannot take goes to the spool) -> close clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CollectorRegistry, start_http_server

from config import Settings
from gateway import redis_client
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats, StatsCollector
from gateway.streams.commands import CommandReader
from gateway.streams.spool import Spool
from gateway.streams.writer import OUTAGE_ERRORS, StreamWriter
from gateway.transports.mqtt import MqttSupervisor, open_mqtt, stop_mqtt
from gateway.transports.tcp import TcpServer
from gateway.transports.udp import open_udp
from protocol.streams import EventType
from robodine.lifecycle import Notifier

log = structlog.get_logger("gateway")

TICK_S = 0.25


class Gateway:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.stats = Stats()
        self.started = asyncio.Event()
        self.tcp_port = 0
        self.udp_port = 0
        self.fleet: Fleet | None = None
        self.writer: StreamWriter | None = None
        self.mqtt: MqttSupervisor | None = None
        self.notifier = Notifier()

    async def run(self, shutdown: Awaitable[object]) -> None:
        """Serve until ``shutdown`` completes (a signal's Event.wait(), or a test's trigger)."""
        s = self.settings
        spool = await asyncio.to_thread(Spool, s.spool.path, s.spool.max_records)
        redis = redis_client.connect(s.redis, name=f"{s.gateway.name}:writer")
        blocking = redis_client.connect(
            s.redis, name=f"{s.gateway.name}:commands", block_ms=s.redis.command_block_ms
        )
        try:
            writer = self.writer = StreamWriter(
                redis, s.redis, spool, self.stats, src=s.gateway.name, clock=self.clock
            )
            fleet = self.fleet = Fleet(s, writer, self.stats, self.clock())
            reader = CommandReader(
                blocking, fleet, s.redis, consumer=s.gateway.name, clock=self.clock
            )
            with contextlib.suppress(*OUTAGE_ERRORS, TimeoutError):
                # Registry robots must be known before they can connect; an outage
                # must not keep the gateway down (the reader loads them later).
                await asyncio.wait_for(reader.load(), s.redis.connect_timeout_s * 2)
            async with asyncio.TaskGroup() as tg:
                writer_task = tg.create_task(writer.run(), name="writer")
                udp, self.udp_port = await open_udp(fleet, s.udp)
                tcp = TcpServer(fleet, s.tcp, s.gateway, self.stats, self.udp_port)
                self.tcp_port = await tcp.start()
                reader_task = tg.create_task(reader.run(), name="commands")
                mqtt = self.mqtt = open_mqtt(s, fleet, self.stats, self.clock)  # None: disabled
                mqtt_task = tg.create_task(mqtt.run(), name="mqtt") if mqtt else None
                workers = [
                    tg.create_task(self._ticker(fleet), name="ticker"),
                    tg.create_task(
                        self.notifier.run_watchdog(lambda: not writer_task.done()), name="watchdog"
                    ),
                ]
                fleet.publish_registry()
                writer.event(
                    EventType.GATEWAY_STARTED,
                    data={"gateway": s.gateway.name, "robots": len(fleet.sessions)},
                )
                self._serve_metrics()
                log.info(
                    "gateway_started",
                    tcp_port=self.tcp_port,
                    udp_port=self.udp_port,
                    robots=len(fleet.sessions),
                    redis=_redact_url(s.redis.url),
                )
                self.notifier.ready(f"serving {len(fleet.sessions)} robots")
                self.started.set()

                await shutdown

                self.notifier.stopping()
                log.info("gateway_stopping")
                timeout = s.gateway.shutdown_timeout_s
                udp.close()
                await tcp.stop(timeout / 2)
                if mqtt is not None and mqtt_task is not None:
                    await stop_mqtt(mqtt, mqtt_task, timeout / 2)
                reader.stop()
                for task in workers:
                    task.cancel()
                done, _ = await asyncio.wait(
                    {reader_task}, timeout=s.redis.command_block_ms / 1000 + 1
                )
                if not done:
                    reader_task.cancel()
                writer.event(EventType.GATEWAY_STOPPED, data={"gateway": s.gateway.name})
                await writer.close(timeout / 2)
        finally:
            for client in (blocking, redis):
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.to_thread(spool.close)
            log.info("gateway_stopped", spooled=len(spool))

    async def _ticker(self, fleet: Fleet) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            fleet.tick(self.clock())

    def _serve_metrics(self) -> None:
        g = self.settings.gateway
        if not g.metrics_port:
            return
        registry = CollectorRegistry()
        registry.register(StatsCollector(self.stats))
        try:
            start_http_server(g.metrics_port, addr=g.metrics_host, registry=registry)
        except OSError as exc:
            log.warning("metrics_unavailable", port=g.metrics_port, error=str(exc))


def _redact_url(url: str) -> str:
    """redis://user:secret@host -> redis://user:***@host, so a password never reaches a log."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
