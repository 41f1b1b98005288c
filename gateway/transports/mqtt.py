"""The gateway's one MQTT client: connect, subscribe, route topics, publish; reconnect forever.

``async with Client(...)`` for each connection, started again after an
``MqttError`` with a backoff (``robodine.supervisor``). What arrives goes,
synchronously, to the ``Router`` that owns its topic: robodine/v1 robots
(``gateway.transports.mqtt_robots``) and the VDA 5050 master control
(``gateway.vda5050``). What routers publish goes into a bounded ``Outbox``,
drained by the client while it is connected, so a ``send`` never awaits and
a broker outage only delays it.

- A broker outage is logged once when it starts and once when it ends; robots
  on TCP/UDP never notice (nothing here blocks the loop).
- Inbound messages are handled synchronously in paho's socket callback, so
  aiomqtt's queue stays empty (paho acknowledges a QoS 1 message as soon as
  it has read it, so one waiting there would be acknowledged before we
  handled it) and a QoS 1 PUBACK leaves only once the message is in the
  stream writer's buffer. It also doubled the ingest rate (docs/mqtt.md).
- QoS 0 messages (telemetry) skip paho and aiomqtt: paho's socket is read a
  chunk at a time and they are handed over straight from it, a run at a time
  (``gateway.transports.mqtt_socket``), in stream order with the rest. A
  router with a batch path (``RunRouter``: the robots' telemetry) takes what
  it can of a run in one call; every other message goes through ``_route``.
- A router that raises on one message is logged and counted; the next message
  is handled (a supervisor is the one place for ``except Exception``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import aiomqtt
import structlog

from config import Settings
from gateway.fleet.port import FleetOutput
from gateway.metrics import Stats
from gateway.transports.mqtt_socket import split_reads
from protocol.mqtt_topics import Publication, Subscription
from protocol.mqtt_wire import Publish
from protocol.streams import EventType, Level
from robodine.backoff import Backoff
from robodine.supervisor import Supervisor

if TYPE_CHECKING:
    from gateway.fleet.fleet import Fleet

__all__ = [
    "MqttSupervisor",
    "Outbox",
    "Rejections",
    "Router",
    "RunRouter",
    "open_mqtt",
    "stop_mqtt",
]

log = structlog.get_logger("gateway.mqtt")

TICK_S = 0.25
# paho/aiomqtt log through stdlib logging; our counters and transition logs say
# the same once, so keep theirs to real errors.
_PAHO_LOG = logging.getLogger("gateway.mqtt.paho")
_PAHO_LOG.setLevel(logging.ERROR)


class Router(Protocol):
    """One family of topics: what to subscribe to, and what to do with a message."""

    def subscriptions(self) -> Sequence[Subscription]: ...

    def owns(self, topic: str) -> bool: ...

    def handle(self, topic: str, payload: bytes, retained: bool, now: float) -> None:
        """Never awaits; a bad message is counted (and maybe an event), never raised."""

    def tick(self, now: float) -> None: ...


@runtime_checkable
class RunRouter(Router, Protocol):
    """A router with a batch path for the common case of its topics."""

    run_end: int  # while it applies a batch: where the batch ends

    def handle_run(self, run: Sequence[Publish], start: int, now: float) -> int:
        """Handle what it can from ``run[start]`` on, in one go; return the index of
        the first message it left for ``handle``."""


class Outbox:
    """Publications waiting for the client: bounded, oldest dropped (and counted) when full."""

    def __init__(self, maxlen: int, stats: Stats) -> None:
        self._queue: deque[Publication] = deque()
        self._maxlen = maxlen
        self._stats = stats
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, pub: Publication) -> None:
        if len(self._queue) >= self._maxlen:
            self._queue.popleft()
            self._stats.inc("mqtt_dropped", "outbox_full")
        self._queue.append(pub)
        self._wake.set()

    async def drain(self, client: aiomqtt.Client) -> None:
        """Publish in order until cancelled; a message leaves only once the client took it."""
        while True:
            while self._queue:
                pub = self._queue[0]
                await client.publish(pub.topic, pub.payload, qos=pub.qos, retain=pub.retain)
                if self._queue and self._queue[0] is pub:
                    self._queue.popleft()
                self._stats.inc("mqtt_published", str(pub.qos))
            self._wake.clear()
            await self._wake.wait()


class Rejections:
    """A message we refuse: always counted; logged and recorded as an event once in a while.

    The first rejection of a (robot, reason) is logged and, for a robot we know,
    written as a ``robot.event`` ``message_rejected`` (warning); the same again
    within ``quiet_s`` is only counted, so a robot stuck on a bad payload cannot
    flood the log or rd:events.
    """

    def __init__(
        self, counter: str, stats: Stats, writer: FleetOutput, *, quiet_s: float = 60.0
    ) -> None:
        self.counter = counter
        self.stats = stats
        self.writer = writer
        self.quiet_s = quiet_s
        self._last: dict[tuple[str, str], float] = {}

    def __call__(
        self, reason: str, topic: str, detail: str, now: float, *, robot: str | None = None
    ) -> None:
        self.stats.inc(self.counter, reason)
        key = (robot or topic, reason)
        last = self._last.get(key)
        if last is not None and now - last < self.quiet_s:
            return
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[key] = now
        log.warning(
            "mqtt_message_rejected",
            counter=self.counter,
            reason=reason,
            topic=topic[:200],
            robot=robot,
            detail=detail[:300],
        )
        if robot is not None:
            self.writer.event(
                EventType.ROBOT_EVENT,
                robot,
                level=Level.WARNING,
                data={
                    "name": "message_rejected",
                    "data": {"reason": reason, "topic": topic[:200], "detail": detail[:300]},
                },
            )


class _Disconnected(Exception):
    """A connection to the broker ended (its MqttErrors, joined, or "disconnected")."""


def _inbound(dispatch: Callable[[aiomqtt.Message], None]) -> type[asyncio.Queue[Any]]:
    class Inbound(asyncio.Queue[Any]):
        """aiomqtt's inbound queue, where nothing waits: each message is handled as paho
        hands it over.

        aiomqtt puts every message into its queue from paho's socket callback, then
        wakes one task per message to take it out; that cost most of the gateway's
        CPU at a few thousand messages a second. Our handlers never await, so they run
        right here: no queue to bound, no task per message, and paho sends a QoS 1
        PUBACK only after the message is in the stream writer's buffer. ``get``
        never returns, so ``client.messages`` just waits for a disconnect.
        """

        def put_nowait(self, item: Any) -> None:
            dispatch(item)

    return Inbound


class MqttSupervisor:
    def __init__(
        self,
        settings: Settings,
        routers: Sequence[Router],
        outbox: Outbox,
        stats: Stats,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings.mqtt
        self.client_id = self.settings.client_id or f"robodine-{settings.gateway.name}"
        self.routers = list(routers)
        self._batcher = next((r for r in self.routers if isinstance(r, RunRouter)), None)
        self.outbox = outbox
        self.stats = stats
        self.clock = clock
        self.connected = asyncio.Event()  # set while subscribed (tests wait on it)
        self._stop = asyncio.Event()
        # Subscriptions changed while connected ([cluster]: robots taken or let go), in order:
        # (subscribe?, filters). Reconnecting subscribes to ``subscriptions()`` afresh.
        self._changes: deque[tuple[bool, list[Subscription]]] = deque()
        self._changed = asyncio.Event()
        self._queueing = False  # in a connection, from before its subscribe
        url = urlsplit(self.settings.url)
        self._tls = url.scheme == "mqtts"
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or (8883 if self._tls else 1883)
        self._supervisor = Supervisor(
            log,
            lost="mqtt_unavailable",
            recovered="mqtt_recovered",
            backoff=Backoff(0.1, self.settings.reconnect_max_s),
            up=False,
            policy="reconnecting with backoff; TCP/UDP robots unaffected",
            gauge=lambda up: stats.set("mqtt_up", "", up),
            on_outage=lambda: stats.inc("mqtt_outages"),
            clock=clock,
            context={"broker": f"{self._host}:{self._port}"},
        )

    @property
    def up(self) -> bool:
        """Connected and subscribed."""
        return self._supervisor.up

    def subscriptions(self) -> list[Subscription]:
        return [sub for r in self.routers for sub in r.subscriptions()]

    def subscribe(self, subs: Sequence[Subscription]) -> None:
        """Subscribe now, if connected (a router's ``subscriptions()`` already has them:
        a reconnect subscribes to them anyway)."""
        self._change(True, subs)

    def unsubscribe(self, subs: Sequence[Subscription]) -> None:
        self._change(False, subs)

    def _change(self, add: bool, subs: Sequence[Subscription]) -> None:
        if subs and self._queueing:
            self._changes.append((add, list(subs)))
            self._changed.set()

    async def _apply_changes(self, client: aiomqtt.Client) -> None:
        while True:
            while self._changes:
                add, subs = self._changes[0]
                if add:
                    topics: list[tuple[str, int]] = [(s.topic_filter, s.qos) for s in subs]
                    await client.subscribe(topics)
                else:
                    await client.unsubscribe([s.topic_filter for s in subs])
                self._changes.popleft()
            self._changed.clear()
            await self._changed.wait()

    def stop(self) -> None:
        """Disconnect cleanly and let ``run`` return."""
        self._stop.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self._connection_loop(), name="mqtt-connection"),
                tg.create_task(self._ticker(), name="mqtt-ticker"),
            ]
            await self._stop.wait()
            for task in tasks:
                task.cancel()
        self.stats.set("mqtt_up", "", 0)
        log.info("mqtt_stopped", unsent=len(self.outbox))

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        client = aiomqtt.Client(
            self._host,
            self._port,
            username=s.username,
            password=s.password.get_secret_value() if s.password is not None else None,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V311,  # the PUBLISH layout split_reads reads
            clean_session=not s.persistent_session,
            keepalive=s.keepalive_s,
            timeout=10.0,
            queue_type=_inbound(self._dispatch),
            tls_context=ssl.create_default_context() if self._tls else None,
            logger=_PAHO_LOG,
        )
        split_reads(client, self._route_run)
        return client

    async def _connection_loop(self) -> None:
        await self._supervisor.run(
            self._connection, errors=_Disconnected, on_error=lambda _: self.connected.clear()
        )

    async def _connection(self) -> None:
        """One connection, from connect to its end; it always ends in _Disconnected."""
        error = ""
        try:
            async with self._client() as client:
                self._queueing = True
                self._changes.clear()  # what they changed is in subscriptions() now
                topics: list[tuple[str, int]] = [
                    (s.topic_filter, s.qos) for s in self.subscriptions()
                ]
                await client.subscribe(topics)
                self._on_up()
                async with asyncio.TaskGroup() as tg:
                    publisher = tg.create_task(self.outbox.drain(client), name="mqtt-publish")
                    changes = tg.create_task(self._apply_changes(client), name="mqtt-subscribe")
                    try:
                        await self._read(client)
                    finally:
                        publisher.cancel()
                        changes.cancel()
        except* aiomqtt.MqttError as group:
            error = "; ".join(str(e) or type(e).__name__ for e in group.exceptions)
        finally:
            self._queueing = False
        raise _Disconnected(error or "disconnected")

    async def _read(self, client: aiomqtt.Client) -> None:
        """Until the connection drops (MqttError); messages go to ``_dispatch`` meanwhile."""
        async for _ in client.messages:
            pass

    def _dispatch(self, message: aiomqtt.Message) -> None:
        """A QoS 1/2 message, through paho and aiomqtt."""
        self._route(message.topic.value, bytes(message.payload), bool(message.retain))

    def _route_run(self, run: list[Publish]) -> None:
        """QoS 0 messages as the socket read them: what the batch router takes, in one
        call each stretch; any other message through ``_route``, in stream order."""
        batcher = self._batcher
        now = self.clock()
        i, n = 0, len(run)
        while i < n:
            if batcher is not None:
                start = i
                try:
                    i = batcher.handle_run(run, start, now)
                except Exception:  # as in _route: counted, logged, the next one is handled
                    i = max(batcher.run_end, start + 1)
                    self.stats.inc("mqtt_dropped", "handler_failed", i - start)
                    log.exception("mqtt_handler_failed", topic=run[start][0], messages=i - start)
                    continue
                if i > start:
                    self.stats.inc("mqtt_received", run[start][0].partition("/")[0], i - start)
                    continue
            topic, payload, retained = run[i]
            self._route(topic, payload, retained)
            i += 1

    def _route(self, topic: str, payload: bytes, retained: bool) -> None:
        """Every inbound message, whatever its QoS: to the router that owns its topic."""
        self.stats.inc("mqtt_received", topic.partition("/")[0])
        for router in self.routers:
            if router.owns(topic):
                break
        else:
            self.stats.inc("mqtt_dropped", "unknown_topic")
            return
        try:
            router.handle(topic, payload, retained, self.clock())
        except Exception:  # a bug in one handler must not stop the others, nor the client
            self.stats.inc("mqtt_dropped", "handler_failed")
            log.exception("mqtt_handler_failed", topic=topic)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = self.clock()
            for router in self.routers:
                try:
                    router.tick(now)
                except Exception:
                    log.exception("mqtt_tick_failed", router=type(router).__name__)

    def _on_up(self) -> None:
        self.connected.set()
        if not self._supervisor.ok(unsent=len(self.outbox)):  # not after an outage: the first
            log.info(
                "mqtt_connected",
                broker=f"{self._host}:{self._port}",
                client_id=self.client_id,
                subscriptions=len(self.subscriptions()),
            )


def open_mqtt(
    settings: Settings, fleet: Fleet, stats: Stats, clock: Callable[[], float] = time.time
) -> MqttSupervisor | None:
    """The supervisor with its routers, or None when ``[mqtt] enabled`` is false."""
    if not settings.mqtt.enabled:
        unserved = [r.id for r in settings.robots if r.transport != "tcp"]
        if unserved:
            log.warning(
                "mqtt_robots_unserved",
                robots=unserved,
                hint="these robots use MQTT; set [mqtt] enabled = true",
            )
        return None
    agvs = [r.id for r in settings.robots if r.transport == "vda5050"]
    if agvs and not settings.vda5050.enabled:
        log.warning(
            "mqtt_robots_unserved",
            robots=agvs,
            hint="these robots are VDA 5050 AGVs; set [vda5050] enabled = true",
        )
    from gateway.transports.mqtt_robots import RobotRouter

    outbox = Outbox(settings.mqtt.max_queued_outgoing, stats)
    routers: list[Router] = [RobotRouter(settings, fleet, outbox, stats)]
    if settings.vda5050.enabled:
        from gateway.vda5050.master import MasterControl

        routers.append(MasterControl(settings, fleet, outbox, stats, clock=clock))
    supervisor = MqttSupervisor(settings, routers, outbox, stats, clock=clock)
    for router in routers:  # [cluster] robots taken or let go change the subscriptions
        claims = getattr(router, "claims", None)
        if claims is not None:
            claims.subscribe, claims.unsubscribe = supervisor.subscribe, supervisor.unsubscribe
    return supervisor


async def stop_mqtt(supervisor: MqttSupervisor, task: asyncio.Task[None], timeout: float) -> None:
    """Shutdown step: disconnect (within ``timeout``), else cancel."""
    supervisor.stop()
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
