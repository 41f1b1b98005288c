"""The gateway as VDA 5050 master control: ``uagv/v2/...`` topics <-> one ``AgvControl`` per AGV.

A ``Router`` of the gateway's MQTT client (gateway.transports.mqtt). Each AGV
configured with ``vda = {manufacturer, serial}`` is presented to the fleet as a
session whose ``VdaLink`` turns commands into orders and instant actions.

What arrives, in order of checks (each failure is a counted drop, and for an
AGV we know a rate-limited ``message_rejected`` event; docs/vda5050.md):

1. the topic parses (``VdaTopic.parse``) and names an AGV we know;
2. the payload decodes as the topic's message and its header names the topic's
   AGV (``decode_for_topic``);
3. ``state``/``visualization`` headerIds rise (a stale one is dropped); the
   counters start again when the AGV publishes ``connection`` ONLINE. Retained
   messages and ``connection`` are exempt: a last will is stale by design.

Presence follows ``connection`` (6.14): ONLINE is ``Fleet.connected``, OFFLINE
and CONNECTIONBROKEN ``Fleet.disconnected``. It is retained, so a restarted
gateway learns at once which AGVs are online. An AGV whose session lives but
whose ``state`` stops goes ``stale`` after ``vda5050.stale_after_s``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from config import Settings
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from gateway.transports.mqtt import Outbox, Rejections
from gateway.transports.mqtt_robots import presence_hello
from gateway.vda5050.agv import AgvControl
from gateway.vda5050.graph import FloorGraph
from protocol.errors import RemoteProtocolError
from protocol.kinds import ErrorCode
from protocol.messages import Command, GatewayMessage, RobotMessage
from protocol.mqtt_topics import Presence, Subscription
from protocol.vda5050 import (
    UINT32_MAX,
    AgvId,
    Connection,
    Factsheet,
    HeaderCounter,
    InstantActions,
    Order,
    Subtopic,
    VdaTopic,
    Visualization,
    decode_for_topic,
    master_subscriptions,
    presence_of,
    publication,
)
from protocol.vda5050 import State as VdaState

__all__ = ["MasterControl", "VdaLink"]

_HEADER_CHECKED = frozenset({Subtopic.STATE, Subtopic.VISUALIZATION})


class VdaLink:
    """The fleet's handle on one AGV. Sending a command publishes orders or instant actions."""

    transport = "vda5050"

    def __init__(self, master: MasterControl, agv: AgvControl) -> None:
        self._master = master
        self.agv = agv
        # (stale, offline) for Fleet.tick: offline comes from the connection topic only.
        self.silence_limits: tuple[float, float] | None = (
            master.settings.vda5050.stale_after_s,
            math.inf,
        )
        self.closed = False

    def send(self, msg: GatewayMessage) -> None:
        if isinstance(msg, Command):
            self._master.command(self.agv, msg)
        else:  # VDA 5050 has no channel for our `error` replies; the fleet records them
            self._master.stats.inc("vda_unsent", type(msg).__name__.lower())

    def close(self, code: ErrorCode, reason: str) -> None:
        self.closed = True


class MasterControl:
    def __init__(self, settings: Settings, fleet: Fleet, outbox: Outbox, stats: Stats, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.fleet = fleet
        self.outbox = outbox
        self.stats = stats
        self.clock = clock
        self.interface = settings.vda5050.interface
        self.graph = FloorGraph.from_floor(settings.floor)
        self.headers = HeaderCounter()
        self.agvs: dict[AgvId, AgvControl] = {}
        self.links: dict[str, VdaLink] = {}
        self._last_header: dict[tuple[AgvId, Subtopic], int] = {}
        self._to_fleet: list[tuple[str, RobotMessage]] = []
        self._flush_scheduled = False
        self.reject = Rejections("vda_dropped", stats, fleet.writer)
        c = settings.commands
        for r in settings.robots:
            if r.vda is None:
                continue
            agv = AgvId(r.vda.manufacturer, r.vda.serial)
            self.agvs[agv] = AgvControl(
                r.id, agv, self.graph, settings.vda5050, self.headers,
                publish=self.publish, report=self._reporter(r.id),
                current=self._current(r.id), abandon_after_s=c.ack_timeout_s * c.max_attempts + 1,
            )

    def _reporter(self, robot: str) -> Callable[[RobotMessage], None]:
        def report(msg: RobotMessage) -> None:
            self._to_fleet.append((robot, msg))
        return report

    def _current(self, robot: str) -> Callable[[], str | None]:
        return lambda: self.fleet.sessions[robot].state

    # ---- Router ---------------------------------------------------------------------

    def subscriptions(self) -> tuple[Subscription, ...]:
        return master_subscriptions(self.interface)

    def owns(self, topic: str) -> bool:
        return topic.startswith(self.interface + "/")

    def handle(self, topic: str, payload: bytes, retained: bool, now: float) -> None:
        try:
            parsed = VdaTopic.parse(topic, interface=self.interface)
        except RemoteProtocolError as exc:
            self.reject(str(exc.code), topic, exc.message, now)
            return
        agv = self.agvs.get(parsed.agv)
        if agv is None:
            self.reject("unknown_agv", topic,
                        f"no robot has vda = {parsed.agv.manufacturer}/{parsed.agv.serial_number}",
                        now)
            return
        try:
            msg: Any = decode_for_topic(parsed, payload)
        except RemoteProtocolError as exc:
            self.reject(str(exc.code), topic, exc.message, now, robot=agv.robot)
            return
        sub = parsed.subtopic
        checked = sub in _HEADER_CHECKED and not retained and msg.header_id is not None
        if checked and self._stale(parsed.agv, sub, msg.header_id):
            self.reject("stale_header", topic, f"headerId {msg.header_id} is not new", now,
                        robot=agv.robot)
            return
        if isinstance(msg, Connection):
            self._connection(agv, msg, retained, now)
        elif isinstance(msg, VdaState):
            self._attach(agv, now)  # it is talking, so it is here (e.g. no retained ONLINE)
            agv.on_state(msg, now)
        elif isinstance(msg, Visualization):
            self._attach(agv, now)
            agv.on_visualization(msg, now)
        elif isinstance(msg, Factsheet):
            agv.factsheet = msg
        self.flush()

    def tick(self, now: float) -> None:
        for agv in self.agvs.values():
            agv.tick(now)
        self.flush()

    # ---- presence ---------------------------------------------------------------------

    def _connection(self, agv: AgvControl, msg: Connection, retained: bool, now: float) -> None:
        update = presence_of(msg)
        if update.presence is Presence.ONLINE:
            if not retained:  # a new MQTT session of the AGV: its headerIds may start again
                for sub in _HEADER_CHECKED:
                    self._last_header.pop((agv.agv, sub), None)
            self._attach(agv, now)
        else:
            link = self.links.pop(agv.robot, None)
            if link is not None:
                link.closed = True
                self.fleet.disconnected(agv.robot, link, now, update.reason or "offline")


    def _attach(self, agv: AgvControl, now: float) -> None:
        session = self.fleet.sessions[agv.robot]
        link = self.links.get(agv.robot)
        if link is not None and not link.closed and session.link is link:
            return  # attached already: the AGV reconnected, or ONLINE was replayed to us
        link = self.links[agv.robot] = VdaLink(self, agv)
        firmware = f"vda5050 {agv.agv.manufacturer}"[:64]
        self.fleet.connected(presence_hello(agv.robot, session.kind, firmware), link, now)
        agv.attached()
        self.fleet.resume(agv.robot, now)

    def _stale(self, agv: AgvId, sub: Subtopic, header_id: int) -> bool:
        last = self._last_header.get((agv, sub))
        if last is not None and header_id <= last and last - header_id < UINT32_MAX // 2:
            return True  # (a jump back by more than half the range is the uint32 wrap)
        self._last_header[agv, sub] = header_id
        return False

    # ---- out ----------------------------------------------------------------------------

    def publish(self, msg: Order | InstantActions) -> None:
        self.stats.inc("vda_published", "order" if isinstance(msg, Order) else "instantActions")
        self.outbox.put(publication(msg, interface=self.interface))

    def command(self, agv: AgvControl, cmd: Command) -> None:
        """From ``VdaLink.send``, i.e. from inside ``CommandRouter.submit``: acks go out
        after it returns, so the command's ``sent`` event precedes its outcome."""
        agv.on_command(cmd, self.clock())
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        now = self.clock()
        while self._to_fleet:
            batch, self._to_fleet = self._to_fleet, []
            for robot, msg in batch:
                self.fleet.received(robot, msg, now)
