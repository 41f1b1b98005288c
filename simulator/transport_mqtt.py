"""The mqtt transport: each simulated robot speaks robodine/v1 over its own MQTT connection.

One connection per robot, because presence is per connection: the robot sets
its last will (retained ``offline`` on its presence topic) when it connects,
subscribes to its ``command`` topic, then publishes a retained ``online``
(docs/mqtt.md). Its messages go to
``robodine/v1/robots/{id}/{telemetry|state|event|ack}`` with the QoS of
``protocol.mqtt_topics.DELIVERY``; commands arrive on its ``command`` topic.
An orderly ``close`` says ``offline`` first; a crash leaves it to the will.

``BrokerLink`` (the connection task, outbox and orderly goodbye) is shared with
the vda5050 transport. The broker address is ``[mqtt] url``; robots connect
anonymously (a development broker), or as ``--mqtt-username``-less robots on an
edge box once the ACL lets them (docs/mqtt.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import aiomqtt
import structlog

from config import Settings
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.messages import Command, RobotMessage, Telemetry
from protocol.mqtt_topics import (
    Presence,
    Publication,
    Subscription,
    decode_command,
    last_will,
    presence_publication,
    publication_for,
    robot_subscriptions,
)
from simulator.transport import MessageHandler, RobotIdentity

__all__ = ["BrokerLink", "MqttLink", "MqttTransport", "broker_address"]

log = structlog.get_logger("simulator.mqtt")

OUTBOX_MAX = 1024
L = TypeVar("L", bound="BrokerLink")


def broker_address(settings: Settings) -> tuple[str, int]:
    url = urlsplit(settings.mqtt.url)
    return url.hostname or "127.0.0.1", url.port or 1883


class BrokerLink:
    """One robot's MQTT connection, run by one task: connect, greet, then read and write.

    ``opened`` resolves once subscribed and greeted (or fails with ConnectionError);
    ``is_closing`` turns true when the connection is gone, which makes the
    robot reconnect with a new link.
    """

    def __init__(
        self, host: str, port: int, client_id: str, *, will: Publication, keepalive: int = 10
    ) -> None:
        self.client_id = client_id
        self._client = aiomqtt.Client(
            host,
            port,
            identifier=client_id,
            clean_session=True,
            keepalive=keepalive,
            timeout=5.0,
            will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
        )
        self._out: deque[Publication] = deque(maxlen=OUTBOX_MAX)
        self._wake = asyncio.Event()
        self._goodbye: Publication | None = None
        self._closing = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.dropped = 0

    # ---- what a subclass says ----------------------------------------------------

    def subscriptions(self) -> tuple[Subscription, ...]:
        return ()

    def greeting(self) -> list[Publication]:
        """Published (in order) right after connecting, before ``opened`` resolves."""
        return []

    def goodbye(self) -> Publication | None:
        """Published before an orderly disconnect."""
        return None

    def received(self, topic: str, payload: bytes) -> None: ...

    # ---- Link --------------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"mqtt-{self.client_id}")

    @property
    def is_closing(self) -> bool:
        return self._closing or (self.task is not None and self.task.done())

    def publish(self, pub: Publication) -> None:
        if self._closing:
            return
        if len(self._out) == self._out.maxlen:
            self.dropped += 1
        self._out.append(pub)
        self._wake.set()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._goodbye = self.goodbye() if self.opened.done() else None
        self._wake.set()

    async def wait_closed(self, timeout: float = 3.0) -> None:
        if self.task is None:
            return
        done, _ = await asyncio.wait({self.task}, timeout=timeout)
        if not done:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    # ---- the connection task -------------------------------------------------------

    async def _run(self) -> None:
        try:
            async with self._client as client:
                # Subscribed before saying `online`: the gateway answers a (re)connect by
                # sending what the robot has not acknowledged, at once.
                subs: list[tuple[str, int]] = [
                    (s.topic_filter, s.qos) for s in self.subscriptions()
                ]
                if subs:
                    await client.subscribe(subs)
                for pub in self.greeting():
                    await client.publish(pub.topic, pub.payload, qos=pub.qos, retain=pub.retain)
                if not self.opened.done():
                    self.opened.set_result(None)
                async with asyncio.TaskGroup() as tg:
                    reader = tg.create_task(self._read(client))
                    try:
                        await self._write(client)
                    finally:
                        reader.cancel()
        except* aiomqtt.MqttError as group:
            error = ConnectionError("; ".join(str(e) or type(e).__name__ for e in group.exceptions))
            if not self.opened.done():
                self.opened.set_exception(error)
                self.opened.exception()  # retrieved: connect() re-raises it
            else:
                log.debug("robot_mqtt_lost", client_id=self.client_id, error=str(error))
        finally:
            self._closing = True
            if not self.opened.done():
                self.opened.set_exception(ConnectionError("closed before it opened"))
                self.opened.exception()

    async def _write(self, client: aiomqtt.Client) -> None:
        while True:
            while self._out:
                pub = self._out[0]
                await client.publish(pub.topic, pub.payload, qos=pub.qos, retain=pub.retain)
                if self._out and self._out[0] is pub:
                    self._out.popleft()
            if self._closing:
                if self._goodbye is not None:
                    g = self._goodbye
                    await client.publish(g.topic, g.payload, qos=g.qos, retain=g.retain)
                return  # leaving `async with` sends DISCONNECT: the will is not published
            self._wake.clear()
            await self._wake.wait()

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.received(message.topic.value, bytes(message.payload))


class MqttLink(BrokerLink):
    """A robodine/v1 robot on MQTT (simulator.transport.Link)."""

    heartbeat_s = None  # liveness is the broker's keepalive and the robot's telemetry

    def __init__(
        self, identity: RobotIdentity, on_message: MessageHandler, host: str, port: int
    ) -> None:
        self.identity = identity
        self._on_message = on_message
        self._held: list[Command] | None = []  # commands before ready(), in order
        super().__init__(host, port, f"sim-{identity.robot}", will=last_will(identity.robot))
        self.bad_commands = 0

    def subscriptions(self) -> tuple[Subscription, ...]:
        return robot_subscriptions(self.identity.robot)

    def greeting(self) -> list[Publication]:
        return [presence_publication(self.identity.robot, Presence.ONLINE)]

    def goodbye(self) -> Publication:
        return presence_publication(self.identity.robot, Presence.OFFLINE)

    def received(self, topic: str, payload: bytes) -> None:
        try:
            cmd = decode_command(topic, payload)
        except RemoteProtocolError as exc:
            self.bad_commands += 1
            log.warning("gateway_command_rejected", robot=self.identity.robot, error=exc.message)
            return
        if self._held is not None:
            self._held.append(cmd)
        else:
            self._on_message(cmd)

    def ready(self) -> None:
        held, self._held = self._held or [], None
        for cmd in held:
            self._on_message(cmd)

    def send(self, msg: RobotMessage) -> None:
        # A heartbeat has no MQTT channel: the broker's keepalive does its job.
        with contextlib.suppress(LocalProtocolError):
            self.publish(publication_for(msg))  # type: ignore[arg-type]

    def send_telemetry(self, msg: Telemetry) -> None:
        self.publish(publication_for(msg))


class MqttTransport:
    """Connects each robot to the broker of ``[mqtt] url`` on its own client."""

    name = "mqtt"

    def __init__(self, host: str, port: int, *, connect_timeout_s: float = 5.0) -> None:
        self.host, self.port = host, port
        self.connect_timeout_s = connect_timeout_s
        self._links: set[BrokerLink] = set()

    @classmethod
    def from_settings(cls, settings: Settings, host: str) -> MqttTransport:
        return cls(*broker_address(settings))

    async def start(self) -> None:
        pass

    async def connect(self, identity: RobotIdentity, on_message: MessageHandler) -> MqttLink:
        return await self.open(lambda: MqttLink(identity, on_message, self.host, self.port))

    async def open(self, make: Callable[[], L]) -> L:
        """Start a link and wait until it is connected, greeted and subscribed."""
        self._prune()
        link = make()
        link.start()
        self._links.add(link)
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await asyncio.shield(link.opened)
        except BaseException:
            link.close()
            await link.wait_closed()
            raise
        return link

    def _prune(self) -> None:
        """Forget links whose connection task ended (surfacing a crash, if any)."""
        for link in [lk for lk in self._links if lk.task is not None and lk.task.done()]:
            self._links.discard(link)
            task = link.task
            assert task is not None
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "robot_mqtt_task_failed", client_id=link.client_id, error=repr(task.exception())
                )

    async def aclose(self) -> None:
        links, self._links = list(self._links), set()
        for link in links:
            link.close()
        await asyncio.gather(*(link.wait_closed() for link in links))
