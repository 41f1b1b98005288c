"""The projector: order progress from rd:events into SQL, each event applied once.

A consumer group (``projector``) on rd:events: every web process is one
consumer, so each event is handled by one of them. An event is applied in
one SQL transaction that also records its ``eid`` in the unique column
``order_events.eid``; the entry is acknowledged (XACK) only after the commit.
So a crash before the commit re-reads the entry (our own pending list is
read first at start), and a crash between the commit and the XACK re-reads
an entry whose ``eid`` is already there: a no-op.

Statuses only move forward (docs/orders.md). A ``delivered`` event wins over
a cancel the web tier recorded meanwhile: the dishes did reach the table.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.streams import EventRecord, EventType, OrderStatus, from_fields
from robodine.backoff import Backoff
from robodine.redisio.group import GroupReader, RawEntry
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import as_str
from robodine.supervisor import Supervisor
from web.consumer import FORGET_IDLE_MS
from web.db.orders import Order, OrderEvent
from web.db.session import transaction

log = structlog.get_logger("web.projector")

GROUP: Final = "projector"
CLAIM_IDLE_MS = 30_000  # a consumer silent this long (a dead web process): take its entries
CLAIM_EVERY_S = 15.0
HANDLED: Final = frozenset(
    {
        EventType.ORDER_STATUS,
        EventType.TASK_ASSIGNED,
        EventType.TASK_RELEASED,
        EventType.COMMAND_FAILED,
    }
)
_RANK = {s: i for i, s in enumerate(OrderStatus)}
_FINISHED = (OrderStatus.DELIVERED, OrderStatus.CANCELLED)
_OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)


def moves(current: str, status: str) -> bool:
    """Does an ``order.status`` of ``status`` change an order that is ``current``?"""
    cur, new = OrderStatus(current), OrderStatus(status)
    if new is OrderStatus.DELIVERED:
        return cur is not OrderStatus.DELIVERED  # even over a late cancel: it happened
    if cur in _FINISHED:
        return False
    return new is OrderStatus.CANCELLED or _RANK[new] > _RANK[cur]


async def apply_event(s: AsyncSession, stream_id: str, rec: EventRecord) -> bool:
    """Apply one event to its order inside the caller's transaction.

    Returns False when it was applied before (its eid is recorded) or names no
    order we know; the caller acknowledges it either way.
    """
    order_id = rec.data.get("order")
    if not isinstance(order_id, str) or not order_id:
        return False
    if await s.scalar(select(OrderEvent.id).where(OrderEvent.eid == rec.eid)) is not None:
        return False
    order = await s.get(Order, order_id, with_for_update=True)
    if order is None:
        return False  # an order placed by another system (tests, the CLI): not ours
    at = datetime.fromtimestamp(rec.ts, UTC)
    ev = OrderEvent(
        order_id=order_id,
        eid=rec.eid,
        stream_id=stream_id,
        type=rec.type,
        robot=rec.robot,
        detail=orjson.dumps(rec.data).decode(),
        source=rec.src,
        at=at,
    )
    if rec.type == EventType.ORDER_STATUS:
        status = str(rec.data.get("status", ""))
        if status not in _RANK:
            log.warning("order_status_unknown", order=order_id, status=status, eid=rec.eid)
        else:
            if status == OrderStatus.PLACED and order.accepted_at is None:
                order.accepted_at = at
            if rec.robot and status in (OrderStatus.DELIVERING, OrderStatus.DELIVERED):
                order.robot = rec.robot
            if moves(order.status, status):
                ev.status, ev.previous = status, order.status
                order.status = status
                order.updated_at = datetime.now(UTC)
                log.info("order_projected", order=order_id, status=status, robot=rec.robot)
    s.add(ev)
    await s.flush()
    return True


class Projector:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        connect: Callable[[], Redis],
        *,
        consumer: str,
        block_ms: int,
        batch: int = 200,
    ) -> None:
        self.db = db
        self.connect = connect  # a client of our own: the blocking read must not be shared
        self.consumer = consumer
        self.block_ms = block_ms
        self.batch = batch
        self.applied = 0
        self._stopping = False
        self._last_claim = 0.0
        self._supervisor = Supervisor(
            log,
            lost="projector_unavailable",
            recovered="projector_recovered",
            backoff=Backoff(0.05, 2.0),
        )

    def stop(self) -> None:
        self._stopping = True

    def _running(self) -> bool:
        return not self._stopping

    async def run(self) -> None:
        redis = self.connect()
        # From 0: events written before the first web start are applied too (once).
        group = GroupReader(
            redis,
            KEYS.events,
            GROUP,
            self.consumer,
            count=self.batch,
            claim_idle_ms=CLAIM_IDLE_MS,
            block_ms=self.block_ms,
            running=self._running,
        )
        try:
            await self._supervisor.run(
                lambda: self._read(redis, group),
                errors=(*_OUTAGE, RedisError, SQLAlchemyError),
                running=self._running,
            )
        finally:
            await redis.aclose()

    async def _read(self, redis: Redis, group: GroupReader) -> None:
        """What this consumer read before a crash, what dead ones left, then new events."""
        handle = functools.partial(self._handle, redis)
        try:
            if await group.ensure_group():
                log.info("projector_group_created", stream=KEYS.events, group=GROUP)
            await group.pending(handle)
            await self._claim(group, handle)
            for name in await group.forget_idle(FORGET_IDLE_MS):
                log.info("consumer_forgotten", stream=KEYS.events, group=GROUP, name=name)
            self._supervisor.ok()
            while not self._stopping:
                entries = await group.read_new()
                if entries:
                    await self._handle(redis, entries)
                if time.monotonic() - self._last_claim > CLAIM_EVERY_S:
                    await self._claim(group, handle)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("projector_group_lost", detail="recreating it (Redis reset?)")

    async def _claim(self, group: GroupReader, handle: functools.partial[Any]) -> None:
        self._last_claim = time.monotonic()
        await group.claim(handle)

    async def _handle(self, redis: Redis, entries: list[RawEntry]) -> None:
        done: list[str] = []
        applied = 0
        for raw_id, fields in entries:
            sid = as_str(raw_id)
            if fields and as_str(fields.get("type", fields.get(b"type", ""))) in HANDLED:
                try:
                    rec = from_fields(EventRecord, fields)
                except (msgspec.ValidationError, ValueError) as exc:
                    log.warning("projector_event_invalid", id=sid, error=str(exc))
                else:
                    applied += await self._apply(sid, rec)
            done.append(sid)
        if done:
            await redis.xack(KEYS.events, GROUP, *done)
        self.applied += applied

    async def _apply(self, sid: str, rec: EventRecord) -> bool:
        try:
            async with transaction(self.db) as s:
                return await apply_event(s, sid, rec)
        except IntegrityError:
            return False  # another consumer applied the same eid at the same moment
