"""What a topic is: a stream, a delivery policy, a snapshot and a frame per entry.

A topic turns stream entries into frames (once per process, in the hub) and
knows how to start a client: a snapshot consistent with a cursor, or, when the
client sends ``since`` and the stream still holds everything after it, no
snapshot at all (the hub replays the missed entries from the cursor).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec
import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from protocol.streams import from_fields
from robodine.redisio.keys import Named
from robodine.redisio.replies import Entry, StreamInfo, stream_info
from robodine.redisio.streamid import StreamId
from web.feeds.frames import Frame
from web.feeds.subscription import Delivery, Filter
from web.http.schemas import Query
from web.security import ALL_ROLES, Role

log = structlog.get_logger("web.topics")


@dataclass(frozen=True)
class TopicContext:
    redis: Redis
    settings: Settings
    db: async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Start:
    cursor: StreamId
    snapshot: Frame | None  # None: resuming from ``since``; the hub replays what was missed
    resumed: bool


class NoParams(Query):
    pass


class Topic(ABC):
    name: ClassVar[str]
    stream: ClassVar[Named]  # KEYS.named(...): the stream's name when read, not at import
    delivery: ClassVar[Delivery]
    summary: ClassVar[str]
    params: ClassVar[type[msgspec.Struct]] = NoParams  # filters from the query string
    frame_types: ClassVar[Any]  # union of the data frame Structs (for GET /api/topics)
    roles: ClassVar[frozenset[Role]] = ALL_ROLES
    sse: ClassVar[bool] = True
    # After a reset of its stream (close 1012), a client resumes with the new stream's
    # reset point (the close reason's since) instead of starting over from a snapshot:
    # for topics whose stream is the data itself, where a snapshot holds only the newest.
    resume_after_reset: ClassVar[bool] = False

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Topic) and other.name == self.name

    def make_filter(self, params: Any) -> Filter:
        return Filter()

    @abstractmethod
    async def start(self, ctx: TopicContext, flt: Filter, since: StreamId | None) -> Start:
        """Snapshot (or resume point) for one new client."""

    @abstractmethod
    async def frames(self, ctx: TopicContext, entries: Sequence[Entry]) -> list[Frame]:
        """Frames for a batch of entries (called once per batch per process)."""


async def resume_or_snapshot(
    ctx: TopicContext,
    stream: str,
    since: StreamId | None,
) -> tuple[StreamInfo, bool]:
    """(stream info, resumable): ``since`` is resumable when nothing after it was trimmed."""
    info = await stream_info(ctx.redis, stream)
    return info, since is not None and not info.lost_after(since)


def decode_entries(
    entries: Sequence[Entry], cls: type[Any], stream: str
) -> list[tuple[StreamId, Any]]:
    """Records from entries; a malformed entry is logged and skipped, never fatal."""
    out = []
    for sid, fields in entries:
        try:
            out.append((StreamId.parse(sid), from_fields(cls, fields)))
        except (msgspec.ValidationError, ValueError) as exc:
            log.warning("stream_entry_invalid", stream=stream, id=sid, error=str(exc))
    return out


class TopicRegistry:
    """Topics by name; issue 5's ``orders`` plugs in with ``register``."""

    def __init__(self) -> None:
        self._topics: dict[str, Topic] = {}

    def register(self, topic: Topic) -> None:
        if topic.name in self._topics:
            raise ValueError(f"topic {topic.name!r} is already registered")
        self._topics[topic.name] = topic

    def get(self, name: str) -> Topic | None:
        return self._topics.get(name)

    def __iter__(self) -> Any:
        return iter(sorted(self._topics.values(), key=lambda t: t.name))

    def names(self) -> list[str]:
        return sorted(self._topics)

    def streams(self) -> set[str]:
        return {t.stream for t in self._topics.values()}
