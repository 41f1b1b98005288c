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

import asyncio
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

from protocol.streams import EVENTS, EventRecord, EventType, OrderStatus, from_fields
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

Entry = tuple[Any, dict[Any, Any]]


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

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        redis = self.connect()
        down = False
        delay = 0.0
        try:
            while not self._stopping:
                try:
                    await self._ensure_group(redis)
                    await self._pending(redis)  # what this consumer read before a crash
                    await self._claim(redis)
                    if down:
                        log.info("projector_recovered")
                        down, delay = False, 0.0
                    while not self._stopping:
                        reply: Any = await redis.xreadgroup(
                            GROUP,
                            self.consumer,
                            {EVENTS: ">"},
                            count=self.batch,
                            block=self.block_ms,
                        )
                        if reply:
                            await self._handle(redis, reply[0][1])
                        if time.monotonic() - self._last_claim > CLAIM_EVERY_S:
                            await self._claim(redis)
                except (*_OUTAGE, RedisError, SQLAlchemyError) as exc:
                    if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                        log.warning("projector_group_lost", detail="recreating it (Redis reset?)")
                    elif not down:
                        log.warning("projector_unavailable", error=str(exc) or type(exc).__name__)
                        down = True
                    if not self._stopping:
                        delay = min(2.0, max(0.05, delay * 2))
                        await asyncio.sleep(delay)
        finally:
            await redis.aclose()

    async def _ensure_group(self, redis: Redis) -> None:
        try:
            # From 0: events written before the first web start are applied too (once).
            await redis.xgroup_create(EVENTS, GROUP, id="0", mkstream=True)
            log.info("projector_group_created", stream=EVENTS, group=GROUP)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _pending(self, redis: Redis) -> None:
        start = "0"
        while not self._stopping:
            reply: Any = await redis.xreadgroup(
                GROUP, self.consumer, {EVENTS: start}, count=self.batch
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return
            await self._handle(redis, entries)
            start = _s(entries[-1][0])

    async def _claim(self, redis: Redis) -> None:
        self._last_claim = time.monotonic()
        cursor = "0-0"
        while not self._stopping:
            answer: Any = await redis.xautoclaim(
                EVENTS, GROUP, self.consumer, CLAIM_IDLE_MS, start_id=cursor, count=self.batch
            )
            cursor, claimed = answer[0], answer[1]
            if claimed:
                await self._handle(redis, claimed)
            if _s(cursor) == "0-0":
                return

    async def _handle(self, redis: Redis, entries: list[Entry]) -> None:
        done: list[str] = []
        applied = 0
        for raw_id, fields in entries:
            sid = _s(raw_id)
            if fields and _s(fields.get("type", fields.get(b"type", ""))) in HANDLED:
                try:
                    rec = from_fields(EventRecord, fields)
                except (msgspec.ValidationError, ValueError) as exc:
                    log.warning("projector_event_invalid", id=sid, error=str(exc))
                else:
                    applied += await self._apply(sid, rec)
            done.append(sid)
        if done:
            await redis.xack(EVENTS, GROUP, *done)
        self.applied += applied

    async def _apply(self, sid: str, rec: EventRecord) -> bool:
        try:
            async with transaction(self.db) as s:
                return await apply_event(s, sid, rec)
        except IntegrityError:
            return False  # another consumer applied the same eid at the same moment


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
