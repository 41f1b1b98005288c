"""The consumer of rd:commands: one consumer group, entries acked only with their outcome.

With ``[cluster]`` the same reader reads the gateway's own inbox instead
(``stream``; gateway/cluster/inbox.py), and the leader routes rd:commands
(gateway/cluster/leader.py): both are subclasses that say what a robot
command, a registry sync and an order command become.

- On start the consumer first re-reads its own pending entries (commands it
  read before a crash), then claims entries other consumers left idle.
- The XACK of an entry is written by the stream writer in the same pipeline
  as the command's outcome event, so an entry leaves the PEL only when its
  outcome is in Redis (or in the spool).
- rd:commands is trimmed by MINID, never by MAXLEN, and never above the oldest
  pending entry.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import cast

import msgspec
import structlog
from redis.asyncio import Redis

from config.settings import RedisSettings
from gateway.fleet.fleet import Fleet
from gateway.fleet.registry import RegistryError
from gateway.streams.writer import OUTAGE_ERRORS
from protocol import streams
from protocol.cluster import ack_ref
from protocol.streams import CommandRecord, CommandType, EventType, Level
from robodine.backoff import Backoff
from robodine.redisio.group import GroupReader
from robodine.redisio.keys import KEYS
from robodine.supervisor import Supervisor

log = structlog.get_logger("gateway.commands")

CLAIM_IDLE_MS = 60_000  # another consumer silent this long is taken to be dead
TRIM_EVERY_S = 60.0


class CommandReader:
    def __init__(
        self,
        redis: Redis,
        fleet: Fleet,
        settings: RedisSettings,
        *,
        consumer: str,
        clock: Callable[[], float] = time.time,
        stream: str = "",  # "": rd:commands (under the namespace: KEYS.commands)
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        self.redis = redis
        self.stream = stream or KEYS.commands
        self.fleet = fleet
        self.writer = fleet.writer
        self.settings = settings
        self.consumer = consumer
        self.clock = clock
        self._last_trim = 0.0
        self._stopping = False
        self._loaded = False
        # From 0: commands written before the gateway's first start are not skipped.
        self._group = GroupReader(
            redis,
            self.stream,
            streams.COMMANDS_GROUP,
            consumer,
            count=500,
            claim_idle_ms=claim_idle_ms,
            block_ms=settings.command_block_ms,
            running=self._running,
        )
        self._supervisor = Supervisor(
            log,
            lost="commands_reader_unavailable",
            recovered="commands_reader_recovered",
            backoff=Backoff(0.1, 5.0),
        )

    def stop(self) -> None:
        """Finish after the current read (at most ``command_block_ms``).

        A stop flag, not task cancellation: redis-py can swallow a cancel
        that races with a blocking read's reply (Python 3.11 wait_for), and
        the loop would carry on reading.
        """
        self._stopping = True

    def _running(self) -> bool:
        return not self._stopping

    async def run(self) -> None:
        await self._supervisor.run(self._read, errors=OUTAGE_ERRORS, running=self._running)

    async def _read(self) -> None:
        """The group, the registry, what was left pending; then new commands until stopped."""
        await self._group.ensure_group()
        await self.load()
        # Our own pending entries first (a restart), then other consumers' stale ones.
        await self._group.recover(functools.partial(self._submit, recovered=True))
        self._supervisor.ok()
        while not self._stopping:
            entries = await self._group.read_new()
            if entries:
                await self._submit(entries)
            await self._between_reads()

    async def _between_reads(self) -> None:
        await self._maybe_trim()

    async def load(self) -> None:
        """Robots of rd:registry and open orders of rd:dispatch, once, before any command.

        The gateway calls it before opening its ports; if Redis is down then,
        the reader calls it again when Redis is back.
        """
        if self._loaded:
            return
        now = self.clock()
        registry = cast(dict[bytes, bytes], await self.redis.hgetall(KEYS.registry))
        for robot, raw in registry.items():
            self._sync(robot.decode(), raw, None, now)
        await self._load_orders()
        self._loaded = True

    async def _load_orders(self) -> None:
        self.fleet.dispatcher.load(
            cast(dict[bytes, bytes], await self.redis.hgetall(KEYS.dispatch))
        )

    def _sync(self, robot: str, raw: bytes | None, ref: str | None, now: float) -> None:
        try:
            change = self.fleet.sync_robot(robot, raw, now)
        except RegistryError as exc:
            log.error("registry_entry_refused", robot=robot, reason=str(exc))
            self.writer.event(
                EventType.REGISTRY_CHANGED,
                robot,
                level=Level.ALARM,
                ack=ref,
                data={"robot": robot, "change": "refused", "reason": str(exc)},
            )
            return
        self.writer.event(
            EventType.REGISTRY_CHANGED, robot, ack=ref, data={"robot": robot, "change": change}
        )

    async def _submit(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], *, recovered: bool = False
    ) -> None:
        now = self.clock()
        for entry_id, fields in entries:
            ref = ack_ref(self.stream, entry_id.decode())
            if not fields:  # trimmed away while pending: nothing left to run
                self.writer.event(
                    EventType.COMMAND_FAILED,
                    level=Level.WARNING,
                    ack=ref,
                    data={"reason": "entry_deleted", "entry": ref},
                )
                continue
            try:
                rec = streams.from_fields(CommandRecord, fields)
            except (msgspec.ValidationError, ValueError) as exc:
                self.writer.event(
                    EventType.COMMAND_FAILED,
                    level=Level.WARNING,
                    ack=ref,
                    data={"reason": "invalid_command", "detail": str(exc), "entry": ref},
                )
                continue
            if rec.type == CommandType.ROBOT:
                await self._robot_command(rec, ref, fields, now, recovered=recovered)
            elif rec.type == CommandType.REGISTRY_SYNC:
                await self._registry_sync(rec, ref, fields, now)
            elif rec.type in CommandType.__members__.values():
                await self._order_command(rec, ref, fields, now)
            else:
                self.writer.event(
                    EventType.COMMAND_FAILED,
                    rec.robot,
                    level=Level.WARNING,
                    ack=ref,
                    data={"command": rec.id, "reason": "unknown_type", "type": rec.type},
                )

    async def _robot_command(
        self,
        rec: CommandRecord,
        ref: str,
        fields: dict[bytes, bytes],
        now: float,
        *,
        recovered: bool,
    ) -> None:
        # Recovered after a restart: robots get time to reconnect first.
        grace = self.fleet.settings.gateway.offline_after_s if recovered else 0.0
        self.fleet.commands.submit(rec, ref, now, grace=grace)

    async def _registry_sync(
        self, rec: CommandRecord, ref: str, fields: dict[bytes, bytes], now: float
    ) -> None:
        robot = str(rec.args.get("robot", ""))
        raw = cast(bytes | None, await self.redis.hget(KEYS.registry, robot))
        self._sync(robot, raw, ref, now)

    async def _order_command(
        self, rec: CommandRecord, ref: str, fields: dict[bytes, bytes], now: float
    ) -> None:
        self.fleet.dispatcher.command(rec, ref, now)

    async def _maybe_trim(self) -> None:
        now = self.clock()
        if now - self._last_trim < TRIM_EVERY_S:
            return
        self._last_trim = now
        keep_from_ms = int((now - self.settings.commands_retention_s) * 1000)
        summary = await self.redis.xpending(self.stream, streams.COMMANDS_GROUP)
        if summary and summary.get("pending"):
            oldest = summary["min"]
            oldest_ms = int(
                (oldest.decode() if isinstance(oldest, bytes) else oldest).split("-")[0]
            )
            keep_from_ms = min(keep_from_ms, oldest_ms)
        groups = await self.redis.xinfo_groups(self.stream)
        for g in groups:
            last = g["last-delivered-id"]
            last_ms = int((last.decode() if isinstance(last, bytes) else last).split("-")[0])
            keep_from_ms = min(keep_from_ms, last_ms)  # undelivered entries are kept too
        if keep_from_ms > 0:
            await self.redis.xtrim(self.stream, minid=f"{keep_from_ms}-0", approximate=True)
