"""robodine/v1 robots over MQTT: topics -> ``protocol.mqtt_topics`` -> fleet, commands back.

docs/mqtt.md is the contract. The broker authenticates a robot (its login) and
its ACL lets it publish only under its own id; the gateway checks what the ACL
cannot: the payload's ``robot`` is the topic's (``InboundDecoder``), and the
robot is registered with ``transport = "mqtt"``. Presence drives the
connection state machine like a TCP hello and close do: a retained ``online``
is ``Fleet.connected`` (then ``resume``: pending commands go out again),
``offline`` (the robot's goodbye or its last will) is ``Fleet.disconnected``.

Telemetry, most of what arrives, takes a batch path (``handle_run``): a run
of QoS 0 messages from one socket read is checked message by message (topic
of a registered MQTT robot, the payload decodes as telemetry of the topic's
robot, protocol version, an attached session) and handed to the fleet in one
call. The first message that fails any check, or is anything else, stops the
batch and goes to ``handle``, the path every message took before, which
decodes it again to say what is wrong; so a bad message costs more than a
good one, and the checks and errors are ``handle``'s.

With ``[cluster]`` the gateway subscribes only to the topics of the robots it
holds, and hears of the others through a shared subscription to their
presence (gateway/cluster/claims.py); what still arrives of a robot it does
not hold is dropped and counted (``not_held``).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from config import Settings
from config.settings import RobotConfig
from gateway.cluster.claims import Claims, shared
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from gateway.transports.mqtt import Outbox, Rejections
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.messages import Command, GatewayMessage, Hello, Telemetry
from protocol.mqtt_topics import (
    DELIVERY,
    ROBOT_CHANNELS,
    TOPIC_ROOT,
    Channel,
    InboundDecoder,
    Presence,
    RobotTopic,
    Subscription,
    gateway_subscriptions,
    publication_for,
)
from protocol.mqtt_wire import Publish
from protocol.vocabulary import PROTOCOL_VERSION, ErrorCode

__all__ = ["MqttLink", "RobotRouter", "presence_hello"]

_MAX_REMEMBERED_TOPICS = 20_000  # subscribed channels of registered robots only
_ECHO_S = 0.5  # [cluster] the same presence twice within this: one message, two subscriptions
_NO_PROOF = "0" * 64  # the broker login replaced the handshake: nothing to prove


def presence_hello(robot: str, kind: str, firmware: str = "") -> Hello:
    """What ``Fleet.connected`` takes; for MQTT the broker did the authentication."""
    return Hello(
        robot=robot,
        kind=kind,  # type: ignore[arg-type]
        cnonce=_NO_PROOF[:32],
        proof=_NO_PROOF,
        firmware=firmware,
    )


class MqttLink:
    """The fleet's handle on one MQTT robot: commands go to its command topic, QoS 1."""

    transport = "mqtt"
    silence_limits: tuple[float, float] | None = None

    def __init__(self, robot: str, outbox: Outbox, stats: Stats) -> None:
        self.robot = robot
        self._outbox = outbox
        self._stats = stats
        self._seq = 0
        self.closed = False
        self.close_reason = ""

    def send(self, msg: GatewayMessage) -> None:
        if not isinstance(msg, Command):
            # v1 over MQTT has no error channel: the gateway's `error` replies
            # (e.g. illegal_transition) are recorded as events, not sent.
            self._stats.inc("mqtt_unsent", type(msg).__name__.lower())
            return
        self._seq += 1
        try:
            pub = publication_for(msgspec.structs.replace(msg, robot=self.robot, seq=self._seq))
        except LocalProtocolError:
            self._stats.inc("mqtt_unsent", "bad_command")
            return
        self._outbox.put(pub)

    def close(self, code: ErrorCode, reason: str) -> None:
        """The fleet let go of this robot (silent, or replaced): the broker keeps its session."""
        self.closed = True
        self.close_reason = f"{code}: {reason}"


class RobotRouter:
    """Owns ``robodine/v1/robots/...``."""

    def __init__(self, settings: Settings, fleet: Fleet, outbox: Outbox, stats: Stats) -> None:
        self.fleet = fleet
        self.outbox = outbox
        self.stats = stats
        self.decoder = InboundDecoder(settings.mqtt.max_payload_bytes)
        self.transports = {r.id: r.transport for r in fleet.robots()}
        self.links: dict[str, MqttLink] = {}
        self._robots: dict[str, str] = {}  # topic -> its registered MQTT robot
        self._telemetry_topics = {  # for handle_run: the telemetry topic of each MQTT robot
            RobotTopic(robot, Channel.TELEMETRY).value: robot
            for robot, transport in self.transports.items()
            if transport == "mqtt"
        }
        self.run_end = 0  # handle_run: where the batch it is applying ends
        self.reject = Rejections("mqtt_dropped", stats, fleet.writer)
        self.claims: Claims | None = None
        self._presence: dict[str, tuple[bytes, float]] = {}  # robot -> last presence, when
        if fleet.leases is not None:
            self.claims = Claims(
                fleet.leases,
                [r for r, t in self.transports.items() if t == "mqtt"],
                robot_channels,
                [
                    shared(
                        Subscription(
                            f"{TOPIC_ROOT}/+/{Channel.PRESENCE.value}",
                            DELIVERY[Channel.PRESENCE].qos,
                        )
                    )
                ],
                [
                    Subscription(
                        f"{TOPIC_ROOT}/+/{Channel.STATE.value}", DELIVERY[Channel.STATE].qos
                    )
                ],
                lambda topic, payload, now: self.handle(topic, payload, False, now),
                sweep_s=settings.cluster.lease_ttl_s,
            )
            fleet.on_moved.append(self.claims.released)

        fleet.on_registry.append(self.registry_changed)

    def registry_changed(self, robot: str, config: RobotConfig | None) -> None:
        """A robot of rd:registry added, changed or removed: serve it (or no longer) as a
        config robot of that transport is served. Its link, if any, is the fleet's to end."""
        self._robots = {t: r for t, r in self._robots.items() if r != robot}
        telemetry = RobotTopic(robot, Channel.TELEMETRY).value
        self._telemetry_topics.pop(telemetry, None)
        if self.claims is not None and (config is None or config.transport != "mqtt"):
            self.claims.remove(robot)
        if config is None:
            self.transports.pop(robot, None)
            self.links.pop(robot, None)
            return
        self.transports[robot] = config.transport
        if config.transport == "mqtt":
            self._telemetry_topics[telemetry] = robot
            if self.claims is not None:
                self.claims.add(robot)

    def subscriptions(self) -> Sequence[Subscription]:
        if self.claims is not None:
            return self.claims.subscriptions()
        return gateway_subscriptions()

    def owns(self, topic: str) -> bool:
        return topic.startswith(TOPIC_ROOT + "/")

    def tick(self, now: float) -> None:
        if self.claims is not None:
            self.claims.tick(now)

    def handle(self, topic: str, payload: bytes, retained: bool, now: float) -> None:
        robot = self._robots.get(topic) or self._admit(topic, now)
        if robot is None:
            return
        if self.claims is not None and not self._ours(robot, topic, payload, retained, now):
            return
        try:
            msg = self.decoder.message(topic, payload)
        except RemoteProtocolError as exc:
            self.reject(str(exc.code), topic, exc.message, now, robot=robot)
            return
        if isinstance(msg, Presence):
            if msg is Presence.ONLINE:
                self._attach(robot, now, replayed=retained)
            else:
                self._detach(robot, now, "retained offline" if retained else "offline")
            return
        session = self.fleet.sessions[robot]
        if session.link is None:  # talking without a presence we saw: it is here
            self._attach(robot, now)
        self.fleet.received(robot, msg, now)

    def handle_run(self, run: Sequence[Publish], start: int, now: float) -> int:
        """The telemetry from ``run[start]`` on that passes every check, to the fleet in
        one call; returns the index of the first message that did not (``handle``'s).

        ``run_end`` is where the batch ends while the fleet applies it: if that raises,
        the caller counts the batch as failed and goes on from there. Before, it is
        ``start + 1``: only the first message counts as failed, the rest are tried again.
        """
        self.run_end = start + 1
        robots = self._telemetry_topics
        sessions = self.fleet.sessions
        decode = self.decoder.decode_unchecked
        max_size = self.decoder.max_size
        batch = []
        i, n = start, len(run)
        while i < n:
            topic, payload, _ = run[i]
            robot = robots.get(topic)
            if robot is None or len(payload) > max_size:
                break
            try:
                msg = decode(payload)
            except msgspec.DecodeError:  # ValidationError too; handle says which
                break
            session = sessions.get(robot)
            if (
                type(msg) is not Telemetry
                or msg.robot != robot
                or msg.v != PROTOCOL_VERSION
                or session is None
                or session.link is None  # handle attaches it
                or session.transport != "mqtt"  # on a TCP link as well: handle records that
            ):
                break
            batch.append((session, msg))
            i += 1
        self.run_end = i
        if batch:
            self.fleet.telemetry_run(batch, now, "mqtt")
        return i

    def _ours(self, robot: str, topic: str, payload: bytes, retained: bool, now: float) -> bool:
        """[cluster] Whether to handle the message: a robot we hold, said once. A presence
        of another robot announces it (we may take it); the rest is not for us."""
        assert self.claims is not None
        presence = topic.endswith("/" + Channel.PRESENCE.value)
        if robot not in self.claims.held:
            if presence and not retained and payload.strip() == Presence.ONLINE.value.encode():
                self.claims.announced(robot, now)
            elif topic.endswith("/" + Channel.STATE.value):
                self.claims.remember(robot, topic, payload, now)
            else:
                self.stats.inc("mqtt_dropped", "not_held")
            return False
        if presence and not retained:  # ours through both subscriptions, maybe
            last = self._presence.get(robot)
            self._presence[robot] = (payload, now)
            if last is not None and last[0] == payload and now - last[1] < _ECHO_S:
                return False
        return True

    def _admit(self, topic: str, now: float) -> str | None:
        """The robot a topic not seen before speaks for, if it is ours on MQTT (remembered:
        a few topics per registered robot); None when refused."""
        robot = topic[len(TOPIC_ROOT) + 1 :].split("/", 1)[0]
        transport = self.transports.get(robot)
        if transport is None:
            self.reject("unknown_robot", topic, f"no robot {robot!r} is registered", now)
            return None
        if transport != "mqtt":
            self.reject(
                "wrong_transport",
                topic,
                f"robot {robot!r} is registered with transport {transport!r}",
                now,
            )
            return None
        if len(self._robots) < _MAX_REMEMBERED_TOPICS:
            self._robots[topic] = robot
        return robot

    def _attach(self, robot: str, now: float, *, replayed: bool = False) -> None:
        """A fresh ``online`` is a (re)connected robot: a new session, like a TCP hello.
        A retained one replayed to us (after our own reconnect) changes nothing."""
        session = self.fleet.sessions[robot]
        link = self.links.get(robot)
        attached = link is not None and not link.closed and session.link is link
        if attached and replayed:
            return
        if link is None or not attached:
            link = self.links[robot] = MqttLink(robot, self.outbox, self.stats)
        self.fleet.connected(presence_hello(robot, session.kind), link, now)
        self.fleet.resume(robot, now)

    def _detach(self, robot: str, now: float, reason: str) -> None:
        link = self.links.pop(robot, None)
        if link is not None:
            link.closed = True
            self.fleet.disconnected(robot, link, now, reason)


def robot_channels(robot: str) -> tuple[Subscription, ...]:
    """[cluster] The gateway's subscriptions for one robot it holds (``state`` is every
    robot's, gateway/cluster/claims.py)."""
    return tuple(
        Subscription(RobotTopic(robot, ch).value, DELIVERY[ch].qos)
        for ch in sorted(ROBOT_CHANNELS - {Channel.STATE})
    )
