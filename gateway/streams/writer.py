"""Batched writes of telemetry, events and snapshots into Redis, and the outage policy.

Batching: producers append to memory and never await. The flush loop sends
everything that accumulated while the previous flush was in flight, so an
idle gateway writes each record at once (latency) and a busy one writes
thousands per round trip (throughput). Two small limits keep a steady trickle
cheap: small telemetry flushes go at most once a millisecond, and robots'
telemetry snapshots at most every 100 ms (``_pace``, ``_snapshots_due_in``);
events never wait. Flushes go out on a connection of their own
(robodine/redisio/resp.py: one write and one wake-up per flush, not
redis-py's pipeline machinery); the spool replay and script loading, which
are rare, use redis-py.

Outage policy (docs/reliability.md):
- events (state changes, command outcomes, alarms) are never dropped: while
  Redis is unreachable they go to the on-disk spool, and are replayed in
  order when it is back, before anything newer;
- telemetry is dropped and counted: a position from a minute ago is worth
  nothing to a live map, and replaying a backlog would delay the fresh data;
- snapshots are latest-wins per robot, kept in memory and written on recovery;
  the writer also keeps every field it wrote into each robot's snapshot (and the
  hashes of ``hash_put``) and writes them all again over each new connection, so
  a Redis that came back empty (restarted without persistence) has them again.
A flush that gets no reply within ``redis.request_timeout_s`` is an outage
too (a Redis that hangs). The outage is logged once when it starts and once
when it ends (robodine/supervisor.py).

A spool that cannot keep events (``spool.max_records`` reached, or its disk
refusing writes) loses the newest and counts them; that is logged once per
episode, and told as alarm events once Redis takes them
(``gateway.spool_overflow`` with how many were lost, ``gateway.spool_degraded``
when the disk refuses). On the way out, however ``run`` ends (closed,
cancelled, crashed), the events still held go to the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import RedisSettings
from gateway.metrics import Stats
from gateway.streams import telemetry_batch
from gateway.streams.spool import Spool, SpoolRecord
from protocol import streams
from protocol.cluster import split_ref
from protocol.messages import Telemetry
from protocol.streams import EventRecord, Level
from robodine.backoff import Backoff
from robodine.redisio.client import open_connection
from robodine.redisio.keys import KEYS
from robodine.redisio.resp import RespConnection
from robodine.supervisor import Supervisor

log = structlog.get_logger("gateway.writer")

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, ResponseError, OSError)
_DEDUPE_SKEW_MS = (
    10_000  # how far before the oldest spooled event to look for copies already in Redis
)
_DEDUPE_MAX_ENTRIES = 100_000
_MIN_GAP_S = 0.001  # between small flushes (StreamWriter._pace)
_SMALL_BATCH = 100
_SNAPSHOT_GAP_S = 0.1  # between writes of the telemetry snapshots (_snapshots_due_in)
_CONN_CHECK_S = 1.0  # an idle writer looks at its connection this often (_idle_wait_s)

# Writes of a fenced hash (``StreamWriter.fence``): applied only while a guard key holds
# the value they were written under. KEYS[1] guard, KEYS[2] hash; ARGV[1] the value,
# then field/value pairs, a value of "\0" deleting its field.
FENCED_HASH = r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '\0' then
    redis.call('HDEL', KEYS[2], ARGV[i])
  else
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
return 1
"""
_FENCED_SHA = hashlib.sha1(FENCED_HASH.encode(), usedforsecurity=False).hexdigest()


class Rider(Protocol):
    """A command that rides in the writer's flushes, its reply handed back (the cluster's
    leases, gateway/cluster/leases.py): at most one per flush, first in it."""

    wake: Callable[[], None]  # set by ``attach``: call it when something is due at once

    @property
    def scripts(self) -> tuple[str, ...]:
        """The Lua scripts it runs, loaded with the writer's own."""
        ...

    def due_in(self, now: float) -> float | None: ...

    def take(self, now: float) -> tuple[Any, ...] | None: ...

    def done(self, reply: Any, now: float) -> None: ...

    def failed(self, now: float) -> None: ...


class StreamWriter:
    def __init__(
        self,
        redis: Redis,
        settings: RedisSettings,
        spool: Spool,
        stats: Stats,
        *,
        src: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.spool = spool
        self.stats = stats
        self.src = src
        self.clock = clock
        self._supervisor = Supervisor(
            log,
            lost="redis_unavailable",
            recovered="redis_recovered",
            backoff=Backoff(0.05, 2.0),
            policy="events spooled to disk, telemetry dropped",
            gauge=lambda up: stats.set("redis_up", "", up),
            clock=clock,
        )
        self._telemetry: deque[bytes] = deque()  # telemetry_batch.sample() of each
        self._buffer_max = settings.telemetry_buffer_max
        self._events: list[SpoolRecord] = []
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._latest: dict[str, bytes] = {}  # robot -> its newest buffered sample
        self._hashes: dict[tuple[str, str], str | None] = {}  # (key, field) -> value; None deletes
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()  # cuts _pace short: events, close, drained
        self._closing = False
        self._finished = False  # closing, and nothing more to flush: ``run`` ends
        self._idle = asyncio.Event()
        self._overflowed = 0
        self._spool_refusing = False  # the last append lost events (logged once per episode)
        self._degraded_told = False  # the spool's disk problem is in rd:events
        self._task: asyncio.Task[None] | None = None  # the task running ``run``
        # What went into Redis and is latest-wins, written again over a new connection:
        self._written_snapshots: dict[str, dict[str, Any]] = {}  # robot -> fields
        self._written_latest: dict[str, bytes] = {}  # robot -> newest sample in its snapshot
        self._written_hashes: dict[tuple[str, str], str] = {}
        self._connections = 0  # flush connections opened so far
        self._script_loaded = False
        self._conn: RespConnection | None = None  # flushes: see robodine/redisio/resp.py
        self._last_flush = 0.0  # loop time of the last small flush (_pace)
        self._snapshots_written = 0.0  # loop time the latest samples went to their snapshots
        self._rider: Rider | None = None
        self._fences: dict[str, tuple[str, str]] = {}  # hash -> (guard key, value)
        # [cluster]: robot -> the fencing token of our lease on it, stamped on its events
        self.fence_of: Callable[[str], int | None] | None = None

    def attach(self, rider: Rider) -> None:
        """Carry ``rider``'s command in the flushes (at most one each)."""
        self._rider = rider
        rider.wake = self._poke

    def fence(self, key: str, guard: str, value: str) -> None:
        """From now on, write hash ``key`` only while ``guard`` holds ``value`` (the leader's
        rd:dispatch, under its lease: a leader that lost it, flushing late or rewriting
        after an outage, changes nothing)."""
        self._fences[key] = (guard, value)
        self._script_loaded = False  # the next flush loads FENCED_HASH first

    def forget(self, key: str) -> None:
        """Drop what is queued for hash ``key`` and what would be written again after a
        reconnect: another process writes it now."""
        self._hashes = {k: v for k, v in self._hashes.items() if k[0] != key}
        self._written_hashes = {k: v for k, v in self._written_hashes.items() if k[0] != key}

    def _poke(self) -> None:
        self._wake.set()
        self._urgent.set()

    # ---- producers: synchronous, never await ------------------------------

    def telemetry_run(self, msgs: Sequence[Telemetry], transport: str, rx: float) -> None:
        """Buffer a batch of samples, all received at ``rx``; past ``buffer_max`` the
        oldest go (counted), and with Redis down none are taken (counted)."""
        if not self._supervisor.up:
            self.stats.inc("telemetry_dropped", "redis_down", len(msgs))
            return
        buffered = self._telemetry
        if not buffered:
            self._wake.set()  # the flush loop waits only when nothing is buffered
        buffered.extend(telemetry_batch.batch_samples(msgs, transport, rx, self._latest))
        over = len(buffered) - self._buffer_max
        if over > 0:  # the oldest go, as one by one
            for _ in range(over):
                buffered.popleft()
            self.stats.inc("telemetry_dropped", "buffer_full", over)

    def event(
        self,
        type: str,
        robot: str = "",
        *,
        level: Level = Level.INFO,
        data: dict[str, Any] | None = None,
        ack: str | None = None,
        extra: dict[str, int] | None = None,
    ) -> str:
        """Queue an event; ``ack`` names a command entry to XACK with it (its id in
        rd:commands, or ``"{stream} {id}"``: protocol.cluster.ack_ref); ``extra``: stream
        fields beside the record's (the leader's ``epoch``)."""
        record = EventRecord(
            eid=uuid.uuid4().hex,
            type=type,
            ts=self.clock(),
            robot=robot,
            level=level,
            src=self.src,
            data=data or {},
        )
        fields = streams.to_fields(record)
        if robot and self.fence_of is not None and (fence := self.fence_of(robot)) is not None:
            fields["fence"] = fence
        if extra:
            fields.update(extra)
        self._events.append(SpoolRecord(KEYS.events, fields, ack))
        self._wake.set()
        self._urgent.set()
        return record.eid

    def snapshot(self, robot: str, **fields: Any) -> None:
        snap = self._snapshots.get(robot)
        if snap is None:
            snap = self._snapshots[robot] = {}
        snap.update(fields)
        self._wake.set()

    def hash_put(self, key: str, field: str, value: str | None) -> None:
        """Latest-wins state in a Redis hash (None deletes the field); kept in memory
        through an outage and written on recovery, like snapshots."""
        self._hashes[key, field] = value
        self._wake.set()

    @property
    def up(self) -> bool:
        """Does Redis take the flushes (False from a failed flush to the next good one)?"""
        return self._supervisor.up

    @property
    def pending(self) -> int:
        return len(self._telemetry) + len(self._events)

    def probe_buffers(self) -> None:
        """The ``buffered`` gauge, read when scraped: what waits in memory for Redis."""
        self.stats.probe("buffered", "telemetry", lambda: len(self._telemetry))
        self.stats.probe("buffered", "events", lambda: len(self._events))

    # ---- the flush loop -----------------------------------------------------

    async def run(self) -> None:
        """Flush until ``close``; then one last flush, and spool what is left.

        However it ends (closed, cancelled, or an error), the events still held
        go to the spool before it returns.
        """
        self._task = asyncio.current_task()
        try:
            await self._run()
        finally:
            self._spool_held()
            if self._conn is not None:
                self._conn.close()
            self._idle.set()

    async def _run(self) -> None:
        await self._supervisor.run(
            self._flush_until_closed,
            errors=OUTAGE_ERRORS,
            running=lambda: not self._finished,
            on_error=self._on_outage,
            sleep=self._sleep,
        )
        await self._spool_events()

    async def _flush_until_closed(self) -> None:
        """Flush what accumulates until closed with nothing left; an outage raises."""
        while True:
            if not self._has_work():
                if self._closing:
                    self._finished = True
                    return
                self._idle.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_wait_s()):
                        await self._wake.wait()
                self._idle.clear()
            self._wake.clear()
            await self._pace()
            if len(self.spool):
                await self._replay_spool()
            await self._flush_once()
            if not self._supervisor.up:
                self._supervisor.ok(
                    telemetry_dropped=self.stats.get("telemetry_dropped", "redis_down")
                )

    async def _pace(self) -> None:
        """Hold small flushes back a little; events and big batches go at once.

        A flush costs a write and a reply, the gateway CPU of many samples:
        under a steady trickle flushing each sample on its own was most of the
        gateway's CPU (docs/performance.md), so small ones go out at most every
        ``_MIN_GAP_S``. An event cuts the wait short.
        """
        self._urgent.clear()
        if self._events or self._closing or len(self._telemetry) >= _SMALL_BATCH:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_flush + _MIN_GAP_S - loop.time()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._urgent.wait()
        self._last_flush = loop.time()

    def _snapshots_due_in(self) -> float | None:
        """Seconds until the telemetry snapshots are due (None: none waiting).

        A robot's snapshot costs Redis an HSET as dear as the sample's XADD, so
        the snapshots of the newest samples are written at most every
        ``_SNAPSHOT_GAP_S`` (the stream has every sample); until then they are
        not work that keeps the writer busy.
        """
        if not self._latest:
            return None
        if self._closing:
            return 0.0
        due = self._snapshots_written + _SNAPSHOT_GAP_S
        return max(0.0, due - asyncio.get_running_loop().time())

    def _idle_wait_s(self) -> float | None:
        """How long an idle writer sleeps: until the snapshots are due, and at most
        ``_CONN_CHECK_S`` while it holds a connection, which it then checks: a Redis
        restarted meanwhile gets the snapshots back even if nothing new is written."""
        due = self._snapshots_due_in()
        if self._rider is not None:
            ride = self._rider.due_in(asyncio.get_running_loop().time())
            if ride is not None:
                due = ride if due is None else min(due, ride)
        if self._conn is None:
            return due
        return _CONN_CHECK_S if due is None else min(due, _CONN_CHECK_S)

    async def close(self, timeout: float) -> None:
        """Flush what is buffered (within ``timeout``), then stop ``run``; events that
        did not make it to Redis in time are in the spool when this returns."""
        self._closing = True
        self._wake.set()
        self._urgent.set()
        task = self._task
        if task is None or task.done():  # not running (never started, or crashed)
            self._spool_held()
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            log.warning("writer_flush_timeout", pending=self.pending)
            task.cancel()  # a flush still in flight gives its events back: spooled
            with contextlib.suppress(BaseException):
                await task
        except Exception:  # noqa: S110 - run's own error: whoever watches its task reports it
            pass

    async def drained(self) -> None:
        """Wait until everything queued so far is in Redis or the spool (for tests and shutdown)."""
        self._snapshots_written = 0.0  # the telemetry snapshots too, without their gap
        self._wake.set()
        self._urgent.set()
        await asyncio.sleep(0)
        while self._has_work() or not self._idle.is_set():  # noqa: ASYNC110 - two conditions
            await asyncio.sleep(0.005)

    def _has_work(self) -> bool:
        return (
            bool(self._telemetry or self._events or self._snapshots or self._hashes)
            or self._snapshots_due_in() == 0.0
            or (self._supervisor.up and (len(self.spool) > 0 or self._alarm_due()))
            or (self._conn is not None and not self._conn.usable)  # lost: reconnect, rewrite
            or (
                self._rider is not None
                and self._rider.due_in(asyncio.get_running_loop().time()) == 0.0
            )
        )

    async def _sleep(self, delay: float) -> None:
        """Sleep out a backoff, but spool new events meanwhile so a crash cannot lose them."""
        deadline = asyncio.get_running_loop().time() + delay
        while not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return
            await self._spool_events()

    async def _flush_once(self) -> None:
        if not self._script_loaded:  # before anything leaves the buffers: this can fail too
            await self.redis.script_load(telemetry_batch.SCRIPT)
            if self._fences:
                await self.redis.script_load(FENCED_HASH)
            for script in self._rider.scripts if self._rider is not None else ():
                await self.redis.script_load(script)
            self._script_loaded = True
        conn = await self._connection()
        if self._supervisor.up and (self._overflowed or self.spool.degraded is not None):
            self._spool_alarms()
        batch = self.settings.batch_max
        events, self._events = self._events[:batch], self._events[batch:]
        n_tel = min(batch, len(self._telemetry))
        tele = [self._telemetry.popleft() for _ in range(n_tel)]
        latest: dict[str, bytes] = {}
        if self._snapshots_due_in() == 0.0:
            latest, self._latest = self._latest, {}
            self._snapshots_written = asyncio.get_running_loop().time()
        snaps, self._snapshots = self._snapshots, {}
        hashes, self._hashes = self._hashes, {}
        commands: list[tuple[Any, ...]] = []
        rider, now = self._rider, asyncio.get_running_loop().time()
        ride = rider.take(now) if rider is not None else None
        if ride is not None:
            commands.append(ride)
        fenced: dict[str, list[str]] = {}
        for (key, field), value in hashes.items():
            if key in self._fences:
                fenced.setdefault(key, []).extend((field, "\0" if value is None else value))
            else:
                commands.append(
                    ("HDEL", key, field) if value is None else ("HSET", key, field, value)
                )
        for key, pairs in fenced.items():
            guard, expected = self._fences[key]
            commands.append(("EVALSHA", _FENCED_SHA, 2, guard, key, expected, *pairs))
        maxlen = self.settings.events_maxlen
        for rec in events:
            flat = [item for pair in rec.fields.items() for item in pair]
            commands.append(("XADD", rec.stream, "MAXLEN", "~", maxlen, "*", *flat))
            if rec.ack:
                stream, entry = split_ref(rec.ack)
                commands.append(("XACK", stream, streams.COMMANDS_GROUP, entry))
        if tele or snaps or latest:
            updated = self.clock()
            for robot, fields in snaps.items():
                fields.update(id=robot, updated=updated)
            commands.append(
                telemetry_batch.command(
                    tele, latest, snaps, self.settings.telemetry_maxlen, updated
                )
            )
        if not commands:
            return
        try:
            replies = await conn.execute(commands)
        except BaseException:
            if ride is not None and rider is not None:
                rider.failed(now)
            # The events may or may not be in Redis now: spool them; the
            # replay skips any that did arrive (by eid). Snapshots go back
            # under anything newer; telemetry is dropped (module docstring).
            self._events[:0] = events
            for sample in latest.values():
                robot, fields = telemetry_batch.snapshot_fields(sample)
                snaps.setdefault(robot, {}).update(fields)
            for robot, fields in snaps.items():
                self._snapshots[robot] = {**fields, **self._snapshots.get(robot, {})}
            self._hashes = {**hashes, **self._hashes}
            if tele:
                self.stats.inc("telemetry_dropped", "redis_down", len(tele))
            raise
        if ride is not None and rider is not None:
            rider.done(replies[0], now)
        if events:
            self.stats.inc("entries_written", KEYS.events, len(events))
        if tele:
            self.stats.inc("entries_written", KEYS.telemetry, len(tele))
        self._written_latest.update(latest)
        for robot, fields in snaps.items():
            self._written_snapshots.setdefault(robot, {}).update(fields)
        for where, value in hashes.items():
            if value is None:
                self._written_hashes.pop(where, None)
            else:
                self._written_hashes[where] = value

    async def _connection(self) -> RespConnection:
        if self._conn is not None and not self._conn.usable:
            self._conn = None
        if self._conn is None:
            self._conn = await open_connection(self.settings, name=f"{self.src}:flush")
            self._connections += 1
            if self._connections > 1:
                self._rewrite_written()
        return self._conn

    def _rewrite_written(self) -> None:
        """A new connection may reach a Redis that lost its data (restarted without
        persistence): queue every snapshot field and hash field written so far again,
        under anything newer still waiting. Latest-wins, so writing them twice is harmless.
        """
        for robot, fields in self._written_snapshots.items():
            self._snapshots[robot] = {**fields, **self._snapshots.get(robot, {})}
        self._latest = {**self._written_latest, **self._latest}
        for key, value in self._written_hashes.items():
            self._hashes.setdefault(key, value)

    # ---- outage and recovery ------------------------------------------------

    async def _on_outage(self, exc: BaseException) -> None:
        """After a failed flush (logged by the supervisor): a new connection next time,
        telemetry dropped, events to the spool."""
        self._script_loaded = False  # a restarted Redis has forgotten it
        if self._conn is not None and (not isinstance(exc, ResponseError) or _demoted(exc)):
            self._conn.close()  # lost, silent or no master any more: connect afresh
            self._conn = None
        if self._telemetry:
            self.stats.inc("telemetry_dropped", "redis_down", len(self._telemetry))
            self._telemetry.clear()
            self._latest.clear()
        await self._spool_events()
        if self._closing:
            self._finished = True  # no more attempts: what is left goes to the spool

    async def _spool_events(self) -> None:
        if not self._events:
            return
        records, self._events = self._events, []
        self._spooled(records, await asyncio.to_thread(self.spool.append, records))

    def _spool_held(self) -> None:
        """The way out: every event still held goes to the spool now, on this thread, so
        that no further cancellation can come between them and the disk."""
        if self._events:
            records, self._events = self._events, []
            self._spooled(records, self.spool.append(records))

    def _spooled(self, records: list[SpoolRecord], lost: int) -> None:
        """Count what the spool took and lost; log once when it starts and stops losing."""
        self.stats.inc("events_spooled", "", len(records) - lost)
        degraded = self.spool.degraded
        self.stats.set("spool_degraded", "", 1 if degraded else 0)
        if not degraded:
            self._degraded_told = False
        if lost:
            self._overflowed += lost
            self.stats.inc("spool_overflow", "", lost)
            if not self._spool_refusing:
                self._spool_refusing = True
                log.error(
                    "spool_full",
                    lost=lost,
                    path=str(self.spool.path),
                    reason=degraded or f"max_records ({self.spool.max_records}) reached",
                    policy="newest events lost and counted until the spool takes them again",
                )
        elif self._spool_refusing:
            self._spool_refusing = False
            log.info("spool_accepting", path=str(self.spool.path))

    def _alarm_due(self) -> bool:
        told = self._degraded_told or self.spool.degraded is None
        return bool(self._overflowed) or not told

    def _spool_alarms(self) -> None:
        """Tell in rd:events what the spool lost or why it cannot write (Redis is up)."""
        degraded = self.spool.degraded
        if degraded is not None and not self._degraded_told:
            self._degraded_told = True
            self.stats.set("spool_degraded", "", 1)
            self.event(
                streams.EventType.GATEWAY_SPOOL_DEGRADED,
                level=Level.ALARM,
                data={"path": str(self.spool.path), "error": degraded},
            )
        if self._overflowed:
            self.event(
                streams.EventType.GATEWAY_SPOOL_OVERFLOW,
                level=Level.ALARM,
                data={"lost": self._overflowed},
            )
            self._overflowed = 0

    async def _replay_spool(self) -> None:
        """Write spooled events in order; skip those a failed pipeline already delivered."""
        await self._spool_events()  # newer events queue behind the spooled ones
        seen = await self._eids_in_redis()
        replayed = 0
        while len(self.spool):
            rows = await asyncio.to_thread(self.spool.peek, self.settings.batch_max)
            if not rows:  # the disk would not give them: they stay for the next start
                break
            pipe = self.redis.pipeline(transaction=False)
            for _, rec in rows:
                if rec.fields.get("eid") not in seen:
                    pipe.xadd(
                        rec.stream,
                        cast(Any, rec.fields),  # redis-py's dict type is invariant
                        maxlen=self.settings.events_maxlen,
                        approximate=True,
                    )
                    replayed += 1
                if rec.ack:
                    stream, entry = split_ref(rec.ack)
                    pipe.xack(stream, streams.COMMANDS_GROUP, entry)
            await pipe.execute()
            await asyncio.to_thread(self.spool.delete_through, rows[-1][0])
        self.stats.inc("events_replayed", "", replayed)
        log.info("spool_replayed", events=replayed)

    async def _eids_in_redis(self) -> set[str]:
        first = await asyncio.to_thread(self.spool.peek, 1)
        if not first:
            return set()
        start_ms = int(float(first[0][1].fields["ts"]) * 1000) - _DEDUPE_SKEW_MS
        start: str = f"{max(start_ms, 0)}-0"
        seen: set[str] = set()
        src = self.src.encode()
        for _ in range(_DEDUPE_MAX_ENTRIES // 1000):
            entries = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                await self.redis.xrange(KEYS.events, min=start, max="+", count=1000),
            )
            for _, fields in entries:
                if fields.get(b"src") == src:
                    seen.add(fields[b"eid"].decode())
            if len(entries) < 1000:
                break
            start = "(" + entries[-1][0].decode()
        return seen


def _demoted(exc: BaseException) -> bool:
    """The server is a replica now (a Sentinel failover): the next connection asks the
    sentinels for the master."""
    return str(exc).startswith(("READONLY", "UNBLOCKED"))


__all__ = ["OUTAGE_ERRORS", "RedisError", "StreamWriter"]
