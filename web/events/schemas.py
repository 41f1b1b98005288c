"""Request and answer models of /api/events."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from protocol.streams import EventRecord, Level
from web.http.schemas import Query, RobotId, StreamIdStr, doc


class EventEntry(Struct, kw_only=True):
    id: Annotated[str, doc("the event's stream id")]
    event: Annotated[EventRecord, doc("the event")]


class EventsQuery(Query):
    robot: Annotated[list[RobotId], doc("only these robots (repeat or commas)")] = []
    type: Annotated[
        list[Annotated[str, Meta(pattern=r"^[a-z0-9_.]+\*?$", max_length=64)]],
        doc("only these types; `prefix.*` matches a family", "command.*"),
    ] = []
    level: Annotated[list[Level], doc("only these levels")] = []
    since: StreamIdStr | None = None  # entries after this id, oldest first
    before: StreamIdStr | None = None  # entries before this id (default: the newest)
    limit: Annotated[int, Meta(ge=1, le=1000), doc("events per page at most")] = 100


class EventsPage(Struct, kw_only=True):
    items: Annotated[list[EventEntry], doc("oldest first")]
    next: Annotated[
        str | None, doc("pass as `since` to continue forward (also to poll for new events)")
    ]
    before: Annotated[
        str | None, doc("pass as `before` for older events; null at the start of the stream")
    ]
    scanned: Annotated[int, doc("entries read to fill the page (filters may skip many)")]
