"""Request and answer models of /api/events."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from protocol.streams import EventRecord, Level
from web.http.schemas import Query, RobotId, StreamIdStr


class EventEntry(Struct, kw_only=True):
    id: str  # stream id
    event: EventRecord



class EventsQuery(Query):
    robot: list[RobotId] = []
    type: list[Annotated[str, Meta(pattern=r"^[a-z0-9_.]+\*?$", max_length=64)]] = []
    level: list[Level] = []
    since: StreamIdStr | None = None  # entries after this id, oldest first
    before: StreamIdStr | None = None  # entries before this id (default: the newest)
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


class EventsPage(Struct, kw_only=True):
    items: list[EventEntry]  # oldest first
    next: str | None  # pass as `since` to continue forward (also to poll for new events)
    before: str | None  # pass as `before` for older events; null at the start of the stream
    scanned: int  # entries read to fill the page (filters may skip many)
