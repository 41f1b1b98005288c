"""The gateway as VDA 5050 master control: ``uagv/...`` topics <-> one ``AgvControl`` per AGV.

A ``Router`` of the gateway's MQTT client (gateway.transports.mqtt). Each AGV
configured with ``vda = {manufacturer, serial}`` (in the config file, or added
through the API: ``registry_changed``) is presented to the fleet as a session
whose ``VdaLink`` turns commands into orders and instant actions.

What arrives, in order of checks (each failure is a counted drop, and for an
AGV we know a rate-limited ``message_rejected`` event; docs/vda5050.md):

1. the topic parses (``VdaTopic.parse``, any major version) and names an AGV we know;
2. its header's ``version`` is one we speak (and the one the config pins, if it
   does): if not, the message is dropped as ``unsupported_version``, the AGV gets
   an alarm and ``error``, and every command to it is refused, never silence.
   An AGV that changes its version line is a new session (detached, attached);
3. the payload decodes in that version as the topic's message and its header
   names the topic's AGV (``decode_for_topic``);
4. ``state``/``visualization`` headerIds rise (a stale one is dropped); the
   counters start again when the AGV publishes ``connection`` ONLINE. Retained
   messages and ``connection`` are exempt: a last will is stale by design.

Presence follows ``connection`` (6.14): ONLINE is ``Fleet.connected``, OFFLINE
and CONNECTIONBROKEN ``Fleet.disconnected``. It is retained, so a restarted
gateway learns at once which AGVs are online. An AGV whose session lives but
whose ``state`` stops goes ``stale`` after ``vda5050.stale_after_s``.

With ``[cluster]`` the gateway subscribes only to the topics of the AGVs it
holds, and hears of the others through a shared subscription to their
``connection`` topics (gateway/cluster/claims.py); what still arrives of an
AGV it does not hold is dropped and counted (``not_held``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from config import Settings
from config.settings import RobotConfig
from gateway.cluster.claims import Claims, shared
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from gateway.transports.mqtt import Outbox, Rejections
from gateway.transports.mqtt_robots import presence_hello
from gateway.vda5050.agv import AgvControl
from gateway.vda5050.graph import FloorGraph
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.messages import Command, GatewayMessage, RobotMessage
from protocol.mqtt_topics import Presence, Subscription
from protocol.streams import EventType, Level
from protocol.vda5050 import (
    AGV_PUBLISHES,
    SPOKEN,
    UINT32_MAX,
    AgvId,
    Connection,
    ConnectionState,
    Factsheet,
    HeaderCounter,
    InstantActions,
    Order,
    Subtopic,
    VdaTopic,
    Visualization,
    connection_state_of,
    decode_for_topic,
    default_for_major,
    dialect_for,
    header_version,
    line_of,
    master_subscriptions,
    presence_of,
    publication,
)
from protocol.vda5050 import DELIVERY as VDA_DELIVERY
from protocol.vda5050 import State as VdaState
from protocol.vocabulary import ErrorCode

__all__ = ["MasterControl", "VdaLink"]

log = structlog.get_logger("gateway.vda5050")

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
    def __init__(
        self,
        settings: Settings,
        fleet: Fleet,
        outbox: Outbox,
        stats: Stats,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
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
        self._ids: dict[str, AgvId] = {}  # robot -> its AGV, for [cluster] subscriptions
        for r in fleet.robots():
            self._add(r)
        fleet.on_registry.append(self.registry_changed)

        self.claims: Claims | None = None
        if fleet.leases is not None:
            self.claims = Claims(
                fleet.leases,
                list(self._ids),
                self._agv_filters,
                [
                    shared(s)
                    for s in master_subscriptions(self.interface)
                    if s.topic_filter.endswith("/" + Subtopic.CONNECTION.value)
                ],
                [
                    s
                    for s in master_subscriptions(self.interface)
                    if s.topic_filter.endswith("/" + Subtopic.STATE.value)
                ],
                lambda topic, payload, now: self.handle(topic, payload, False, now),
                sweep_s=settings.cluster.lease_ttl_s,
            )
            fleet.on_moved.append(self.claims.released)

    def _add(self, r: RobotConfig) -> None:
        if r.vda is None:
            return
        c = self.settings.commands
        agv = self._ids[r.id] = AgvId(r.vda.manufacturer, r.vda.serial)
        self.agvs[agv] = AgvControl(
            r.id,
            agv,
            self.graph,
            self.settings.vda5050,
            self.headers,
            publish=self.publish,
            report=self._reporter(r.id),
            current=self._current(r.id),
            abandon_after_s=c.ack_timeout_s * c.max_attempts + 1,
            version=r.vda.version,
        )

    def registry_changed(self, robot: str, config: RobotConfig | None) -> None:
        """A robot of rd:registry added, changed or removed: its AGV is served (or no longer)
        as a configured one is. A changed identity or version pin is a new AgvControl; the
        fleet has ended the old session already. With [cluster], the claims learn it
        (``Claims.add``; its own filters come from ``_ids``) or forget it before its AGV
        identity goes (``Claims.remove`` unsubscribes with the old one)."""
        for agv_id, agv in list(self.agvs.items()):
            if agv.robot != robot:
                continue
            same = (
                config is not None
                and config.vda is not None
                and (
                    agv_id == AgvId(config.vda.manufacturer, config.vda.serial)
                    and agv.pinned == config.vda.version
                )
            )
            if same:
                return
            if self.claims is not None:
                self.claims.remove(robot)
            del self.agvs[agv_id]
            self._ids.pop(robot, None)
            self.links.pop(robot, None)
            for sub in _HEADER_CHECKED:
                self._last_header.pop((agv_id, sub), None)
        if config is not None:
            self._add(config)
            if self.claims is not None and robot in self._ids:
                self.claims.add(robot)

    def _agv_filters(self, robot: str) -> tuple[Subscription, ...]:
        """[cluster] What to subscribe to for one AGV we hold: master_subscriptions, its own."""
        agv = self._ids[robot]
        return tuple(  # every major version (+), as master_subscriptions; state: every AGV's
            Subscription(
                f"{self.interface}/+/{agv.manufacturer}/{agv.serial_number}/{sub.value}",
                VDA_DELIVERY[sub].qos,
            )
            for sub in sorted(AGV_PUBLISHES - {Subtopic.STATE})
        )

    def _reporter(self, robot: str) -> Callable[[RobotMessage], None]:
        def report(msg: RobotMessage) -> None:
            self._to_fleet.append((robot, msg))

        return report

    def _current(self, robot: str) -> Callable[[], str | None]:
        return lambda: self.fleet.sessions[robot].state

    # ---- Router ---------------------------------------------------------------------

    def subscriptions(self) -> Sequence[Subscription]:
        if self.claims is not None:
            return self.claims.subscriptions()
        return master_subscriptions(self.interface)

    def owns(self, topic: str) -> bool:
        return topic.startswith(self.interface + "/")

    def handle(self, topic: str, payload: bytes, retained: bool, now: float) -> None:
        try:
            parsed = VdaTopic.parse(topic, interface=self.interface, majors=None)
        except RemoteProtocolError as exc:
            self.reject(str(exc.code), topic, exc.message, now)
            return
        agv = self.agvs.get(parsed.agv)
        if agv is None:
            self.reject(
                "unknown_agv",
                topic,
                f"no robot has vda = {parsed.agv.manufacturer}/{parsed.agv.serial_number}",
                now,
            )
            return
        if self.claims is not None and agv.robot not in self.claims.held:
            online = (
                parsed.subtopic is Subtopic.CONNECTION
                and not retained
                and connection_state_of(payload) is ConnectionState.ONLINE
            )
            if online:
                self.claims.announced(agv.robot, now)
            elif parsed.subtopic is Subtopic.STATE:
                self.claims.remember(agv.robot, topic, payload, now)
            else:
                self.stats.inc("vda_dropped", "not_held")
            return
        try:
            announced = header_version(payload, parsed.subtopic)
        except RemoteProtocolError as exc:
            self.reject(str(exc.code), topic, exc.message, now, robot=agv.robot)
            return
        version = announced or agv.version
        if version is None:  # a visualization without a header, before anything else
            fallback = default_for_major(parsed.major)
            version = fallback.version if fallback is not None else parsed.major
        why = self._cannot_speak(agv, version)
        if why is not None:
            self._unsupported(agv, parsed, payload, why, now)
            self.flush()
            return
        try:
            msg: Any = decode_for_topic(parsed, payload, version=version)
        except RemoteProtocolError as exc:
            self.reject(str(exc.code), topic, exc.message, now, robot=agv.robot)
            return
        if announced is not None:
            self._speak(agv, announced, now)
        sub = parsed.subtopic
        checked = sub in _HEADER_CHECKED and not retained and msg.header_id is not None
        if checked and self._stale(parsed.agv, sub, msg.header_id):
            self.reject(
                "stale_header", topic, f"headerId {msg.header_id} is not new", now, robot=agv.robot
            )
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

    # ---- versions -----------------------------------------------------------------------

    def _event(self, agv: AgvControl, name: str, level: Level, data: dict[str, Any]) -> None:
        """A robot event written at once: it may concern an AGV no session is attached for."""
        self.flush()  # what came before it goes first
        self.fleet.writer.event(
            EventType.ROBOT_EVENT, agv.robot, level=level, data={"name": name, "data": data}
        )

    def _cannot_speak(self, agv: AgvControl, version: str) -> str | None:
        """Why we cannot talk to ``agv`` announcing ``version``; None if we can."""
        if dialect_for(version) is None:
            return f"the AGV announces {version!r}; this gateway speaks VDA 5050 {SPOKEN}"
        if agv.pinned is not None and line_of(version) != line_of(agv.pinned):
            return f"the AGV announces {version!r}; its config pins vda.version = {agv.pinned!r}"
        return None

    def _unsupported(
        self, agv: AgvControl, topic: VdaTopic, payload: bytes, why: str, now: float
    ) -> None:
        """Dropped and counted; an alarm once per announcement; the AGV is ``error`` and refuses
        commands. Its presence still follows its messages (if their connection state reads)."""
        self.reject("unsupported_version", topic.value, why, now, robot=agv.robot)
        if agv.unsupported != why:
            self._event(
                agv,
                "unsupported_version",
                Level.ALARM,
                {"detail": why, "spoken": SPOKEN, "pinned": agv.pinned},
            )
        state = connection_state_of(payload) if topic.subtopic is Subtopic.CONNECTION else None
        if state is not None and state is not ConnectionState.ONLINE:
            self._detach(
                agv,
                now,
                "connection_broken"
                if state is ConnectionState.CONNECTIONBROKEN
                else "disconnected",
            )
            agv.refuse_version(why, now)
            return
        if topic.subtopic is not Subtopic.FACTSHEET:
            self._attach(agv, now)
        agv.refuse_version(why, now)

    def _speak(self, agv: AgvControl, version: str, now: float) -> None:
        """Talk to ``agv`` in ``version``; a change of line (or from one we could not speak)
        while attached ends the session and starts a new one."""
        was, unsupported = agv.version, agv.unsupported is not None
        agv.speak(version)
        if unsupported or (was is not None and line_of(was) != line_of(version)):
            link = self.links.get(agv.robot)
            if link is None or link.closed:
                return
            self._event(agv, "version_changed", Level.WARNING, {"from": was, "to": version})
            self._detach(agv, now, "version_changed")
            for sub in _HEADER_CHECKED:
                self._last_header.pop((agv.agv, sub), None)
            agv.new_session()
            self._attach(agv, now)

    def tick(self, now: float) -> None:
        if self.claims is not None:
            self.claims.tick(now)
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
            self._attach(agv, now, fresh=not retained)
        else:
            self._detach(agv, now, update.reason or "offline")

    def _detach(self, agv: AgvControl, now: float, reason: str) -> None:
        link = self.links.pop(agv.robot, None)
        if link is not None:
            link.closed = True
            self.fleet.disconnected(agv.robot, link, now, reason)

    def _attach(self, agv: AgvControl, now: float, *, fresh: bool = False) -> None:
        session = self.fleet.sessions[agv.robot]
        link = self.links.get(agv.robot)
        if link is not None and not link.closed and session.link is link:
            if fresh:  # the AGV reconnected (say the broker restarted): an order published
                self.fleet.resume(agv.robot, now)  # at QoS 0 meanwhile never reached it
            return  # attached already, or ONLINE was replayed to us
        link = self.links[agv.robot] = VdaLink(self, agv)
        firmware = f"vda5050 {agv.version or '?'} {agv.agv.manufacturer}"[:64]
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
        kind = "order" if isinstance(msg, Order) else "instantActions"
        try:
            pub = publication(msg, interface=self.interface)
        except LocalProtocolError as exc:  # a 2.1 feature the AGV's version cannot carry
            self.stats.inc("vda_unsent", kind)
            log.error(
                "vda_unsendable", agv=msg.serial_number, version=msg.version, error=exc.message
            )
            return
        self.stats.inc("vda_published", kind)
        self.outbox.put(pub)

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
