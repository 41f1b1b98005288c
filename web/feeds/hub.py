"""The fan-out hub: one blocking XREAD per stream group per process, many local clients.

Each reader owns its own Redis connection for its XREADs
(robodine/redisio/resp.py: a read costs less CPU than through redis-py, and a
busy feed reads up to a thousand times a second) whose reply timeout is
longer than its BLOCK and which never retries by itself: its supervisor
(robodine/supervisor.py) reconnects with backoff and logs the outage once when
it starts and once when it ends.
Its other commands (XINFO, and XRANGE for clients catching up) go through the
shared client. Each batch
is turned into frames once per topic (not per client) and offered to every
local subscription without awaiting, so one slow client cannot hold up the
others (web/feeds/subscription.py has the drop policy).

``position`` is the newest id a reader has read. A subscription that is
behind re-reads the stream with XRANGE (a plain, non-blocking command on the
shared client) until its cursor reaches ``position``; the switch to live
frames happens without an await, so no entry falls between the two.

Latest-wins streams skip ahead. When a read returns a full batch
(``web.hub_batch`` entries: more are waiting) and every subscriber of that
stream is latest-wins, the reader reads the newest ``hub_batch`` entries
instead and goes on from there: the skipped samples were superseded anyway,
and reading them in order would make every client's latency grow for as long
as the load lasts. While it lasts, a one-stream reader that has just skipped
reads the newest page after its position straight away (one XREVRANGE), not a
full XREAD it would throw away, and goes back to the blocking XREAD when a
page comes back short. A latest-wins subscription catching up reads the
newest page after its cursor the same way. A robot whose newest sample fell
in a skipped stretch shows it with its next sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import WebSettings
from robodine.backoff import Backoff
from robodine.redisio.replies import Entry, entries_of, field_map, stream_info
from robodine.redisio.resp import RespConnection
from robodine.redisio.streamid import ZERO, StreamId
from robodine.supervisor import Supervisor
from web.feeds.frames import Frame, FrameBatch, Lagging, frame
from web.feeds.subscription import Delivery, Subscription

if TYPE_CHECKING:
    from web.feeds.topic import Topic, TopicContext

log = structlog.get_logger("web.hub")

Tap = Callable[[str, list[Entry]], Awaitable[None]]
_OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)

# WebSocket close codes of the feeds (docs/api.md, section Close codes).
CLOSE_TOO_SLOW = 4008
CLOSE_STREAM_RESET = 1012  # "service restart": the stream's history is gone, resubscribe
CLOSE_INTERNAL = 1011


def _reset(topic: Topic, last: StreamId) -> tuple[str | None, str]:
    """(since, close reason) for a feed of a stream that was reset, ``last`` being the new
    stream's last id when the reset was seen.

    Everything after ``last`` is new to every client: entries written since (the
    gateway's spool replayed after a data-losing restart, say) have newer ids, and
    what the new stream held up to ``last`` is what survived of the old one, which
    the clients had read. A topic whose stream is its state (events, chat) resumes
    from there; the others start over with a fresh snapshot.
    """
    if topic.resume_after_reset:
        return str(last), f"the stream was reset; reconnect with since={last}"
    return None, "the stream was reset; reconnect without since"


def _drop(task: asyncio.Task[Any] | None) -> None:
    """Cancel a read nobody will wait for, and retrieve its outcome (no 'never retrieved')."""
    if task is not None:
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


class FeedEnded(Exception):
    def __init__(self, code: int, reason: str, since: str | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.since = code, reason, since


@dataclass(eq=False)
class Reader:
    name: str
    streams: list[str]
    conn: RespConnection | None = None  # its XREADs; (re)opened when not usable
    position: dict[str, StreamId] = field(default_factory=dict)
    topics: dict[str, dict[Topic, set[Subscription]]] = field(default_factory=dict)
    taps: dict[str, list[Tap]] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    ahead_of_load: bool = False  # it skipped ahead last read: read the newest page next (docstring)


class Hub:
    def __init__(
        self,
        redis: Redis,
        settings: WebSettings,
        ctx: TopicContext,
        *,
        connect: Callable[[str], Awaitable[RespConnection]],
    ) -> None:
        self.redis = redis  # shared command client (XRANGE for catch-up)
        self.settings = settings
        self.ctx = ctx
        self._connect = connect  # opens a reader's connection for its blocking reads
        self._readers: list[Reader] = []
        self._by_stream: dict[str, Reader] = {}
        self._stopping = False
        self._topic_names: set[str] = set()
        self._dropped_ended = 0  # dropped by subscriptions that have ended
        self.stats = {
            "entries": 0,
            "frames_offered": 0,
            "fell_behind": 0,
            "too_slow": 0,
            "skipped_ahead": 0,
            "read_newest": 0,  # reads that went straight to the newest page (module docstring)
        }

    # ---- wiring (before run) --------------------------------------------------

    def add_reader(self, name: str, streams: Sequence[str]) -> None:
        reader = Reader(name, list(streams))
        for s in streams:
            if s in self._by_stream:
                raise ValueError(f"stream {s!r} already has a reader")
            self._by_stream[s] = reader
            reader.topics[s] = {}
            reader.taps[s] = []
        self._readers.append(reader)

    def add_stream(self, reader: str, stream: str, position: StreamId) -> None:
        """Give a running reader one more stream (a chat room added at run time), read
        after ``position`` from the reader's next XREAD on (within ``hub_block_ms``)."""
        if stream in self._by_stream:
            return
        r = next(x for x in self._readers if x.name == reader)
        r.position[stream] = position  # first: a read being built may already see it
        r.topics[stream] = {}
        r.taps[stream] = []
        self._by_stream[stream] = r
        r.streams.append(stream)

    def add_tap(self, stream: str, tap: Tap) -> None:
        """An in-process consumer of every batch (chat relay, presence)."""
        self._by_stream[stream].taps[stream].append(tap)

    # ---- running ----------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                for r in self._readers:
                    tg.create_task(self._read_loop(r), name=f"hub-reader-{r.name}")
        finally:
            for r in self._readers:
                if r.conn is not None:
                    r.conn.close()

    def stop(self) -> None:
        """Make the readers leave their loops (then cancel the ``run`` task).

        The flag is needed besides the cancellation: measured with redis-py 8.1 on
        CPython 3.11, a task cancelled while blocked in XREAD sometimes gets the
        reply instead of the CancelledError (about 1 in 150), and a loop that only
        relies on cancellation then runs on.
        """
        self._stopping = True

    async def wait_ready(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                for r in self._readers:
                    await r.ready.wait()
        except TimeoutError:
            return False
        return True

    async def _read_loop(self, r: Reader) -> None:
        """Read and fan out until stopped; any failure is logged once, then retried with backoff.

        This is the supervisor of the reader: an outage, a Redis error (say
        WRONGTYPE on a stream key) or a bug in a topic must not end the fan-out
        of every other stream, so it alone catches everything (a failure that is
        not an outage is logged with its traceback, as ``hub_reader_failed``).
        """
        supervisor = Supervisor(
            log,
            lost="hub_reader_lost",
            recovered="hub_reader_recovered",
            backoff=Backoff(0.05, 2.0),
            bug="hub_reader_failed",
            outages=_OUTAGE,
            context={"reader": r.name},
        )
        await supervisor.run(
            lambda: self._read_until_stopped(r, supervisor),
            errors=Exception,  # the supervisor (docstring)
            running=lambda: not self._stopping,
            on_error=lambda _: r.ready.clear(),  # re-read the positions: Redis restarted empty?
        )

    async def _read_until_stopped(self, r: Reader, supervisor: Supervisor) -> None:
        ahead: asyncio.Task[Any] | None = None  # the next XREAD, in flight during a fan-out
        try:
            while not self._stopping:
                if not r.ready.is_set():
                    await self._init_positions(r)
                reply = await (ahead if ahead is not None else self._xread(r, r.position))
                ahead = None
                batches = await self._batches(r, reply)
                # Ask for what comes next before fanning this out: Redis answers
                # while the clients are written to, so the round trip costs no time.
                after = {
                    **r.position,
                    **{s: StreamId.parse(e[-1][0]) for s, e in batches},
                }
                ahead = asyncio.create_task(self._xread(r, after))
                await asyncio.sleep(0)  # the request goes out first
                for stream, entries in batches:
                    await self._dispatch(r, stream, entries)
                if not supervisor.up:
                    supervisor.ok()
        finally:
            _drop(ahead)

    async def _xread(self, r: Reader, after: dict[str, StreamId]) -> list[tuple[str, list[Entry]]]:
        """(stream, entries) with new entries, waiting up to ``hub_block_ms`` for some (or,
        while a latest-only stream is over the load, its newest page without waiting)."""
        if r.conn is None or not r.conn.usable:
            r.conn = await self._connect(r.name)
        if r.ahead_of_load and self._latest_only(r, r.streams[0]):  # module docstring
            stream = r.streams[0]
            entries = await self._read_newest(r, stream, after[stream].exclusive)
            return [(stream, entries)] if entries else []
        r.ahead_of_load = False  # what _batches reads: this reply is the oldest page
        (reply,) = await r.conn.execute(
            [
                (
                    "XREAD",
                    "COUNT",
                    self.settings.hub_batch,
                    "BLOCK",
                    self.settings.hub_block_ms,
                    "STREAMS",
                    *r.streams,
                    *[str(after.get(s, r.position[s])) for s in r.streams],
                )
            ]
        )
        # RESP2: [[stream, [[id, [field, value, ...]], ...]], ...], or nil when nothing came.
        return [(stream, [(i, field_map(f)) for i, f in raw]) for stream, raw in reply or ()]

    async def _batches(
        self, r: Reader, reply: list[tuple[str, list[Entry]]]
    ) -> list[tuple[str, list[Entry]]]:
        """(stream, entries) of a read; a full batch of a latest-only stream skips ahead."""
        out: list[tuple[str, list[Entry]]] = []
        newest, r.ahead_of_load = r.ahead_of_load, False
        for name, entries in reply:
            if len(entries) >= self.settings.hub_batch and self._latest_only(r, name):
                if newest:  # the newest page already, and full: the load goes on
                    self.stats["read_newest"] += 1
                else:
                    first = entries[0][0]
                    entries = await self._read_newest(r, name, first)
                    if entries and entries[0][0] != first:
                        self.stats["skipped_ahead"] += 1
                r.ahead_of_load = len(r.streams) == 1
            if entries:
                out.append((name, entries))
        return out

    async def _init_positions(self, r: Reader) -> None:
        for s in r.streams:
            info = await stream_info(self.redis, s)
            old = r.position.get(s)
            if old is not None and info.last < old:
                # Redis came back without the data we had read: every cursor is void.
                log.warning("stream_reset", stream=s, was=str(old), now=str(info.last))
                for topic, subs in r.topics[s].items():
                    since, reason = _reset(topic, info.last)
                    for sub in subs:
                        sub.end(CLOSE_STREAM_RESET, reason, since)
                r.position[s] = info.last
            elif old is None:
                r.position[s] = info.last
        r.ready.set()

    def _latest_only(self, r: Reader, stream: str) -> bool:
        """May this stream's reader skip entries? Only if nobody needs every one."""
        return not r.taps[stream] and all(
            t.delivery is Delivery.LATEST for t, subs in r.topics[stream].items() if subs
        )

    async def _read_newest(self, r: Reader, stream: str, low: str) -> list[Entry]:
        """``_newest`` on the reader's own connection (idle between its reads): skipping
        ahead happens when the web tier is busiest, where redis-py's reply parsing cost
        several times the read itself."""
        assert r.conn is not None  # it has just read
        (raw,) = await r.conn.execute(
            [("XREVRANGE", stream, "+", low, "COUNT", self.settings.hub_batch)]
        )
        return [(i, field_map(f)) for i, f in reversed(raw or ())]

    async def _newest(self, client: Redis, stream: str, low: str) -> list[Any]:
        """The newest ``hub_batch`` entries not below ``low`` (an XRANGE bound), in stream order."""
        raw = await client.xrevrange(stream, max="+", min=low, count=self.settings.hub_batch)
        return list(reversed(raw or ()))

    async def _dispatch(self, r: Reader, stream: str, entries: list[Entry]) -> None:
        if not entries:
            return
        # The position moves first: a subscription catching up meanwhile cannot go
        # live before it has read this batch itself (module docstring).
        r.position[stream] = StreamId.parse(entries[-1][0])
        self.stats["entries"] += len(entries)
        for tap in r.taps[stream]:
            try:
                await tap(stream, entries)
            except Exception:  # a tap's bug must not stop the fan-out
                log.exception("hub_tap_failed", stream=stream)
        computed: list[tuple[set[Subscription], Sequence[Frame]]] = []
        for topic, subs in r.topics[stream].items():
            if not subs:
                continue
            try:
                frames = await topic.frames(self.ctx, entries)
            except RedisError as exc:
                # Its subscribers re-read this batch from the stream themselves.
                log.warning("hub_frames_failed", topic=topic.name, error=str(exc))
                for sub in list(subs):
                    sub.fall_behind()
                continue
            except Exception:
                log.exception("hub_frames_bug", topic=topic.name)
                for sub in list(subs):
                    sub.end(CLOSE_INTERNAL, "internal error; reconnect with since")
                continue
            shared = FrameBatch(frames) if topic.delivery is Delivery.LATEST else frames
            computed.append((subs, shared))  # latest: one message for every client keeping up
        for subs, offered in computed:  # synchronous from here on
            self.stats["frames_offered"] += len(offered) * len(subs)
            for sub in list(subs):
                sub.offer(offered)

    # ---- subscriptions -------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, sub: Subscription) -> AsyncIterator[Subscription]:
        r = self._by_stream[sub.stream]
        subs = r.topics[sub.stream].setdefault(sub.topic, set())
        subs.add(sub)
        self._topic_names.add(sub.topic.name)
        try:
            yield sub
        finally:
            subs.discard(sub)
            self._dropped_ended += sub.dropped

    def streams(self) -> list[str]:
        return list(self._by_stream)

    def topic_names(self) -> list[str]:
        """Every topic that has had a subscriber in this process (the metrics' labels)."""
        return sorted(self._topic_names)

    def dropped_total(self) -> int:
        """Latest-wins frames replaced before a slow client took them, ever (a counter)."""
        return self._dropped_ended + sum(s.dropped for s in self.subscriptions())

    def subscriptions(self) -> list[Subscription]:
        return [
            s for r in self._readers for t in r.topics.values() for ss in t.values() for s in ss
        ]

    def position(self, stream: str) -> StreamId | None:
        r = self._by_stream[stream]
        return r.position.get(stream) if r.ready.is_set() else None

    async def next_frames(self, sub: Subscription, idle: float | None = None) -> Sequence[Frame]:
        """The next frames for one client; waits until there are some.

        Returns [] after ``idle`` seconds without any (SSE pings, token expiry).
        Raises FeedEnded when the hub ends the subscription (too slow, stream reset).
        """
        deadline = None if idle is None else time.monotonic() + idle
        while True:
            if sub.ended:
                raise FeedEnded(*sub.ended)
            out = sub.take_notices()
            if sub.queued:
                return out + sub.take_queue()
            if sub.behind:
                if sub.lag_notice and sub.delivery is Delivery.RELIABLE:
                    sub.lag_notice = False
                    self.stats["fell_behind"] += 1
                    out.append(self._lagging(sub, behind=True))
                    log.info("client_behind", topic=sub.topic.name, cursor=str(sub.cursor))
                was_lagging = sub.behind_since is not None
                out += await self._catch_up_page(sub)
                if sub.is_live() and was_lagging and sub.delivery is Delivery.RELIABLE:
                    out.append(self._lagging(sub, behind=False))
                if out:
                    return out
                continue
            ready, wait = sub.take_latest()
            if ready:
                if sub.lag_notice:
                    sub.lag_notice = False
                    return [*out, *ready, self._lagging(sub, behind=True)]
                return [*out, *ready] if out else ready  # a kept FrameBatch stays one
            if out:
                return out
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                wait = left if wait is None else min(wait, left)
            await sub.wait(wait)

    def _lagging(self, sub: Subscription, *, behind: bool) -> Frame:
        policy = (
            "nothing lost: missed entries are replayed from the stream"
            if sub.delivery is Delivery.RELIABLE
            else "latest wins: older samples skipped"
        )
        return frame(
            Lagging(topic=sub.topic.name, behind=behind, policy=policy, dropped=sub.dropped)
        )

    async def _catch_up_page(self, sub: Subscription) -> list[Frame]:
        if sub.behind_since is not None and (
            sub.clock() - sub.behind_since > self.settings.lag_timeout_s
        ):
            self.stats["too_slow"] += 1
            log.info("client_too_slow", topic=sub.topic.name, cursor=str(sub.cursor))
            sub.end(CLOSE_TOO_SLOW, "too far behind; reconnect with since=<last id>")
            return []
        reader = self._by_stream[sub.stream]
        if not reader.ready.is_set():
            await sub.wait(0.5)  # Redis is down: wait for the reader, not in a busy loop
            return []
        if sub.check_gap:
            sub.check_gap = False
            info = await stream_info(self.redis, sub.stream)
            if info.lost_after(sub.cursor):
                sub.end(CLOSE_TOO_SLOW, "fell behind further than the stream keeps; resubscribe")
                return []
        read_before = reader.position.get(sub.stream, ZERO)  # all in Redis before the XRANGE
        entries: Any
        if sub.delivery is Delivery.LATEST:  # skip ahead (module docstring)
            entries = await self._newest(self.redis, sub.stream, sub.cursor.exclusive)
        else:
            entries = await self.redis.xrange(
                sub.stream, min=sub.cursor.exclusive, max="+", count=self.settings.hub_batch
            )
        out: list[Frame] = []
        if entries:
            batch = entries_of(entries)
            frames = await sub.topic.frames(self.ctx, batch)
            if sub.delivery is Delivery.LATEST:
                sub.absorb(frames)
            else:
                out = [
                    f
                    for f in frames
                    if f.id is not None and f.id > sub.cursor and sub.filter.accepts(f)
                ]
            sub.cursor = max(sub.cursor, StreamId.parse(batch[-1][0]))
        position = reader.position.get(sub.stream, ZERO)
        if not entries:  # what the hub had read before the XRANGE was deleted (XDEL, trim)
            sub.cursor = max(sub.cursor, read_before)
        if sub.cursor >= position:  # no await between this check and going live
            sub.caught_up()
        return out
