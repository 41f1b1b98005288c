"""``events``: rd:events as written by the gateway (and the web), reliable, filterable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from msgspec import Meta, Struct
from redis.asyncio import Redis

from protocol.streams import EventRecord, Level
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import Entry, entries_of
from robodine.redisio.streamid import ZERO, StreamId
from web.events.schemas import EventEntry
from web.feeds.frames import Frame, Snapshot, frame
from web.feeds.subscription import Delivery, Filter
from web.feeds.topic import Start, Topic, TopicContext, decode_entries, resume_or_snapshot
from web.http.schemas import Query, RobotId, doc


class EventFrame(Struct, tag_field="type", tag="event", kw_only=True):
    id: Annotated[str, doc("the event's rd:events id: resume with `since`")]
    event: Annotated[EventRecord, doc("the event")]


class EventsParams(Query):
    robot: Annotated[list[RobotId], doc("only these robots' events (repeat or commas)")] = []
    type: Annotated[
        list[Annotated[str, Meta(pattern=r"^[a-z0-9_.]+\*?$", max_length=64)]],
        doc("only these types; `prefix.*` matches a family", "robot.*"),
    ] = []
    level: Annotated[list[Level], doc("only these levels")] = []


def event_frame(sid: StreamId, rec: EventRecord) -> Frame:
    return frame(
        EventFrame(id=str(sid), event=rec),
        id=sid,
        robot=rec.robot,
        type=rec.type,
        level=str(rec.level),
    )


async def scan_back(
    redis: Redis,
    stream: str,
    flt: Filter,
    *,
    limit: int,
    before: StreamId | None,
    scan_max: int,
    page: int = 500,
) -> tuple[list[tuple[StreamId, EventRecord]], StreamId | None, StreamId | None, int]:
    """Newest ``limit`` matching events before ``before``, oldest first.

    Returns (items, newest id scanned, oldest id scanned, entries scanned).
    """
    found: list[tuple[StreamId, EventRecord]] = []
    newest: StreamId | None = None
    oldest: StreamId | None = None
    scanned = 0
    if before == ZERO:  # nothing is older (and Redis refuses the empty interval)
        return found, newest, oldest, scanned
    upper = f"({before}" if before is not None else "+"
    while len(found) < limit and scanned < scan_max:
        batch = await redis.xrevrange(
            stream, max=upper, min="-", count=min(page, scan_max - scanned)
        )
        if not batch:
            oldest = None  # reached the start of the stream
            break
        entries = entries_of(batch)
        scanned += len(entries)
        newest = newest or StreamId.parse(entries[0][0])
        for sid, rec in decode_entries(entries, EventRecord, stream):
            oldest = sid
            if flt.accepts(event_frame(sid, rec)) and len(found) < limit:
                found.append((sid, rec))
        oldest = StreamId.parse(entries[-1][0])
        if len(found) >= limit:
            oldest = found[-1][0]
            break
        upper = f"({entries[-1][0]}"
    found.reverse()
    return found, newest, oldest, scanned


class EventsTopic(Topic):
    name = "events"
    stream = KEYS.named("events")
    delivery = Delivery.RELIABLE
    summary = (
        "Robot state changes, command outcomes and alarms (rd:events). Never dropped for a "
        "slow client. Filters: robot, type (`robot.*` prefixes), level."
    )
    params = EventsParams
    frame_types = EventFrame | Snapshot[EventEntry]
    resume_after_reset = True  # a snapshot holds only web.snapshot_events of them

    def make_filter(self, params: Any) -> Filter:
        return Filter.make(params.robot, params.type, [str(x) for x in params.level])

    async def start(self, ctx: TopicContext, flt: Filter, since: StreamId | None) -> Start:
        info, resumable = await resume_or_snapshot(ctx, self.stream, since)
        if resumable:
            assert since is not None
            return Start(since, None, resumed=True)
        n = ctx.settings.web.snapshot_events
        items: list[tuple[StreamId, EventRecord]] = []
        newest: StreamId | None = None
        if n:
            items, newest, _, _ = await scan_back(
                ctx.redis,
                self.stream,
                flt,
                limit=n,
                before=None,
                scan_max=ctx.settings.web.scan_max,
            )
        cursor = max(newest or info.last, info.last)
        snap = Snapshot[EventEntry](
            topic=self.name,
            id=str(cursor),
            reset=since is not None,
            items=[EventEntry(id=str(sid), event=rec) for sid, rec in items],
        )
        return Start(cursor, frame(snap, id=cursor), resumed=False)

    async def frames(self, ctx: TopicContext, entries: Sequence[Entry]) -> list[Frame]:
        return [
            event_frame(sid, rec) for sid, rec in decode_entries(entries, EventRecord, self.stream)
        ]
