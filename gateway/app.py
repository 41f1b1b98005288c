"""The gateway daemon: one TaskGroup, a fixed start order and a fixed stop order.

Start: spool -> Redis clients -> writers (streams, cameras) -> fleet -> UDP
(telemetry, cameras) -> TCP -> command reader -> ticker -> READY. Stop: STOPPING -> stop
accepting and tell robots -> stop reading commands -> record gateway.stopped
-> flush the writer (what Redis cannot take goes to the spool) -> close clients.

The stop runs on every way out: a signal, a task of the group that crashed
(then ``gateway.stopped`` is an alarm naming the error, and the error is
raised once the stop is done), or a cancelled ``run``. The writer runs beside
the group, not in it, so a crash elsewhere cannot cancel it before it has
written or spooled what it holds; a crash of the writer itself stops the
gateway too.

Problems that no retry fixes (a spool path that cannot hold a spool, a Redis
URL naming a database the server does not have) raise ``ConfigError``, which
the CLI reports as one line and exit status 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, start_http_server
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from config import ConfigError, Settings
from config.loader import problem
from gateway.cameras.writer import CameraWriter
from gateway.cluster import membership
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats, StatsCollector
from gateway.streams.commands import CommandReader
from gateway.streams.spool import Spool, SpoolError
from gateway.streams.writer import OUTAGE_ERRORS, StreamWriter
from gateway.transports.mqtt import MqttSupervisor, open_mqtt, stop_mqtt
from gateway.transports.tcp import TcpServer
from gateway.transports.udp import UdpEndpoint, open_camera_udp, open_udp
from protocol.streams import EventType, Level
from robodine.backoff import Backoff
from robodine.lifecycle import Notifier
from robodine.ports import listening
from robodine.redisio.client import connect, redacted_url
from robodine.redisio.keys import KEYS

log = structlog.get_logger("gateway")

TICK_S = 0.25


@dataclass
class _Started:
    """What has been started so far, for the ordered stop to undo on any path."""

    udp: UdpEndpoint | None = None
    camera_udp: UdpEndpoint | None = None
    tcp: TcpServer | None = None
    reader: CommandReader | None = None
    reader_task: asyncio.Task[None] | None = None
    mqtt: MqttSupervisor | None = None
    mqtt_task: asyncio.Task[None] | None = None
    member: membership.Member | None = None
    workers: list[asyncio.Task[Any]] = field(default_factory=list)
    stopping: bool = False


class Gateway:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.stats = Stats()
        self.started = asyncio.Event()
        self.tcp_port = 0
        self.udp_port = 0
        self.camera_port = 0
        self.cameras: CameraWriter | None = None
        self.fleet: Fleet | None = None
        self.writer: StreamWriter | None = None
        self.mqtt: MqttSupervisor | None = None
        self.notifier = Notifier()

    async def run(self, shutdown: Awaitable[object]) -> None:
        """Serve until ``shutdown`` completes (a signal's Event.wait(), or a test's trigger)."""
        s = self.settings
        spool = await asyncio.to_thread(_open_spool, s)
        self.stats.probe("spool_depth", "", lambda: float(len(spool)))
        redis = connect(s.redis, name=f"{s.gateway.name}:writer")
        blocking = connect(
            s.redis, name=f"{s.gateway.name}:commands", block_ms=s.redis.command_block_ms
        )
        started = _Started()
        writer_task: asyncio.Task[None] | None = None
        crash: BaseException | None = None
        try:
            writer = self.writer = StreamWriter(
                redis, s.redis, spool, self.stats, src=s.gateway.name, clock=self.clock
            )
            writer.probe_buffers()
            cameras = self.cameras = CameraWriter(
                s.redis, s.camera, self.stats, src=s.gateway.name, clock=self.clock
            )
            fleet = self.fleet = Fleet(s, writer, self.stats, self.clock(), frames=cameras)
            member = started.member = membership.member(s, fleet, writer, self.stats, self.clock)
            reader = started.reader = (
                CommandReader(blocking, fleet, s.redis, consumer=s.gateway.name, clock=self.clock)
                if member is None
                else member.reader(blocking)
            )
            redis_checked = await self._load(blocking, reader, fleet)
            writer_task = running = asyncio.create_task(writer.run(), name="writer")
            try:
                async with asyncio.TaskGroup() as tg:
                    started.workers.append(tg.create_task(_watch(writer_task), name="writer-watch"))
                    if not redis_checked:  # Redis was away: check its URL when it is back
                        started.workers.append(
                            tg.create_task(_check_redis_until_reached(blocking, s), name="redis")
                        )
                    with listening("udp.port", "UDP", s.udp.host, s.udp.port):
                        started.udp, self.udp_port = await open_udp(fleet, s.udp)
                    tcp = TcpServer(fleet, s.tcp, s.gateway, self.stats, self.udp_port)
                    if s.camera.enabled:  # video: a socket, a writer and a task of its own
                        started.camera_udp, self.camera_port = await open_camera_udp(
                            fleet, s.udp, s.camera
                        )
                        tcp.camera_port = self.camera_port
                        started.workers.append(tg.create_task(cameras.run(), name="cameras"))
                    started.tcp = tcp
                    with listening("tcp.port", "TCP", s.tcp.host, s.tcp.port):
                        self.tcp_port = await tcp.start()
                    if member is not None:
                        started.workers += member.start(tg, self.tcp_port, self.udp_port)
                    started.reader_task = tg.create_task(reader.run(), name="commands")
                    mqtt = self.mqtt = started.mqtt = open_mqtt(s, fleet, self.stats, self.clock)
                    if mqtt is not None:
                        started.mqtt_task = tg.create_task(mqtt.run(), name="mqtt")
                    started.workers += [
                        tg.create_task(self._ticker(fleet), name="ticker"),
                        tg.create_task(
                            self.notifier.run_watchdog(lambda: not running.done()),
                            name="watchdog",
                        ),
                    ]
                    fleet.publish_registry()
                    writer.event(
                        EventType.GATEWAY_STARTED,
                        data={"gateway": s.gateway.name, "robots": len(fleet.sessions)},
                    )
                    log.info(
                        "gateway_started",
                        tcp_port=self.tcp_port,
                        udp_port=self.udp_port,
                        metrics=self._serve_metrics(),
                        camera_port=self.camera_port or None,
                        robots=len(fleet.sessions),
                        redis=redacted_url(s.redis.url),
                    )
                    self.notifier.ready(f"serving {len(fleet.sessions)} robots")
                    self.started.set()

                    await shutdown
                    await self._stop_inputs(started)  # ends every task of the group
            except BaseException as exc:
                crash = exc
                raise
            finally:
                # Every way out, in the same order: robots told, commands no longer
                # read, the stop recorded, the writer flushed or spooled.
                await self._stop_inputs(started)
                writer.event(EventType.GATEWAY_STOPPED, **_stopped(s.gateway.name, crash))
                if member is not None:
                    member.leave()  # every lease let go in the last flush
                await writer.close(s.gateway.shutdown_timeout_s / 2)
        except BaseExceptionGroup as group:
            config = group.subgroup(ConfigError)
            if config is None:
                raise
            raise ConfigError(_problems(config)) from None
        finally:
            if writer_task is not None and not writer_task.done():  # never closed: no writer
                writer_task.cancel()
                with contextlib.suppress(BaseException):
                    await writer_task
            for client in (blocking, redis):
                with contextlib.suppress(Exception):
                    await client.aclose()
            if started.member is not None:
                await started.member.aclose()
            await asyncio.to_thread(spool.close)
            if self.started.is_set():
                log.info("gateway_stopped", spooled=len(spool))

    async def _load(self, blocking: Redis, reader: CommandReader, fleet: Fleet) -> bool:
        """Before the ports open: the Redis URL checked, registry robots and open orders
        loaded, robots expected back noted. An outage must not keep the gateway down
        (the reader loads them later); returns whether Redis answered."""
        s = self.settings
        try:
            if s.cluster.enabled:
                async with asyncio.timeout(s.redis.connect_timeout_s * 2):
                    await _check_redis(blocking, s)
                await membership.wait_for_name(blocking, s)
            async with asyncio.timeout(s.redis.connect_timeout_s * 2):
                await _check_redis(blocking, s)
                await reader.load()
                await _expect_back(blocking, fleet, self.clock())
        except (*OUTAGE_ERRORS, TimeoutError):
            return False
        return True

    async def _stop_inputs(self, started: _Started) -> None:
        """Tell robots, stop reading commands, end the workers. Safe to run twice (a crash
        during the graceful stop runs it again): each step is a no-op the second time."""
        if not started.stopping:
            started.stopping = True
            self.notifier.stopping()
            log.info("gateway_stopping")
        timeout = self.settings.gateway.shutdown_timeout_s
        if started.udp is not None:
            started.udp.close()
        if started.camera_udp is not None:
            started.camera_udp.close()
        if started.tcp is not None:
            await started.tcp.stop(timeout / 2)
        if started.mqtt is not None and started.mqtt_task is not None:
            await stop_mqtt(started.mqtt, started.mqtt_task, timeout / 2)
        if started.member is not None:
            await started.member.stop_leading()
        if started.reader is not None:
            started.reader.stop()
        for task in started.workers:
            task.cancel()
        if started.reader_task is not None:
            block_s = self.settings.redis.command_block_ms / 1000
            done, _ = await asyncio.wait({started.reader_task}, timeout=block_s + 1)
            if not done:
                started.reader_task.cancel()

    async def _ticker(self, fleet: Fleet) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            fleet.tick(self.clock())

    def _serve_metrics(self) -> str | None:
        """/metrics on gateway.metrics_host:metrics_port; the address, or None (off, or the
        port taken: logged, and the gateway serves robots without its metrics)."""
        g = self.settings.gateway
        if not g.metrics_port:
            return None
        registry = CollectorRegistry()
        registry.register(StatsCollector(self.stats))
        try:
            start_http_server(g.metrics_port, addr=g.metrics_host, registry=registry)
        except OSError as exc:
            log.warning("metrics_unavailable", port=g.metrics_port, error=str(exc))
            return None
        return f"{g.metrics_host}:{g.metrics_port}"


def _open_spool(s: Settings) -> Spool:
    try:
        spool = Spool(s.spool.path, s.spool.max_records)
    except SpoolError as exc:
        raise ConfigError([problem("spool.path", str(exc))]) from None
    if spool.degraded:
        log.error(
            "spool_unavailable",
            path=str(spool.path),
            error=spool.degraded,
            policy="serving robots; events that Redis cannot take are lost and counted",
        )
    return spool


async def _check_redis(client: Redis, s: Settings) -> None:
    """A Redis URL naming a database the server does not have is a config problem,
    not an outage: no retry would ever reach it."""
    try:
        await client.ping()
    except ResponseError as exc:
        if "DB index" not in str(exc):  # "DB index is out of range"
            raise
        db = s.redis.url.rsplit("/", 1)[-1].split("?", 1)[0]
        raise ConfigError(
            [problem("redis.url", f"the Redis server has no database {db} ({exc})")]
        ) from None


async def _check_redis_until_reached(client: Redis, s: Settings) -> None:
    backoff = Backoff(0.5, 10.0)
    while True:
        try:
            await _check_redis(client, s)
            return
        except (*OUTAGE_ERRORS, TimeoutError):
            await asyncio.sleep(backoff.next())


async def _expect_back(client: Redis, fleet: Fleet, now: float) -> None:
    """Read what the previous gateway left in the robots' snapshots: which robots were
    connected when it went away, and so will be back soon (Fleet.expect_back)."""
    robots = list(fleet.sessions)
    pipe = client.pipeline(transaction=False)
    for robot in robots:
        pipe.hmget(KEYS.robot(robot), ["connection", "seen", "updated"])
    replies = await pipe.execute()
    fleet.expect_back(dict(zip(robots, replies, strict=True)), now)


async def _watch(writer: asyncio.Task[None]) -> None:
    """A writer that ends by itself (it crashed) ends the gateway: raise its error here."""
    await asyncio.shield(writer)
    raise RuntimeError("the stream writer stopped")


def _stopped(gateway: str, crash: BaseException | None) -> dict[str, Any]:
    if not isinstance(crash, Exception):  # a signal, or run() cancelled
        return {"data": {"gateway": gateway}}
    log.error("gateway_failed", error=_describe(crash))
    return {"level": Level.ALARM, "data": {"gateway": gateway, "error": _describe(crash)}}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def _problems(group: BaseExceptionGroup[ConfigError]) -> list[str]:
    out: list[str] = []
    for exc in group.exceptions:
        out += _problems(exc) if isinstance(exc, BaseExceptionGroup) else exc.problems
    return out
