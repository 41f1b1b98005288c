"""The feeds: GET /api/topics (with frame schemas), SSE, and the WebSocket endpoints' docs."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from web.api import Routes
from web.chat import CHAT_FRAMES
from web.frames import CONTROL_FRAMES, ClientFrame
from web.keys import TOPICS
from web.schemas import Query, StreamIdStr, TopicOut, TopicsOut
from web.security import ALL_ROLES
from web.subscription import Delivery
from web.views.chat import chat_socket
from web.views.sse import topic_stream
from web.views.ws import topic_socket

routes = Routes(
    "topics", "Live feeds of the streams: WebSocket /ws/{topic}, SSE /api/stream/{topic}."
)

REF = "#/components/schemas/{name}"


class FeedQuery(Query):
    """Parameters every feed takes (plus the topic's own filters)."""

    since: StreamIdStr | None = None  # resume after this id (SSE: or the Last-Event-ID header)
    max_hz: float | None = None  # latest-wins topics: newest sample at most this often per key
    token: str | None = None  # the bearer token (browsers cannot set headers on WS/SSE)


class ChatQuery(Query):
    since: StreamIdStr | None = None
    token: str | None = None


def _params(model: Any) -> dict[str, Any]:
    (schema,), comps = msgspec.json.schema_components([model], ref_template=REF)
    name = schema["$ref"].rsplit("/", 1)[1]
    return dict(comps[name].get("properties", {}))


@routes.route(
    "GET",
    "/api/topics",
    summary="The live topics and the JSON schema of their frames",
    roles=ALL_ROLES,
    response=TopicsOut,
    errors=(401,),
)
async def list_topics(request: web.Request) -> TopicsOut:
    registry = request.app[TOPICS]
    topics = list(registry)
    unions = [t.frame_types | CONTROL_FRAMES for t in topics] + [
        CHAT_FRAMES | CONTROL_FRAMES,
        ClientFrame,
    ]
    schemas, components = msgspec.json.schema_components(unions, ref_template=REF)
    common = _params(FeedQuery)
    out = []
    for t, frames in zip(topics, schemas, strict=False):
        params = {**_params(t.params), **common}
        if t.delivery is not Delivery.LATEST:
            params.pop("max_hz", None)
        out.append(
            TopicOut(
                name=t.name,
                websocket=f"/ws/{t.name}",
                sse=f"/api/stream/{t.name}" if t.sse else None,
                delivery=str(t.delivery),
                summary=t.summary,
                params=params,
                frames=frames,
            )
        )
    out.append(
        TopicOut(
            name="chat",
            websocket="/ws/chat/{room}",
            sse=None,
            delivery=str(Delivery.RELIABLE),
            summary='Chat rooms: history, presence, messages. Send {"content": "..."} to post.',
            params=_params(ChatQuery),
            frames=schemas[len(topics)],
        )
    )
    components["ClientFrame"] = schemas[-1]
    return TopicsOut(topics=out, components=components)


@routes.route(
    "GET",
    "/api/stream/{topic}",
    summary="A topic as Server-Sent Events",
    roles=ALL_ROLES,
    query=FeedQuery,
    token_query=True,
    raw=True,
    response_type="text/event-stream",
    errors=(401, 403, 404, 422, 503),
)
async def stream(request: web.Request) -> web.StreamResponse:
    """Each event's `data` is the same JSON object as the WebSocket frame and its `id` the
    stream id, so EventSource resumes by itself (Last-Event-ID). Filters as in /api/topics."""
    return await topic_stream(request)


@routes.route(
    "GET",
    "/ws/{topic}",
    summary="A topic over WebSocket",
    roles=ALL_ROLES,
    query=FeedQuery,
    token_query=True,
    raw=True,
    status=101,
    errors=(401, 403, 404, 422, 503),
)
async def websocket(request: web.Request) -> web.StreamResponse:
    """Upgrade to a WebSocket: `hello`, then `snapshot` (or the missed entries with `since`),
    then one JSON frame per entry. Close codes: docs/api.md."""
    return await topic_socket(request)


@routes.route(
    "GET",
    "/ws/chat/{room}",
    summary="A chat room over WebSocket",
    roles=ALL_ROLES,
    query=ChatQuery,
    token_query=True,
    raw=True,
    status=101,
    errors=(401, 403, 404, 422, 503),
)
async def chat(request: web.Request) -> web.StreamResponse:
    """`history` (last messages), `presence`, then `message` frames; send `{"content": "..."}`."""
    return await chat_socket(request)
