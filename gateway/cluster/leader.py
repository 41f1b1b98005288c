"""The leader: one gateway at a time reads rd:commands and dispatches orders.

Every gateway stands for the leader lease (``rd:leader``, in the same script
as its robot leases: gateway/cluster/leases.py); the one that holds it runs
what exists once per site, and stops the moment its lease is no longer sure
(``Leases.epoch``: the local deadline of its last renewal):

- ``CommandRouting`` reads rd:commands with the consumer group ``gateway`` the
  one gateway of a site used: robot commands go to the inbox of the gateway
  holding the robot (or fail as ``robot_offline`` at once when none does),
  ``registry.sync`` to every live gateway's inbox, orders to the dispatcher.
  Every move is fenced by the leader lease (gateway/cluster/routing.py), so a
  leader that lost its lease without noticing yet moves nothing. Entries the
  previous leader had read and not yet moved are claimed after ``lease_ttl_s``.
- ``LeaderDispatch`` (gateway/cluster/dispatch.py): the dispatcher, over a view
  of every gateway's robots, loaded from rd:dispatch at each election.
- ``Drain``: a gateway whose liveness key expired (it died) leaves commands in
  its inbox, read or not; they move to the gateway that holds their robot
  now, and those whose robot nobody takes within ``gateway.offline_after_s``
  fail as ``robot_offline``. An empty inbox of a dead gateway is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from redis.asyncio import Redis

from config import Settings
from gateway.cluster.dispatch import LeaderDispatch
from gateway.cluster.leases import Leases
from gateway.cluster.routing import Routes
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from gateway.streams.commands import CommandReader
from gateway.streams.writer import OUTAGE_ERRORS, StreamWriter
from protocol import cluster, streams
from protocol.cluster import ack_ref
from protocol.streams import CommandRecord, CommandType
from robodine.redisio.group import GroupReader, RawEntry
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import as_str

log = structlog.get_logger("gateway.cluster")

__all__ = ["CommandRouting", "Drain", "Leadership"]

TICK_S = 0.25
DRAIN_EVERY_S = 1.0

Orders = Callable[[CommandRecord, str, float], None]


class CommandRouting(CommandReader):
    def __init__(
        self,
        redis: Redis,
        fleet: Fleet,
        settings: Settings,
        routes: Routes,
        drain: Drain,
        orders: Orders,
        *,
        consumer: str,
        epoch: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            redis,
            fleet,
            settings.redis,
            consumer=consumer,
            clock=clock,
            claim_idle_ms=int(settings.cluster.lease_ttl_s * 1000),
        )
        self.routes = routes
        self.drain = drain
        self.orders = orders
        self.epoch = epoch
        self.leader = f"{consumer} {epoch}"
        self._claim_every = settings.cluster.lease_ttl_s
        self._claimed_at = self._drained_at = time.monotonic()

    async def load(self) -> None:
        self._loaded = True  # the registry is every gateway's own (its inbox reader)

    async def _robot_command(
        self,
        rec: CommandRecord,
        ref: str,
        fields: dict[bytes, bytes],
        now: float,
        *,
        recovered: bool,
    ) -> None:
        if rec.robot not in self.fleet.sessions:
            await super()._robot_command(rec, ref, fields, now, recovered=recovered)
            return  # unknown_robot
        outcome = await self.routes.to_holder(
            fields, ref, rec.robot, leader=self.leader, self_ok=True
        )
        if outcome == "none":
            self.routes.fail_offline(
                rec.id, rec.robot, rec.action, ref, "no gateway holds the robot"
            )
        elif outcome == "not_leader":
            self._step_down()

    async def _registry_sync(
        self, rec: CommandRecord, ref: str, fields: dict[bytes, bytes], now: float
    ) -> None:
        gateways = await self.routes.live_gateways()
        if await self.routes.to_all(fields, ref, gateways, leader=self.leader) == "not_leader":
            self._step_down()

    async def _order_command(
        self, rec: CommandRecord, ref: str, fields: dict[bytes, bytes], now: float
    ) -> None:
        self.orders(rec, ref, now)

    async def _between_reads(self) -> None:
        await super()._between_reads()
        now = time.monotonic()
        if now - self._claimed_at >= self._claim_every:  # what a previous leader left
            self._claimed_at = now
            await self._group.claim(self._submit)
        if now - self._drained_at >= DRAIN_EVERY_S:
            self._drained_at = now
            if not await self.drain.run_once(self.leader):
                self._step_down()

    def _step_down(self) -> None:
        if not self._stopping:
            log.warning("leader_lease_lost", epoch=self.epoch)
        self.stop()


class Drain:
    """The inboxes of dead gateways, emptied by the leader (module docstring)."""

    def __init__(self, redis: Redis, routes: Routes, name: str, grace_s: float) -> None:
        self.redis = redis
        self.routes = routes
        self.name = name
        self.grace_s = grace_s
        self._dead_since: dict[str, float] = {}
        self._failed: set[str] = set()  # refs failed, their XACK still in the writer's hands
        self._leader = ""
        self._lost = False

    async def run_once(self, leader: str) -> bool:
        """One pass over the known gateways; False when the leader lease turned out lost."""
        self._leader, self._lost = leader, False
        names = sorted(as_str(n) for n in await self.redis.smembers(KEYS.gateways))
        for name in names:
            if name == self.name:
                continue
            live = bool(await self.redis.exists(KEYS.gateway(name)))
            if live:
                self._dead_since.pop(name, None)
            else:
                self._dead_since.setdefault(name, time.monotonic())
            await self._drain(name, live)
            if self._lost:
                return False
        return True

    async def _drain(self, name: str, live: bool) -> None:
        stream = KEYS.inbox(name)
        if not await self.redis.exists(stream):
            if not live:
                await self.redis.srem(KEYS.gateways, name)
            return
        group = GroupReader(
            self.redis,
            stream,
            streams.COMMANDS_GROUP,
            self.name,
            count=100,
            claim_idle_ms=0,
            block_ms=0,
        )
        await group.ensure_group()
        handle = self._handler(name, stream)
        if not live:
            await group.claim(handle)  # the dead gateway's pending entries
        await group.pending(handle)  # ours, left by an earlier pass
        if live or self._lost:
            return
        reply: Any = await self.redis.xreadgroup(
            streams.COMMANDS_GROUP, self.name, {stream: ">"}, count=100
        )
        if reply and reply[0][1]:
            await handle(reply[0][1])
            return
        groups = await self.redis.xinfo_groups(stream)
        if all(g["pending"] == 0 and not g.get("lag") for g in groups):
            await self.redis.delete(stream)
            await self.redis.srem(KEYS.gateways, name)
            self._dead_since.pop(name, None)
            self._failed = {r for r in self._failed if not r.startswith(stream + " ")}
            log.info("gateway_inbox_drained", gateway=name)

    def _handler(self, name: str, stream: str) -> Callable[[list[RawEntry]], Any]:
        async def handle(entries: list[RawEntry]) -> None:
            for entry_id, fields in entries:
                if self._lost:
                    return
                ref = ack_ref(stream, as_str(entry_id))
                if ref in self._failed:
                    continue
                await self._move(name, ref, fields)

        return handle

    async def _move(self, name: str, ref: str, fields: dict[bytes, bytes]) -> None:
        stream, entry = cluster.split_ref(ref)
        try:
            rec = streams.from_fields(CommandRecord, fields) if fields else None
        except (msgspec.ValidationError, ValueError):
            rec = None
        if rec is None or rec.type != CommandType.ROBOT:  # nothing for another gateway
            await self.redis.xack(stream, streams.COMMANDS_GROUP, entry)
            return
        outcome = await self.routes.to_holder(
            fields, ref, rec.robot, leader=self._leader, self_ok=True
        )
        if outcome == "not_leader":
            self._lost = True
        elif outcome == "none":
            dead_for = time.monotonic() - self._dead_since.get(name, time.monotonic())
            if dead_for >= self.grace_s:
                self._failed.add(ref)
                self.routes.fail_offline(
                    rec.id,
                    rec.robot,
                    rec.action,
                    ref,
                    f"its gateway {name} died and no other took the robot",
                )


class Leadership:
    """Runs the router and the dispatcher while this gateway leads; ends them when it no
    longer does (the epoch changed, or ended)."""

    def __init__(
        self,
        settings: Settings,
        fleet: Fleet,
        writer: StreamWriter,
        leases: Leases,
        routes: Routes,
        redis: Redis,
        stats: Stats,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.fleet = fleet
        self.writer = writer
        self.leases = leases
        self.routes = routes
        self.redis = redis
        self.stats = stats
        self.clock = clock
        self.name = settings.gateway.name
        self.drain = Drain(redis, routes, self.name, settings.gateway.offline_after_s)
        self.router: CommandRouting | None = None
        self.dispatch: LeaderDispatch | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                epoch = self.leases.epoch(loop.time())
                if self.router is not None and (
                    any(t.done() for t in self._tasks) or epoch != self.router.epoch
                ):
                    await self._end()
                if epoch and self.router is None and not self._stopped:
                    await self._begin(epoch)
                await asyncio.sleep(TICK_S)
        finally:
            await self.stop()

    async def _begin(self, epoch: int) -> None:
        dispatch = LeaderDispatch(
            self.settings,
            self.fleet,
            self.writer,
            self.routes,
            self.redis,
            self.stats,
            epoch=epoch,
            clock=self.clock,
        )
        try:
            await dispatch.load()
        except OUTAGE_ERRORS as exc:  # tried again at the next tick
            log.warning("leader_load_failed", epoch=epoch, error=str(exc))
            return
        log.info("leading", epoch=epoch, orders=len(dispatch.dispatcher.orders))
        self.stats.set("leader", "", 1)
        self.dispatch = dispatch
        self.router = CommandRouting(
            self.redis,
            self.fleet,
            self.settings,
            self.routes,
            self.drain,
            dispatch.command,
            consumer=self.name,
            epoch=epoch,
            clock=self.clock,
        )
        self._tasks = [
            asyncio.create_task(self.router.run(), name="leader-router"),
            asyncio.create_task(dispatch.run(), name="leader-dispatch"),
        ]

    async def _end(self) -> None:
        router, dispatch, tasks = self.router, self.dispatch, self._tasks
        self.router, self.dispatch, self._tasks = None, None, []
        if router is None:
            return
        router.stop()
        if dispatch is not None:
            dispatch.stop()
        block_s = self.settings.redis.command_block_ms / 1000
        _, pending = await asyncio.wait(tasks, timeout=block_s + 1)
        for task in pending:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, *OUTAGE_ERRORS):
                await task
        if dispatch is not None:
            dispatch.end()
        self.stats.set("leader", "", 0)
        log.info("leading_ended", epoch=router.epoch)

    async def stop(self) -> None:
        """For good (the gateway stops): the router ends and does not start again."""
        self._stopped = True
        await self._end()
