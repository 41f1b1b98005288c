"""One client's place in one stream: bounded, filtered, and honest about lag.

Drop policy, per delivery:
- ``reliable`` (events, todos, chat): a bounded queue. When it is full the
  client is *behind*: the hub stops queueing for it, and its feed re-reads the
  stream from its cursor (XRANGE) until it is level again. Nothing is dropped
  and memory stays bounded; a client behind for longer than ``lag_timeout``
  is disconnected (close 4008) and resumes with ``since``.
- ``latest`` (telemetry, robots): one pending frame per key (robot); a newer
  one replaces it. ``max_hz`` sends each key at most that often. Replacements
  the client did not ask for (it was slow) are counted and reported (a
  ``lagging`` notice at most once a second, with the count so far).
  A client without filters or ``max_hz`` keeps the hub's batch itself (shared
  by every client, one frame per key already), and when the next one comes
  before its feed sent it, the two batches' shared merge
  (``FrameBatch.after``): falling behind costs it no work per frame either,
  which matters because clients fall behind together when the machine is
  busy. Only a filtered or throttled client merges per key on its own.
  When its feed has registered a ``direct`` writer
  and that writer can take the batch at once (nothing pending, the socket
  idle and not backed up), the batch is written from the hub's loop without
  waking the client's task at all.

A subscription starts *behind*, at the cursor of its snapshot or ``since``:
the same catch-up brings it level with the hub without a gap or a duplicate.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from robodine.redisio.streamid import StreamId
from web.feeds.frames import Frame, FrameBatch

if TYPE_CHECKING:
    from web.feeds.topic import Topic

LAG_NOTICE_EVERY_S = 1.0  # latest-wins: at most one `lagging` notice a second per client
_NO_BATCH = FrameBatch()


class Delivery(StrEnum):
    RELIABLE = "reliable"
    LATEST = "latest"


@dataclass(frozen=True, slots=True)
class Filter:
    robots: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    levels: frozenset[str] = frozenset()
    keys: frozenset[str] = frozenset()  # what a frame is about besides a robot (an order id)

    @classmethod
    def make(
        cls,
        robots: Iterable[str] = (),
        types: Iterable[str] = (),
        levels: Iterable[str] = (),
        keys: Iterable[str] = (),
    ) -> Filter:
        types = list(types)
        return cls(
            frozenset(robots),
            frozenset(t for t in types if not t.endswith("*")),
            tuple(t[:-1] for t in types if t.endswith("*")),
            frozenset(levels),
            frozenset(keys),
        )

    def accepts(self, f: Frame) -> bool:
        if self.keys and f.key not in self.keys:
            return False
        if self.robots and f.robot not in self.robots:
            return False
        if self.levels and f.level not in self.levels:
            return False
        if self.types or self.prefixes:
            return f.type in self.types or any(f.type.startswith(p) for p in self.prefixes)
        return True


class Subscription:
    def __init__(
        self,
        topic: Topic,
        flt: Filter,
        *,
        cursor: StreamId,
        queue_max: int,
        max_hz: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self.stream = topic.stream
        self.delivery = topic.delivery
        self.filter = flt
        self.cursor = cursor  # last stream id queued or skipped by the filter
        self.queue_max = queue_max
        self.min_interval = 1.0 / max_hz if max_hz else 0.0
        self.clock = clock
        self.behind = True  # reading from Redis, not from the hub
        self.behind_since: float | None = None  # set when it *fell* behind (not the start)
        self.lag_notice = False  # a `lagging` frame is owed
        self.check_gap = False  # once per lag episode: is the cursor still in the stream?
        self.dropped = 0  # latest-wins replacements caused by a slow client
        self.ended: tuple[int, str, str | None] | None = None  # (code, reason, since)
        self._queue: deque[Frame] = deque()
        self._latest: dict[str, tuple[int, Frame]] = {}  # key -> (offer generation, frame)
        self._plain = self.min_interval == 0 and flt == Filter()  # may keep the hub's batch
        self._batch = _NO_BATCH  # the hub's batch (or a merge of them), pending as is
        self.direct: Callable[[FrameBatch], bool] | None = None  # writes a batch now, or False
        self._next_at: dict[str, float] = {}
        self._notices: dict[str, Frame] = {}
        self._lag_notice_at = 0.0  # latest-wins: no `lagging` notice before (clock)
        self._gen = 0
        self._wake = asyncio.Event()

    # ---- called by the hub (synchronous: no await between offer and cursor) -------

    def offer(self, frames: Sequence[Frame]) -> None:
        if self.behind or self.ended:
            return
        self._gen += 1
        if self.delivery is Delivery.RELIABLE:
            for f in frames:
                if f.id is None or f.id <= self.cursor:
                    continue
                if not self.filter.accepts(f):
                    self.cursor = f.id
                    continue
                if len(self._queue) >= self.queue_max:
                    self.fall_behind()
                    break
                self._queue.append(f)
                self.cursor = f.id
        elif self._offer_latest(frames):
            return  # written already: nothing to wake the feed for
        self._wake.set()

    def _offer_latest(self, frames: Sequence[Frame]) -> bool:
        """Write or keep the hub's batch as is when nothing is pending, else keep its shared
        merge with the kept one; per key only for filtered or throttled clients (docstring).

        ``frames`` holds at most one frame per key (topics coalesce each batch).
        True when the batch was written directly.
        """
        if not frames:
            return False
        first = frames[0].id
        if (
            self._plain
            and not self._latest
            and isinstance(frames, FrameBatch)
            and first is not None
            and first > self.cursor
        ):
            self.cursor = frames[-1].id or self.cursor
            kept = self._batch
            if kept:  # the feed has not sent the last one: the merge every such client shares
                self._batch = frames.after(kept)
                if self._batch.superseded:
                    self._count_dropped(self._batch.superseded)
                return False
            if (
                self.direct is not None
                and not (self.lag_notice or self._notices)
                and self.direct(frames)
            ):
                return True
            self._batch = frames
            return False
        self.absorb(frames)
        return False

    def _unbatch(self) -> None:
        """The kept batch was not sent before more came: its frames join the per-key map."""
        for f in self._batch:
            self._latest[f.key] = (self._gen - 1, f)
        self._batch = _NO_BATCH

    def _count_dropped(self, n: int) -> None:
        self.dropped += n
        now = self.clock()
        if now >= self._lag_notice_at:
            self.lag_notice = True
            self._lag_notice_at = now + LAG_NOTICE_EVERY_S

    def absorb(self, frames: Sequence[Frame]) -> None:
        """Latest-wins: keep the newest frame per key."""
        self._unbatch()
        now = self.clock()
        replaced = 0
        for f in frames:
            if f.id is None or f.id <= self.cursor:
                continue
            self.cursor = f.id
            if not self.filter.accepts(f):
                continue
            old = self._latest.get(f.key)
            if old is not None and old[0] < self._gen and self._next_at.get(f.key, 0.0) <= now:
                replaced += 1  # not throttled by max_hz: the client was too slow
            self._latest[f.key] = (self._gen, f)
        if replaced:
            self._count_dropped(replaced)

    def notice(self, f: Frame, key: str | None = None) -> None:
        """A side frame (presence, ...): latest per key, sent before queued frames."""
        self._notices[key or f.name] = f
        self._wake.set()

    def end(self, code: int, reason: str, since: str | None = None) -> None:
        """Stop the feed: it closes with ``code`` (SSE: goodbye); ``since`` is where a client
        resumes from, when the server knows better than the client's last id."""
        if self.ended is None:
            self.ended = (code, reason, since)
        self._wake.set()

    def fall_behind(self) -> None:
        """Stop taking frames from the hub; the feed re-reads the stream from the cursor."""
        if self.behind:
            return
        self.behind = True
        self.behind_since = self.clock()
        self.lag_notice = True
        self.check_gap = True

    # ---- called by the feed --------------------------------------------------

    def is_live(self) -> bool:
        return not self.behind

    def caught_up(self) -> None:
        self.behind = False
        self.behind_since = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def pending_latest(self) -> int:
        """Latest-wins frames waiting for this client (at most one per key, or one batch)."""
        return len(self._latest) + len(self._batch)

    def take_notices(self) -> list[Frame]:
        out = list(self._notices.values())
        self._notices.clear()
        return out

    def take_queue(self, limit: int = 256) -> list[Frame]:
        n = min(limit, len(self._queue))
        return [self._queue.popleft() for _ in range(n)]

    def take_latest(self) -> tuple[Sequence[Frame], float | None]:
        """Frames whose key may be sent now, and how long until the next one may.

        A kept batch comes back as it is (the hub's FrameBatch, whose message is
        built once for every client that sends it).
        """
        if self._batch:
            kept, self._batch = self._batch, _NO_BATCH
            return kept, None
        if not self._latest:
            return [], None
        now = self.clock()
        ready: list[Frame] = []
        wait: float | None = None
        for key in list(self._latest):
            due = self._next_at.get(key, 0.0)
            if due <= now:
                ready.append(self._latest.pop(key)[1])
                if self.min_interval:
                    self._next_at[key] = now + self.min_interval
            else:
                wait = due - now if wait is None else min(wait, due - now)
        ready.sort(key=lambda f: f.id or (0, 0))
        return ready, wait

    async def wait(self, timeout: float | None) -> None:
        if timeout is None:  # the feed's usual wait: no deadline to arm (one per wake-up)
            await self._wake.wait()
            self._wake.clear()
            return
        if timeout <= 0:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()
