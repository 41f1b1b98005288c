"""The outbox relay: committed outbox rows -> rd:commands, each exactly once.

The order transaction writes an outbox row; this relay XADDs it to
rd:commands (the row's ``id`` is the command id, docs/orders.md) and then
marks it sent. A crash between the XADD and the mark would send it again, so
the XADD runs in a Lua script together with a marker key ``rd:outbox:{id}``
holding the stream id: a second attempt finds the marker and returns the
first stream id instead of adding a second entry. Several web processes may
relay at once; each publishes rows in ``seq`` order, so an order's cancel
never overtakes its place.

It wakes at once after a commit (``wake``) and polls every ``poll_s`` as a
fallback (another process's commit, a Redis outage that ended). It stops on
a flag, not only on cancellation (docs/api.md, known limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.streams import CommandRecord, to_fields
from robodine.backoff import Backoff
from robodine.redisio.keys import KEYS
from robodine.supervisor import Supervisor
from web.db.models import utcnow
from web.db.orders import OutboxRow
from web.db.session import transaction

log = structlog.get_logger("web.outbox")

MARKER_TTL_S = 7 * 24 * 3600
KEEP_SENT = timedelta(days=7)
PRUNE_EVERY_S = 3600.0

# KEYS[1] marker, KEYS[2] stream; ARGV[1] marker TTL, then field, value, field, value ...
_PUBLISH = """
local sid = redis.call('GET', KEYS[1])
if sid then return sid end
sid = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
redis.call('SET', KEYS[1], sid, 'EX', ARGV[1])
return sid
"""


def command_of(row: OutboxRow) -> CommandRecord:
    return CommandRecord(
        id=row.id,
        robot="",
        action=row.type.rsplit(".", 1)[-1],
        ts=time.time(),
        args=orjson.loads(row.args),
        type=row.type,
        source=row.source,
    )


class OutboxRelay:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        redis: Redis,
        *,
        poll_s: float = 1.0,
        batch: int = 100,
    ) -> None:
        self.db = db
        self.redis = redis
        self.poll_s = poll_s
        self.batch = batch
        self._script = redis.register_script(_PUBLISH)
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_prune = 0.0
        self.sent = 0
        self._supervisor = Supervisor(
            log,
            lost="outbox_relay_unavailable",
            recovered="outbox_relay_recovered",
            backoff=Backoff(0.1, poll_s * 5),
        )

    def wake(self) -> None:
        """An outbox row was committed: publish now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        await self._supervisor.run(
            self._round,
            errors=(RedisError, SQLAlchemyError, OSError),
            running=lambda: not self._stopping,
        )

    async def _round(self) -> None:
        """Publish what is waiting; then wait for a commit (or ``poll_s``) unless more is."""
        self._wake.clear()  # a commit from here on wakes the next round
        n = await self.publish_pending()
        await self._maybe_prune()
        self._supervisor.ok()
        if n >= self.batch:
            return  # more waiting
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_s):
                await self._wake.wait()

    async def publish_pending(self) -> int:
        """Publish up to ``batch`` unsent rows in order; returns how many."""
        async with self.db() as s:
            rows = (
                await s.scalars(
                    select(OutboxRow)
                    .where(OutboxRow.sent_at.is_(None))
                    .order_by(OutboxRow.seq)
                    .limit(self.batch)
                )
            ).all()
        for row in rows:
            sid = await self.publish(row)
            async with transaction(self.db) as s:
                await s.execute(
                    update(OutboxRow)
                    .where(OutboxRow.seq == row.seq)
                    .values(sent_at=utcnow(), stream_id=sid)
                )
            self.sent += 1
            log.info("outbox_sent", command=row.id, type=row.type, stream_id=sid)
        return len(rows)

    async def publish(self, row: OutboxRow) -> str:
        """XADD the row's command unless its marker says it is already in the stream."""
        fields = to_fields(command_of(row))
        argv: list[str | int | float] = [MARKER_TTL_S]
        for k, v in fields.items():
            argv += [k, v]
        sid = await self._script(keys=[KEYS.outbox(row.id), KEYS.commands], args=argv)
        return sid.decode() if isinstance(sid, bytes) else str(sid)

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        async with transaction(self.db) as s:
            await s.execute(delete(OutboxRow).where(OutboxRow.sent_at < utcnow() - KEEP_SENT))
