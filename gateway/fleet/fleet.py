"""The fleet: every robot's session, and what happens when a robot speaks or goes quiet.

Transports call in with what they received; the fleet applies it to the
robot's state machines and tells the stream writer what happened. Nothing
here awaits: a transport callback, a datagram or a tick is handled in one go.
Time comes in as ``now`` (wall clock seconds), so tests drive it directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence

import structlog

from config import Settings
from config.settings import RobotConfig
from gateway.cameras.hub import Cameras, DiscardFrames, FrameSink
from gateway.cluster.leases import Leases
from gateway.fleet.commands import CommandRouter
from gateway.fleet.dispatcher import Dispatcher
from gateway.fleet.port import FleetOutput
from gateway.fleet.registry import RegistryError, robot_from_entry
from gateway.fleet.session import Link, RobotSession
from gateway.fleet.states import (
    ConnInput,
    ConnState,
    IllegalTransition,
    apply_connection,
    apply_reported,
)
from gateway.metrics import Stats
from protocol.acks import Pending
from protocol.auth import demo_key
from protocol.errors import RemoteProtocolError
from protocol.messages import (
    Ack,
    Camera,
    Error,
    Event,
    Heartbeat,
    Hello,
    RobotMessage,
    State,
    Telemetry,
)
from protocol.ratelimit import TokenBucket
from protocol.streams import EventType, Level
from protocol.udp import DatagramDecoder, Dropped
from protocol.vocabulary import ErrorCode

log = structlog.get_logger("gateway.fleet")

_ALARM_STATES = frozenset({"error", "estop"})
DROP_LOG_EVERY_S = 10.0  # dropped datagrams: counted each, logged at most this often


class Fleet:
    def __init__(
        self,
        settings: Settings,
        writer: FleetOutput,
        stats: Stats,
        now: float,
        frames: FrameSink | None = None,
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.stats = stats
        self.sessions: dict[str, RobotSession] = {
            r.id: self._session(r, now) for r in settings.robots
        }
        # Robots of rd:registry (added through the API), and who wants to hear of a change
        # to them: the MQTT and VDA 5050 routers serve them as they serve config robots.
        self.registered: dict[str, RobotConfig] = {}
        self.on_registry: list[Callable[[str, RobotConfig | None], None]] = []
        self.commands = CommandRouter(self.sessions, writer, settings.commands, stats)
        self.dispatcher = Dispatcher(self.sessions, self.commands, writer, settings, stats)
        self.datagrams = DatagramDecoder(self.key_for, settings.udp.max_datagram_bytes)
        # camera frames go to ``frames`` (the camera writer), never through ``writer``
        self.cameras = Cameras(
            settings.camera,
            writer,
            frames or DiscardFrames(),
            stats,
            self.key_for,
            heard=self._heard_id,
        )
        self._drop_log_at = 0.0  # when dropped datagrams may be logged again
        self._drops_unlogged: Counter[str] = Counter()  # reason -> dropped since that line
        # [cluster]: this gateway's robot leases; None: the only gateway (docs/scaling.md)
        self.leases: Leases | None = None
        # False with [cluster]: the leader dispatches, from what every gateway writes
        self.dispatching = True
        self.on_moved: list[Callable[[str], None]] = []  # [cluster] told of each robot moved

    def _session(self, robot: RobotConfig, now: float) -> RobotSession:
        g = self.settings.gateway
        return RobotSession(
            robot,
            self.settings.commands,
            TokenBucket(g.telemetry_rate_per_s, g.telemetry_burst, now),
        )

    def sync_robot(self, robot_id: str, raw: bytes | None, now: float) -> str:
        """Add, update or remove a robot from its rd:registry entry; returns what changed.

        Robots of the config file are fixed: an entry with the same id is refused.
        """
        if self.settings.robot(robot_id) is not None:
            raise RegistryError("configured in the config file, which wins")
        old = self.sessions.get(robot_id)
        if raw is None:
            if old is None:
                return "absent"
            if old.link is not None:
                old.link.close(ErrorCode.UNKNOWN_ROBOT, "robot removed from the registry")
                self._unlink(old)
            self._connection(old, ConnInput.DISCONNECTED, now, "removed")
            self.cameras.announce(robot_id, [], now)
            del self.sessions[robot_id]
            self.registered.pop(robot_id, None)
            change = "removed"
            self._tell(robot_id, None)
        else:
            robot = robot_from_entry(robot_id, raw, self.settings.data.keys)
            self._check_vda_identity(robot)
            new = self._session(robot, now)
            before = self.registered.get(robot_id)
            moved = before is not None and (before.transport, before.vda) != (
                robot.transport,
                robot.vda,
            )
            self.registered[robot_id] = robot
            if old is not None:
                if old.key != new.key or old.kind != new.kind or moved:
                    if old.link is not None:  # it must prove the new key
                        old.link.close(
                            ErrorCode.AUTH_FAILED, "robot key, kind or transport changed"
                        )
                        self._unlink(old)
                    self._connection(old, ConnInput.DISCONNECTED, now, "re-keyed")
                    self.sessions[robot_id] = new
                else:
                    old.name = new.name
                change = "updated"
            else:
                self.sessions[robot_id] = new
                change = "added"
            session = self.sessions[robot_id]
            self.writer.snapshot(
                robot_id, kind=session.kind, name=session.name, connection=session.conn
            )
            self._tell(robot_id, robot)
            self._warn_unserved(robot)
        self.datagrams.reset(robot_id)
        log.info("registry_changed", robot=robot_id, change=change)
        return change

    def robots(self) -> Iterator[RobotConfig]:
        """Every robot the fleet serves: the config file's, then those of rd:registry."""
        yield from self.settings.robots
        yield from self.registered.values()

    def _check_vda_identity(self, robot: RobotConfig) -> None:
        if robot.vda is None:
            return
        mine = (robot.vda.manufacturer, robot.vda.serial)
        for other in self.robots():
            if (
                other.id != robot.id
                and other.vda is not None
                and mine
                == (
                    other.vda.manufacturer,
                    other.vda.serial,
                )
            ):
                raise RegistryError(f"AGV {mine[0]}/{mine[1]} is robot {other.id!r} already")

    def _warn_unserved(self, robot: RobotConfig) -> None:
        hint = ""
        if robot.transport != "tcp" and not self.settings.mqtt.enabled:
            hint = "this robot uses MQTT; set [mqtt] enabled = true"
        elif robot.transport == "vda5050" and not self.settings.vda5050.enabled:
            hint = "this robot is a VDA 5050 AGV; set [vda5050] enabled = true"
        if hint:
            log.warning("mqtt_robots_unserved", robots=[robot.id], hint=hint)

    def _tell(self, robot_id: str, robot: RobotConfig | None) -> None:
        for listener in self.on_registry:
            try:
                listener(robot_id, robot)
            except Exception:  # one router's bug must not undo the registry change
                log.exception("registry_listener_failed", robot=robot_id)

    def key_for(self, robot: str) -> bytes | None:
        session = self.sessions.get(robot)
        return session.key if session is not None else None

    def expect_back(self, snapshots: Mapping[str, Sequence[bytes | None]], now: float) -> list[str]:
        """Robots the previous gateway had connected when it went away, from what it left in
        their snapshots (``connection``, ``seen``, ``updated`` of rd:robot:{id}): still online
        or stale (it died without telling), or heard less than ``stale_after_s`` before the
        snapshot's last write (its stop closed their links). They reconnect within seconds,
        so for ``offline_after_s`` from ``now`` a command for one waits for it rather than
        failing as robot_offline. Returns their ids."""
        g = self.settings.gateway
        back = []
        for robot, (connection, seen, updated) in snapshots.items():
            session = self.sessions.get(robot)
            if session is None or session.link is not None or seen is None:
                continue
            try:
                left_connected = connection in (b"online", b"stale") or (
                    updated is not None and float(updated) - float(seen) < g.stale_after_s
                )
            except ValueError:  # not written by a gateway: nothing to go by
                continue
            if left_connected:
                session.expected_until = now + g.offline_after_s
                back.append(robot)
        if back:
            log.info("robots_expected_back", robots=back, within_s=g.offline_after_s)
        return back

    def publish_registry(self) -> None:
        """Write every known robot's identity into its snapshot (at start)."""
        demo = []
        for s in self.sessions.values():
            self.writer.snapshot(s.id, kind=s.kind, name=s.name, connection=s.conn)
            if s.key == demo_key(s.id):
                demo.append(s.id)
        if demo:
            log.warning(
                "demo_keys_in_use",
                robots=demo,
                hint="these keys are public (config/example.toml); give real robots their own",
            )

    # ---- links ---------------------------------------------------------------

    def check_hello(self, hello: Hello) -> None:
        """The kind the robot says is the one registered (else auth_failed)."""
        session = self.sessions[hello.robot]
        if hello.kind != session.kind:
            raise RemoteProtocolError(
                f"robot {session.id!r} is registered as {session.kind}, hello says {hello.kind}",
                code=ErrorCode.AUTH_FAILED,
            )

    def claim(
        self, robot: str, done: Callable[[str | None], None], wait_s: float, now: float
    ) -> None:
        """[cluster] Take the robot's lease before ``connected``: ``done(None)`` once this
        gateway holds it, ``done(holder)`` if another still does after ``wait_s`` ("": Redis
        did not answer)."""
        assert self.leases is not None
        self.leases.acquire(robot, done, wait_s, now)

    def unclaim(self, robot: str) -> None:
        """[cluster] A lease taken for a connection that closed before it was used."""
        session = self.sessions.get(robot)
        if self.leases is not None and (session is None or session.link is None):
            self.leases.release(robot)

    def moved(self, robot: str, holder: str, now: float) -> list[Pending]:
        """[cluster] Another gateway holds the robot now (its newer connection is there, or
        our lease was lost): close our link quietly. Its snapshot and connection are the
        new holder's to write; an ``offline`` from us could land after its ``online``.
        Returns the commands still awaiting the robot's ack, for the new holder."""
        session = self.sessions.get(robot)
        if session is None:
            return []
        if session.link is not None:
            session.link.close(ErrorCode.REPLACED, f"gateway {holder or '?'} holds this robot now")
            session.link = None
        session.conn = ConnState.OFFLINE
        for listener in self.on_moved:
            listener(robot)
        self.stats.inc("connections", "moved")
        log.info("robot_moved", robot=robot, to=holder or None, pending=len(session.pending))
        return session.pending.drain()

    def connected(self, hello: Hello, link: Link, now: float) -> None:
        """A robot proved itself; a link it already had is replaced (the newer wins)."""
        self.check_hello(hello)
        session = self.sessions[hello.robot]
        old = session.link
        if old is not None and old is not link:
            old.close(ErrorCode.REPLACED, "a newer connection of this robot took over")
            self.stats.inc("connections", "replaced")
            log.info("robot_link_replaced", robot=session.id, old=old.transport, new=link.transport)
        session.link = link
        session.transport = link.transport
        session.firmware = hello.firmware
        session.state = None  # believe the next reported state: the robot may have rebooted
        session.last_seen = now
        self.datagrams.reset(session.id)  # a rebooted robot restarts its UDP seq
        self.cameras.hello(session.id)  # ... and its camera chunks' seq
        self.writer.snapshot(
            session.id,
            transport=link.transport,
            firmware=hello.firmware,
            seen=now,
            # where it connected from (TCP links say; over a broker it is not known)
            address=getattr(link, "address", ""),
            mac=getattr(link, "mac", ""),
        )
        self._connection(session, ConnInput.CONNECTED, now, "hello")

    def resume(self, robot: str, now: float) -> None:
        """After the transport greeted the robot: resend the commands it has not acked."""
        self.commands.reconnected(self.sessions[robot], now)

    def disconnected(self, robot: str, link: Link, now: float, reason: str) -> None:
        session = self.sessions.get(robot)
        if session is None or session.link is not link:
            return  # a replaced link closing after its successor took over
        self._unlink(session)
        self._connection(session, ConnInput.DISCONNECTED, now, reason)

    def _unlink(self, session: RobotSession) -> None:
        """The robot's link is gone. [cluster] A TCP robot's lease goes with it (an MQTT
        robot's stays: the broker keeps the robot, and this gateway its topics)."""
        link, session.link = session.link, None
        if self.leases is not None and link is not None and link.transport == "tcp":
            self.leases.release(session.id)

    # ---- what robots say -----------------------------------------------------

    def received(self, robot: str, msg: RobotMessage, now: float) -> None:
        """A message from an authenticated link (TCP or MQTT)."""
        session = self.sessions[robot]
        if isinstance(msg, Telemetry):
            self.telemetry_run(((session, msg),), now, session.transport)
            return
        self._heard(session, now)
        if isinstance(msg, State):
            self._reported(session, msg, now)
        elif isinstance(msg, Ack):
            self.commands.acked(session, msg)
        elif isinstance(msg, Event):
            self.writer.event(
                EventType.ROBOT_EVENT,
                robot,
                level=Level(msg.level),
                data={"name": msg.name, "data": msg.data},
            )
        elif isinstance(msg, Camera):
            self.cameras.announce(robot, msg.cameras, now)
        elif not isinstance(msg, Heartbeat | Hello):
            raise AssertionError(f"unhandled message {msg!r}")

    def telemetry_run(
        self, run: Sequence[tuple[RobotSession, Telemetry]], now: float, transport: str
    ) -> None:
        """Telemetry from authenticated links, in order, a batch at a time (MQTT and UDP
        read hundreds at once, TCP hands over one): per sample heard, state machine, rate
        limit, position; the stats and the writer once per batch."""
        online = ConnState.ONLINE
        accepted: list[Telemetry] = []
        for session, msg in run:
            session.last_seen = now
            if session.conn is not online:
                self._connection(session, ConnInput.HEARD, now, "heard")
            if session.bucket.allow(now):
                session.x, session.y, session.battery = msg.x, msg.y, msg.battery
                accepted.append(msg)
        limited = len(run) - len(accepted)
        if limited:
            self.stats.inc("telemetry_dropped", "rate_limited", limited)
        if accepted:
            self.stats.inc("telemetry_received", transport, len(accepted))
            self.writer.telemetry_run(accepted, transport, now)

    def datagram_run(self, datagrams: Sequence[bytes], now: float) -> None:
        """The UDP datagrams of one loop iteration, in arrival order: the hot path. Each
        is checked on its own (size, signature, robot, replay window); the telemetry
        that passed is applied as one batch (``telemetry_run``: heard, state machine,
        rate limit, position per sample), and each other datagram counted by reason in
        ``udp_dropped``, with a log line at most every ``DROP_LOG_EVERY_S``. No await,
        no task."""
        good, dropped = self.datagrams.decode_run(datagrams)
        if good and self.leases is not None:  # [cluster] robots held here only
            held = [m for m in good if self.sessions[m.robot].link is not None]
            if len(held) < len(good):
                self.stats.inc("udp_dropped", "not_held", len(good) - len(held))
                good = held
        if good:  # first: what goes wrong with the bad ones cannot cost the good ones
            sessions = self.sessions
            self.telemetry_run([(sessions[m.robot], m) for m in good], now, "udp")
        if dropped:
            self._datagrams_dropped(dropped, now)

    def _datagrams_dropped(self, dropped: Sequence[Dropped], now: float) -> None:
        inc = self.stats.inc
        for d in dropped:
            inc("udp_dropped", d.reason)
        # Plain str keys: the JSON renderer (orjson) refuses a str subclass as a key.
        self._drops_unlogged.update(d.reason.value for d in dropped)
        if now >= self._drop_log_at:
            self._drop_log_at = now + DROP_LOG_EVERY_S
            last = dropped[-1]
            log.warning(
                "udp_datagrams_dropped",
                reasons=dict(self._drops_unlogged),
                last_robot=last.robot,
                last_reason=last.reason.value,
                every_s=DROP_LOG_EVERY_S,
            )
            self._drops_unlogged.clear()

    def _heard_id(self, robot: str, now: float) -> None:
        session = self.sessions.get(robot)
        if session is not None:
            session.last_seen = now
            if session.conn is not ConnState.ONLINE:
                self._connection(session, ConnInput.HEARD, now, "heard")

    def _heard(self, session: RobotSession, now: float) -> None:
        session.last_seen = now
        if session.conn is not ConnState.ONLINE:
            self._connection(session, ConnInput.HEARD, now, "heard")

    def _reported(self, session: RobotSession, msg: State, now: float) -> None:
        previous = session.state
        try:
            state = apply_reported(session.kind, previous, msg.state)
        except IllegalTransition as exc:
            self.stats.inc("transitions_refused", session.kind)
            self.writer.event(
                EventType.ROBOT_TRANSITION_REFUSED,
                session.id,
                level=Level.WARNING,
                data={"from": exc.current, "to": exc.requested, "task": msg.task},
            )
            if session.link is not None:
                session.link.send(
                    Error(
                        robot=session.id,
                        ts=now,
                        code=ErrorCode.ILLEGAL_TRANSITION,
                        message=str(exc),
                        ref_seq=msg.seq,
                    )
                )
            return
        task = msg.task or ""
        if state == previous and task == session.task:
            return
        session.state, session.task = state, task
        level = Level.ALARM if state in _ALARM_STATES else Level.INFO
        self.writer.event(
            EventType.ROBOT_STATE,
            session.id,
            level=level,
            data={"state": state, "previous": previous, "task": task, "reason": msg.reason},
        )
        self.writer.snapshot(session.id, state=state, task=task)
        if self.dispatching:
            self.dispatcher.robot_state(session, previous, now)

    def _connection(self, session: RobotSession, event: ConnInput, now: float, reason: str) -> None:
        previous = session.conn
        state = apply_connection(previous, event)
        if state is previous:
            return
        session.conn = state
        level = Level.INFO if state is ConnState.ONLINE else Level.WARNING
        self.writer.event(
            EventType.ROBOT_CONNECTION,
            session.id,
            level=level,
            data={
                "state": state,
                "previous": previous,
                "transport": session.transport,
                "reason": reason,
            },
        )
        self.writer.snapshot(session.id, connection=state, seen=session.last_seen)
        if state is ConnState.OFFLINE and self.dispatching:
            self.dispatcher.robot_offline(session, now)
            self.cameras.offline(session.id, now)
        log.info(
            "robot_connection", robot=session.id, state=state, previous=previous, reason=reason
        )

    # ---- time passing --------------------------------------------------------

    def tick(self, now: float) -> None:
        """Silence -> stale -> offline; command resends and expiries. Call about twice a second."""
        defaults = (self.settings.gateway.stale_after_s, self.settings.gateway.offline_after_s)
        by_state: Counter[str] = Counter()
        for session in self.sessions.values():
            if session.conn is not ConnState.OFFLINE:
                limits = session.link.silence_limits if session.link is not None else None
                stale_after, offline_after = limits or defaults
                silent = now - session.last_seen
                if silent > offline_after:
                    if session.link is not None:
                        session.link.close(ErrorCode.TIMEOUT, f"silent for {silent:.1f}s")
                        self._unlink(session)
                    self._connection(session, ConnInput.LOST, now, "silent")
                elif silent > stale_after:
                    self._connection(session, ConnInput.SILENT, now, "silent")
            if len(session.pending):
                self.commands.tick(session, now)
            by_state[session.conn] += 1
        for state in ConnState:
            self.stats.set("robots", state, by_state[state])
        if self.dispatching:
            self.dispatcher.tick(now)
        self.cameras.tick(now)
