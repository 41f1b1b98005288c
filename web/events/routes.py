"""GET /api/events: rd:events paged by stream id, filtered by robot, type and level."""

from __future__ import annotations

from aiohttp import web

from protocol.streams import EventRecord
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import entries_of, stream_info
from robodine.redisio.streamid import MAX, StreamId
from web.events.schemas import EventEntry, EventsPage, EventsQuery
from web.events.topic import event_frame, scan_back
from web.feeds.subscription import Filter
from web.feeds.topic import decode_entries
from web.http.api import Routes
from web.http.problems import Problem
from web.keys import REDIS, SETTINGS
from web.security import ALL_ROLES

routes = Routes("events", "The event history (rd:events).")


def _cursor(raw: str | None, name: str) -> StreamId | None:
    if raw is None:
        return None
    try:
        return StreamId.parse_cursor(raw)
    except ValueError as exc:
        raise Problem(
            422, "invalid_field", f"query: {name}: {exc}", field=name, extra={"in": "query"}
        ) from None


@routes.route(
    "GET",
    "/api/events",
    summary="Events, paged by stream id",
    roles=ALL_ROLES,
    query=EventsQuery,
    response=EventsPage,
    errors=(401, 422),
)
async def list_events(request: web.Request, query: EventsQuery) -> EventsPage:
    """Without `since`: the newest `limit` matching events (oldest first), `before` pages back.
    With `since`: the first `limit` matching events after that id; `next` continues (and polls).

    `since`/`before` are stream ids (`ms-seq`) or Unix times in ms. A page scans at most
    `web.scan_max` entries, so a narrow filter may return fewer items: follow `next`/`before`.
    """
    redis = request.app[REDIS]
    scan_max = request.app[SETTINGS].web.scan_max
    since = _cursor(query.since, "since")
    before = _cursor(query.before, "before")
    if since is not None and before is not None:
        raise Problem(
            422,
            "invalid_field",
            "query: give since or before, not both",
            field="before",
            extra={"in": "query"},
        )
    flt = Filter.make(query.robot, query.type, [str(x) for x in query.level])
    if since is None:
        found, newest, oldest, scanned = await scan_back(
            redis, KEYS.events, flt, limit=query.limit, before=before, scan_max=scan_max
        )
        if newest is None:
            newest = before if before is not None else (await stream_info(redis, KEYS.events)).last
        return EventsPage(
            items=[EventEntry(id=str(s), event=r) for s, r in found],
            next=str(newest),
            before=str(oldest) if oldest else None,
            scanned=scanned,
        )
    items: list[EventEntry] = []
    scanned = 0
    cursor = since
    while len(items) < query.limit and scanned < scan_max and cursor < MAX:  # MAX: nothing after
        raw = await redis.xrange(
            KEYS.events, min=cursor.exclusive, max="+", count=min(1000, scan_max - scanned)
        )
        if not raw:
            break
        entries = entries_of(raw)
        records = dict(decode_entries(entries, EventRecord, KEYS.events))
        for sid_text, _ in entries:
            sid = StreamId.parse(sid_text)
            scanned += 1
            cursor = sid
            rec = records.get(sid)
            if rec is not None and flt.accepts(event_frame(sid, rec)):
                items.append(EventEntry(id=str(sid), event=rec))
                if len(items) == query.limit:
                    break
    return EventsPage(
        items=items, next=str(cursor), before=items[0].id if items else None, scanned=scanned
    )
