"""The vda5050 transport: each simulated robot is a VDA 5050 AGV on its own MQTT connection.

A VDA 5050 AGV is driven by orders, not by our v1 commands, so its behaviour is
``simulator.vda_model.VdaAgv`` (kept per robot across reconnects, so an order
survives a broker restart), and the ``SimRobot`` around it only provides the
clock: each ``send_telemetry`` call (``--hz`` a second) advances the AGV,
publishes ``visualization``, and ``state`` when something changed or
``state_interval_s`` passed. The v1 messages the robot's own model produces are
not sent: the gateway maps VDA ``state`` onto our states itself.

On the wire (section 6.14): the last will is a retained ``connection``
CONNECTIONBROKEN; after connecting the AGV subscribes to its ``order`` and
``instantActions``, then publishes a retained ONLINE and its retained
``factsheet`` (so an order the gateway resends on ONLINE reaches it), and says
OFFLINE before an orderly disconnect. Robots need ``vda = {manufacturer,
serial}`` in the config; each starts parked on a dock (or the pass), which is
its first ``lastNodeId``. Each speaks the version of its ``vda.version`` (2.1.0
when not set): 2.0.0 and 1.1.0 go through their dialects (``uagv/v1/...`` and no
factsheet for 1.1), and an order or instant action in another version is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from config import Settings
from protocol.errors import RemoteProtocolError
from protocol.messages import RobotMessage, Telemetry
from protocol.mqtt_topics import Publication, Subscription
from protocol.vda5050 import (
    MASTER_PUBLISHES,
    SPOKEN,
    VERSION,
    AgvId,
    ConnectionState,
    Header,
    HeaderCounter,
    InstantActions,
    Order,
    Subtopic,
    VdaMessage,
    VdaTopic,
    agv_subscriptions,
    connection_last_will,
    connection_message,
    decode_for_topic,
    dialect_for,
    publication,
)
from simulator.floorplan import FloorPlan
from simulator.transport import LinkError, MessageHandler, RobotIdentity
from simulator.transport_mqtt import BrokerLink, MqttTransport, broker_address
from simulator.vda_model import VdaAgv, factsheet

__all__ = ["VdaLink", "VdaTransport"]

log = structlog.get_logger("simulator.vda5050")


class VdaLink(BrokerLink):
    heartbeat_s = None

    def __init__(
        self,
        transport: VdaTransport,
        agv: AgvId,
        model: VdaAgv,
        host: str,
        port: int,
        version: str = VERSION,
    ) -> None:
        self.transport = transport
        self.agv = agv
        self.model = model
        self.version = version
        dialect = dialect_for(version)
        if dialect is None:
            raise LinkError(f"VDA 5050 {version} is not a version we speak ({SPOKEN})")
        self.dialect = dialect
        self._last_state = 0.0
        will = connection_last_will(
            self._header(Subtopic.CONNECTION), interface=transport.interface
        )
        super().__init__(host, port, f"agv-{agv.manufacturer}-{agv.serial_number}"[:64], will=will)
        self.bad_messages = 0

    def _header(self, subtopic: Subtopic) -> Header:
        return self.transport.headers.header(self.agv, subtopic, time.time(), version=self.version)

    def _pub(self, msg: VdaMessage) -> Publication:
        return publication(msg, interface=self.transport.interface)

    def _connection(self, state: ConnectionState) -> Publication:
        return self._pub(connection_message(self._header(Subtopic.CONNECTION), state))

    # ---- BrokerLink ----------------------------------------------------------------

    def subscriptions(self) -> tuple[Subscription, ...]:
        return agv_subscriptions(self.agv, self.transport.interface, self.dialect.major)

    def greeting(self) -> list[Publication]:
        self.model.tick(self.transport.clock())
        hello = [self._connection(ConnectionState.ONLINE)]
        if Subtopic.FACTSHEET in self.dialect.subtopics:  # 2.0 and later
            hello.append(
                self._pub(factsheet(self._header(Subtopic.FACTSHEET), speed=self.model.speed))
            )
        return [*hello, self._state()]

    def goodbye(self) -> Publication:
        return self._connection(ConnectionState.OFFLINE)

    def received(self, topic: str, payload: bytes) -> None:
        try:
            parsed = VdaTopic.parse(
                topic, accept=MASTER_PUBLISHES, interface=self.transport.interface
            )
            msg = decode_for_topic(parsed, payload, version=self.version)
        except RemoteProtocolError as exc:
            self.bad_messages += 1
            log.warning("master_message_rejected", agv=self.agv.serial_number, error=exc.message)
            return
        self.model.tick(self.transport.clock())
        if isinstance(msg, Order):
            self.model.on_order(msg)
        elif isinstance(msg, InstantActions):
            self.model.on_instant_actions(msg)
        self.publish(self._state())  # on every relevant event (6.10)

    # ---- simulator Link --------------------------------------------------------------

    def ready(self) -> None:
        pass

    def send(self, msg: RobotMessage) -> None:
        pass  # the v1 robot model's messages: a VDA AGV reports `state` instead

    def send_telemetry(self, msg: Telemetry) -> None:
        now = self.transport.clock()
        self.model.tick(now)
        if self.model.changed or now - self._last_state >= self.transport.state_interval_s:
            self.publish(self._state())
        self.publish(self._pub(self.model.visualization(self._header(Subtopic.VISUALIZATION))))

    def _state(self) -> Publication:
        self._last_state = self.transport.clock()
        return self._pub(self.model.state(self._header(Subtopic.STATE)))


class VdaTransport:
    name = "vda5050"

    def __init__(
        self,
        settings: Settings,
        host: str,
        port: int,
        *,
        speed: float = 0.7,
        state_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.interface = settings.vda5050.interface
        self.speed = speed
        self.state_interval_s = state_interval_s
        self.clock = clock
        self.headers = HeaderCounter()  # the AGVs' own headerIds, kept across reconnects
        self.models: dict[str, VdaAgv] = {}
        self._mqtt = MqttTransport(host, port)
        self._floor = FloorPlan(settings.floor)
        vda = [r for r in settings.robots if r.vda is not None]
        self._agvs = {r.id: AgvId(r.vda.manufacturer, r.vda.serial) for r in vda if r.vda}
        self._versions = {r.id: r.vda.version or VERSION for r in vda if r.vda}
        parking = list(self._floor.docks) or [self._floor.kitchen_pass]
        self._parking = {r.id: parking[i % len(parking)] for i, r in enumerate(vda)}

    @classmethod
    def from_settings(cls, settings: Settings, host: str) -> VdaTransport:
        return cls(settings, *broker_address(settings))

    async def start(self) -> None:
        pass

    def model(self, robot: str) -> VdaAgv:
        agv = self._agvs.get(robot)
        if agv is None:
            raise LinkError(f"robot {robot!r} has no vda = {{manufacturer, serial}} in the config")
        model = self.models.get(robot)
        if model is None:
            spot = self._parking[robot]
            model = self.models[robot] = VdaAgv(
                agv,
                spot.name,
                spot.x,
                spot.y,
                self.clock(),
                map_id=self.settings.vda5050.map_id,
                speed=self.speed,
            )
        return model

    async def connect(self, identity: RobotIdentity, on_message: MessageHandler) -> VdaLink:
        model = self.model(identity.robot)
        host, port = self._mqtt.host, self._mqtt.port
        version = self._versions[identity.robot]
        return await self._mqtt.open(lambda: VdaLink(self, model.agv, model, host, port, version))

    async def aclose(self) -> None:
        await self._mqtt.aclose()
