"""The leader's dispatcher: the site's whole fleet, from what every gateway writes.

With several gateways, no gateway's fleet has every robot; the dispatcher
(gateway/fleet/dispatcher.py, unchanged) runs on the leader only, over a
``FleetView``: one mirror session per robot, kept from

- rd:events, tailed from where it stood when the view was loaded:
  ``robot.connection`` and ``robot.state`` (applied unless their ``fence`` is
  below one already seen: a late event of a gateway that no longer holds the
  robot), and the outcomes of the dispatcher's own commands;
- every second, the robots' leases (who holds each, alive) and the position
  and battery of their snapshots, which the dispatcher picks robots by.

A robot whose holder is gone (its lease expired: the gateway died) cannot be
given work, keeps the task it has for ``gateway.offline_after_s`` in case it
reconnects to another gateway and carries on, and then goes offline in the
view: its task is released as for a robot that went offline. The
dispatcher's commands go to the holder's inbox (``RoutedCommands``, fenced by
the leader lease), its events carry the leader's ``epoch``, and its writes of
rd:dispatch are fenced too (``StreamWriter.fence``): a leader that lost its
lease changes nothing there, even writing late after an outage. A new leader
loads the open orders from rd:dispatch and carries on. The reports its
predecessor may not have applied (it died between a robot's ``ready`` and
writing the task done) are found in rd:events, from each held task's
``task.assigned`` on, and applied first (``Dispatcher.catch_up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis

from config import Settings
from gateway.cluster.routing import Routes
from gateway.fleet.dispatcher import Dispatcher
from gateway.fleet.fleet import Fleet
from gateway.fleet.session import RobotSession
from gateway.fleet.states import ConnState
from gateway.metrics import Stats
from gateway.streams.writer import OUTAGE_ERRORS, StreamWriter
from protocol import streams
from protocol.acks import PendingCommands
from protocol.cluster import parse_holder
from protocol.messages import GatewayMessage, Telemetry
from protocol.streams import CommandRecord, Level
from protocol.vocabulary import ACTIONS_BY_KIND, CommandAction, ErrorCode
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import as_str

log = structlog.get_logger("gateway.cluster")

__all__ = ["EpochOutput", "FleetView", "LeaderDispatch", "RoutedCommands"]

POLL_S = 1.0
CATCH_UP_MAX = 50_000  # rd:events entries read back at most, at an election
TICK_S = 0.25
_REMEMBERED = 10_000  # dispatcher commands awaiting their outcome, at most


class RemoteLink:
    """A mirror's link: the robot is connected to ``gateway`` (commands: RoutedCommands)."""

    transport = "remote"
    silence_limits: tuple[float, float] | None = None

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway

    def send(self, msg: GatewayMessage) -> None:
        pass

    def close(self, code: ErrorCode, reason: str) -> None:
        pass


def _mirror(session: RobotSession, settings: Settings) -> RobotSession:
    m = copy.copy(session)
    m.link = None
    m.conn = ConnState.OFFLINE
    m.state, m.task, m.transport = None, "", ""
    m.pending = PendingCommands(settings.commands.ack_timeout_s, settings.commands.max_attempts)
    m.battery, m.docking, m.expected_until = None, False, 0.0
    return m


class FleetView:
    def __init__(self, fleet: Fleet, settings: Settings) -> None:
        self.fleet = fleet
        self.settings = settings
        self.grace_s = settings.gateway.offline_after_s
        self.sessions: dict[str, RobotSession] = {}
        self.holders: dict[str, str] = {}  # robot -> the gateway holding it
        self.dispatcher: Dispatcher | None = None
        self.commands: RoutedCommands | None = None
        self._fence: dict[str, int] = {}
        self._lost_at: dict[str, float] = {}  # robot -> when its holder went, still online
        self.refresh()

    def refresh(self) -> None:
        """A mirror for each robot the fleet knows (config and rd:registry), no other."""
        for rid, session in self.fleet.sessions.items():
            m = self.sessions.get(rid)
            if m is None or m.kind != session.kind:
                self.sessions[rid] = _mirror(session, self.settings)
        for rid in [r for r in self.sessions if r not in self.fleet.sessions]:
            del self.sessions[rid]

    async def load(self, redis: Redis, now: float) -> str:
        """Every robot as its snapshot and lease say; returns the rd:events id to tail from."""
        last: Any = await redis.xrevrange(KEYS.events, count=1)
        start = as_str(last[0][0]) if last else "0-0"
        robots = list(self.sessions)
        pipe = redis.pipeline(transaction=False)
        for rid in robots:
            pipe.hmget(KEYS.robot(rid), ["connection", "state", "task", "x", "y", "battery"])
            pipe.get(KEYS.lease(rid))
        replies = await pipe.execute()
        for i, rid in enumerate(robots):
            m = self.sessions[rid]
            conn, state, task, x, y, battery = replies[2 * i]
            if conn is not None and as_str(conn) in ConnState.__members__.values():
                m.conn = ConnState(as_str(conn))
            m.state = as_str(state) if state else None
            m.task = as_str(task) if task else ""
            self._position(m, x, y, battery)
            self._holder(m, replies[2 * i + 1], now)
        return start

    # ---- what the gateways write ------------------------------------------------

    def apply(self, fields: Mapping[bytes, bytes], now: float) -> None:
        """One rd:events entry."""
        kind = fields.get(b"type", b"")
        if kind in (b"command.acked", b"command.failed"):
            if self.commands is not None:
                data = orjson.loads(fields.get(b"data", b"{}"))
                self.commands.outcome(
                    str(data.get("command", "")),
                    as_str(fields[b"robot"]),
                    kind == b"command.acked",
                    str(data.get("reason", "")),
                )
            return
        if kind not in (b"robot.connection", b"robot.state"):
            return
        m = self.sessions.get(as_str(fields.get(b"robot", b"")))
        if m is None:
            return
        fence = int(fields.get(b"fence", b"0") or 0)
        if fence and fence < self._fence.get(m.id, 0):
            return  # written by a gateway that held the robot before
        if fence:
            self._fence[m.id] = fence
        data = orjson.loads(fields.get(b"data", b"{}"))
        if kind == b"robot.connection":
            self._connection(
                m,
                str(data.get("state", "")),
                as_str(fields.get(b"src", b"")),
                str(data.get("reason", "")),
                now,
            )
        else:
            state, task = data.get("state"), data.get("task") or ""
            if state == m.state and task == m.task:
                return
            previous, m.state, m.task = m.state, state, task
            if self.dispatcher is not None:
                self.dispatcher.robot_state(m, previous, now)

    def _connection(self, m: RobotSession, state: str, src: str, reason: str, now: float) -> None:
        if state == ConnState.OFFLINE:
            if self.holders.get(m.id, src) != src:
                return  # the holder before it let go; the robot is elsewhere
            self.holders.pop(m.id, None)
            self._offline(m, now)
            return
        if state not in ConnState.__members__.values():
            return
        m.conn = ConnState(state)
        self.holders[m.id] = src
        self._lost_at.pop(m.id, None)
        if reason == "hello":
            m.state = None  # believe its next report, as the holder does
        m.link = RemoteLink(src)

    def _offline(self, m: RobotSession, now: float) -> None:
        was = m.conn
        m.conn, m.link = ConnState.OFFLINE, None
        self._lost_at.pop(m.id, None)
        if was is not ConnState.OFFLINE and self.dispatcher is not None:
            self.dispatcher.robot_offline(m, now)

    def _holder(self, m: RobotSession, value: bytes | None, now: float) -> None:
        holder = parse_holder(value)
        if holder is None:
            self.holders.pop(m.id, None)
            if m.link is not None or (
                m.conn is not ConnState.OFFLINE and m.id not in self._lost_at
            ):
                m.link = None
                self._lost_at.setdefault(m.id, now)
            return
        self._fence[m.id] = holder.token  # the lease says whose reports count (a Redis that
        # lost its data starts the tokens again)
        self.holders[m.id] = holder.gateway
        self._lost_at.pop(m.id, None)
        if m.conn is not ConnState.OFFLINE:
            m.link = RemoteLink(holder.gateway)

    @staticmethod
    def _position(m: RobotSession, x: Any, y: Any, battery: Any) -> None:
        with contextlib.suppress(TypeError, ValueError):
            m.x, m.y = float(x), float(y)
        with contextlib.suppress(TypeError, ValueError):
            m.battery = float(battery)

    async def poll(self, redis: Redis, now: float) -> None:
        """The leases and the positions and batteries of every robot."""
        self.refresh()
        robots = list(self.sessions)
        pipe = redis.pipeline(transaction=False)
        for rid in robots:
            pipe.get(KEYS.lease(rid))
            pipe.hmget(KEYS.robot(rid), ["x", "y", "battery"])
        replies = await pipe.execute()
        for i, rid in enumerate(robots):
            m = self.sessions[rid]
            self._holder(m, replies[2 * i], now)
            self._position(m, *replies[2 * i + 1])

    def tick(self, now: float) -> None:
        """Robots whose holder went ``grace_s`` ago and that no gateway took since: offline."""
        for rid, since in list(self._lost_at.items()):
            if now - since >= self.grace_s:
                m = self.sessions.get(rid)
                if m is not None:
                    log.info(
                        "robot_lost_with_its_gateway", robot=rid, after_s=round(now - since, 1)
                    )
                    self._offline(m, now)
                self._lost_at.pop(rid, None)


class RoutedCommands:
    """The dispatcher's commands to robots, into their holders' inboxes (dispatcher.Commands)."""

    def __init__(
        self, view: FleetView, routes: Routes, leader: str, settings: Settings, stats: Stats
    ) -> None:
        self.view = view
        self.routes = routes
        self.leader = leader
        self.ttl_s = settings.commands.ttl_s
        self.stats = stats
        self.on_outcome: Any = None
        self._sent: OrderedDict[str, str] = OrderedDict()  # command id -> robot
        self._queue: asyncio.Queue[CommandRecord | None] = asyncio.Queue()
        view.commands = self

    def send(
        self, robot: str, action: CommandAction, args: dict[str, Any], now: float
    ) -> str | None:
        m = self.view.sessions.get(robot)
        if m is None or m.link is None or action not in ACTIONS_BY_KIND[m.kind]:
            return None
        rec = CommandRecord(
            id=uuid.uuid4().hex,
            robot=robot,
            action=action,
            ts=now,
            args=args,
            expires=now + self.ttl_s,
            source="dispatcher",
        )
        self._sent[rec.id] = robot
        if len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)
        self._queue.put_nowait(rec)
        return rec.id

    def outcome(self, command: str, robot: str, ok: bool, reason: str) -> None:
        if self._sent.pop(command, None) is not None and self.on_outcome is not None:
            self.on_outcome(command, robot, ok, reason)

    def stop(self) -> None:
        self._queue.put_nowait(None)

    async def run(self) -> None:
        while (rec := await self._queue.get()) is not None:
            try:
                outcome = await self.routes.to_holder(
                    streams.to_fields(rec), "", rec.robot, leader=self.leader, self_ok=True
                )
            except OUTAGE_ERRORS:
                outcome = "none"
            if outcome != "sent":
                self.stats.inc("commands", "failed_robot_offline")
                self.outcome(rec.id, rec.robot, False, "robot_offline")


class EpochOutput:
    """The writer, as the leader's dispatcher writes through it: events with its ``epoch``."""

    def __init__(self, writer: StreamWriter, epoch: int) -> None:
        self.writer = writer
        self.epoch = epoch

    def event(
        self,
        type: str,
        robot: str = "",
        *,
        level: Level = Level.INFO,
        data: dict[str, Any] | None = None,
        ack: str | None = None,
    ) -> str:
        return self.writer.event(
            type, robot, level=level, data=data, ack=ack, extra={"epoch": self.epoch}
        )

    def snapshot(self, robot: str, **fields: Any) -> None:
        self.writer.snapshot(robot, **fields)

    def telemetry_run(self, msgs: Sequence[Telemetry], transport: str, rx: float) -> None:
        self.writer.telemetry_run(msgs, transport, rx)

    def hash_put(self, key: str, field: str, value: str | None) -> None:
        self.writer.hash_put(key, field, value)


class LeaderDispatch:
    """The dispatcher of one leadership (``epoch``): loaded, run, ended with it."""

    def __init__(
        self,
        settings: Settings,
        fleet: Fleet,
        writer: StreamWriter,
        routes: Routes,
        redis: Redis,
        stats: Stats,
        *,
        epoch: int,
        clock: Any,
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.redis = redis
        self.clock = clock
        self.leader = f"{settings.gateway.name} {epoch}"
        self.view = FleetView(fleet, settings)
        self.commands = RoutedCommands(self.view, routes, self.leader, settings, stats)
        self.dispatcher = Dispatcher(
            self.view.sessions, self.commands, EpochOutput(writer, epoch), settings, stats
        )
        self.view.dispatcher = self.dispatcher
        self._tail_from = "0-0"
        self._stopping = False

    async def load(self) -> None:
        """The view and the open orders, before the first order command is read."""
        self._tail_from = await self.view.load(self.redis, self.clock())
        saved: Any = await self.redis.hgetall(KEYS.dispatch)
        self.dispatcher.load(saved)
        self.writer.fence(KEYS.dispatch, KEYS.leader, self.leader)
        await self._catch_up()

    async def _catch_up(self) -> None:
        """The state reports since each held task was assigned, newest first from where the
        tail starts back to the task's ``task.assigned``, applied oldest first."""
        waiting = self.dispatcher.assigned()  # robot -> task whose assignment is not found yet
        found: dict[str, str] = {}
        reports: list[tuple[str, str, str | None, str, str]] = []
        cursor, scanned = self._tail_from, 0
        while waiting and scanned < CATCH_UP_MAX and cursor != "0-0":
            page: Any = await self.redis.xrevrange(KEYS.events, max=cursor, min="-", count=1000)
            if not page:
                break
            scanned += len(page)
            for _, fields in page:
                robot = as_str(fields.get(b"robot", b""))
                if robot not in waiting:
                    continue
                kind = fields.get(b"type")
                data = orjson.loads(fields.get(b"data", b"{}"))
                if kind == b"robot.state":
                    reports.append(
                        (
                            robot,
                            str(data.get("state")),
                            data.get("previous"),
                            str(data.get("task") or ""),
                            waiting[robot],
                        )
                    )
                elif kind == b"task.assigned" and data.get("task") == waiting[robot]:
                    found[robot] = waiting.pop(robot)
            cursor = "(" + as_str(page[-1][0])
        replay = [r for r in reversed(reports) if r[0] in found]
        applied = self.dispatcher.catch_up(replay, self.clock())
        if applied:
            log.info("leader_caught_up", reports=applied, scanned=scanned)

    def command(self, rec: CommandRecord, ref: str, now: float) -> None:
        self.dispatcher.command(rec, ref, now)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._tail(), name="leader-events")
            tg.create_task(self._poll(), name="leader-poll")
            tg.create_task(self.commands.run(), name="leader-commands")

    def stop(self) -> None:
        """End ``run`` within a blocking read (a flag: redis-py may swallow a cancel that
        races with a blocking read's reply, gateway/streams/commands.py)."""
        self._stopping = True
        self.commands.stop()

    def end(self) -> None:
        """Our leadership is over: nothing of ours for rd:dispatch is written any more."""
        self.writer.forget(KEYS.dispatch)

    async def _tail(self) -> None:
        block = self.settings.redis.command_block_ms
        last = self._tail_from
        while not self._stopping:
            try:
                reply: Any = await self.redis.xread({KEYS.events: last}, count=500, block=block)
            except OUTAGE_ERRORS:
                await asyncio.sleep(0.5)
                continue
            for _, entries in reply or ():
                now = self.clock()
                for entry_id, fields in entries:
                    last = as_str(entry_id)
                    try:
                        self.view.apply(fields, now)
                    except (ValueError, KeyError, orjson.JSONDecodeError):
                        log.warning("stream_entry_invalid", stream=KEYS.events, entry=last)

    async def _poll(self) -> None:
        next_poll = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            now = self.clock()
            if loop.time() >= next_poll:
                next_poll = loop.time() + POLL_S
                with contextlib.suppress(*OUTAGE_ERRORS):
                    await self.view.poll(self.redis, now)
            self.view.tick(now)
            self.dispatcher.tick(now)
            await asyncio.sleep(TICK_S)
