"""What a topic WebSocket and an SSE stream share: origin, auth, parameters, the start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web

from config.settings import WebSettings
from robodine.redisio.streamid import StreamId
from web.feeds.frames import Hello, frame
from web.feeds.subscription import Delivery, Filter, Subscription
from web.feeds.topic import Start, Topic
from web.http import auth
from web.http.api import parse_query
from web.http.problems import Problem
from web.http.schemas import Query, StreamIdStr, doc
from web.keys import EDGE, HUB, SESSION_ID, SETTINGS, TOPICS
from web.security import AuthUser, iso


class FeedQuery(Query):
    """Parameters every feed takes (plus the topic's own filters)."""

    since: Annotated[
        StreamIdStr | None,
        doc("resume after this stream id (or a Unix time in ms); SSE: `Last-Event-ID` wins"),
    ] = None
    max_hz: Annotated[
        float | None, doc("latest-wins topics: each robot's newest sample at most this often", 10)
    ] = None
    token: Annotated[
        str | None,
        doc("the bearer token (browsers cannot set headers on WebSockets or EventSource)"),
    ] = None


FEED_PARAMS = ("since", "max_hz", "token")


def check_origin(request: web.Request) -> None:
    """Browsers always send Origin on WebSocket/EventSource: only configured ones pass.

    aiohttp itself accepts any Origin. A request without Origin
    comes from a non-browser client, which cannot be a cross-site attack; it
    still needs a token.
    """
    origin = request.headers.get("Origin")
    if origin is not None:
        edge = request.app[EDGE]
        if origin not in edge.origins:
            raise edge.origin_refused(origin, request.path)


@dataclass
class FeedRequest:
    topic: Topic
    user: AuthUser
    filter: Filter
    since: StreamId | None
    max_hz: float | None


def _since(raw: str | None, where: str) -> StreamId | None:
    if raw is None or raw == "":
        return None
    try:
        return StreamId.parse_cursor(raw)
    except ValueError as exc:
        raise Problem(
            422,
            "invalid_field",
            f"{where}: {exc}",
            field=where,
            extra={"in": "header" if where == "Last-Event-ID" else "query"},
        ) from None


def parse_feed(
    request: web.Request, topic: Topic, *, last_event_id: bool
) -> tuple[Any, StreamId | None, float | None]:
    q = request.query
    for name in FEED_PARAMS:
        if len(q.getall(name, [])) > 1:
            raise Problem(
                422,
                "invalid_field",
                f"query: {name!r} given more than once",
                field=name,
                extra={"in": "query"},
            )
    since = _since(q.get("since"), "since")
    if last_event_id and "Last-Event-ID" in request.headers:
        since = _since(request.headers["Last-Event-ID"].strip(), "Last-Event-ID")
    max_hz: float | None = None
    if "max_hz" in q:
        try:
            max_hz = float(q["max_hz"])
        except ValueError:
            max_hz = -1.0
        if not 0 < max_hz <= 1000:
            raise Problem(
                422,
                "invalid_field",
                "query: max_hz must be a number in (0, 1000]",
                field="max_hz",
                extra={"in": "query"},
            )
        if topic.delivery is not Delivery.LATEST:
            raise Problem(
                422,
                "invalid_field",
                f"query: max_hz applies to latest-wins topics; {topic.name!r} is reliable",
                field="max_hz",
                extra={"in": "query"},
            )
    params = parse_query(request, topic.params, skip=FEED_PARAMS)
    return params, since, max_hz


async def open_feed(request: web.Request, *, sse: bool) -> FeedRequest:
    """Everything that can fail with a 4xx, checked before the response starts."""
    check_origin(request)
    name = request.match_info["topic"]
    topic = request.app[TOPICS].get(name)
    if topic is None or (sse and not topic.sse):
        raise Problem(
            404,
            "unknown_topic",
            f"no topic {name!r}; GET /api/topics lists them",
            field="topic",
            extra={"in": "path", "topics": request.app[TOPICS].names()},
        )
    user = await auth.authenticate(request, allow_query=True)
    auth.require(user, topic.roles)
    params, since, max_hz = parse_feed(request, topic, last_event_id=sse)
    return FeedRequest(topic, user, topic.make_filter(params), since, max_hz)


def queue_size(s: WebSettings) -> int:
    """Room for at least two reader batches, or every client would lag on a full batch."""
    return max(s.ws_queue, 2 * s.hub_batch)


async def start_feed(request: web.Request, fr: FeedRequest) -> tuple[Start, Subscription]:
    app = request.app
    start = await fr.topic.start(app[HUB].ctx, fr.filter, fr.since)
    sub = Subscription(
        fr.topic,
        fr.filter,
        cursor=start.cursor,
        queue_max=queue_size(app[SETTINGS].web),
        max_hz=fr.max_hz,
    )
    return start, sub


def hello(request: web.Request, fr: FeedRequest, start: Start) -> Any:
    s = request.app[SETTINGS].web
    return frame(
        Hello(
            session=request.app[SESSION_ID],
            server=s.name,
            topic=fr.topic.name,
            delivery=str(fr.topic.delivery),
            username=fr.user.username,
            role=str(fr.user.role),
            expires_at=iso(fr.user.expires),
            resumed=start.resumed,
            max_hz=fr.max_hz,
        )
    )
