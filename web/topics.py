"""Every feed the web tier serves, and GET /api/topics: their parameters and frame schemas.

The one place that knows all the topics (and the chat rooms' feed), so the
feature packages need not know each other.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from aiohttp import web

from web.chat.routes import ChatQuery
from web.chat.service import CHAT_FRAMES
from web.events.topic import EventsTopic
from web.feeds.frames import CONTROL_FRAMES, ClientFrame
from web.feeds.request import FeedQuery
from web.feeds.schemas import TopicOut, TopicsOut
from web.feeds.subscription import Delivery
from web.feeds.topic import TopicRegistry
from web.http.api import Routes
from web.jobs.topic import JobsTopic
from web.keys import SETTINGS, TOPICS
from web.orders.topic import OrdersTopic
from web.restaurant.topic import RestaurantTopic
from web.robots.telemetry_topic import TelemetryTopic
from web.robots.topic import RobotsTopic
from web.security import ALL_ROLES
from web.todos.topic import TodosTopic

__all__ = ["default_topics", "routes"]

routes = Routes(
    "topics", "Live feeds of the streams: WebSocket /ws/{topic}, SSE /api/stream/{topic}."
)

REF = "#/components/schemas/{name}"


def default_topics() -> TopicRegistry:
    """Every topic the web tier serves."""
    reg = TopicRegistry()
    for topic in (RobotsTopic(), TelemetryTopic(), EventsTopic(), TodosTopic(), OrdersTopic()):
        reg.register(topic)
    reg.register(JobsTopic())
    reg.register(RestaurantTopic())
    return reg


def _params(model: Any) -> dict[str, Any]:
    (schema,), comps = msgspec.json.schema_components([model], ref_template=REF)
    name = schema["$ref"].rsplit("/", 1)[1]
    return dict(comps[name].get("properties", {}))


def _asyncapi(app: web.Application) -> None:
    from web.asyncapi import build
    from web.http.openapi import package_version

    s = app[SETTINGS].web
    app[ASYNCAPI] = orjson.dumps(
        build(
            app[TOPICS],
            title=f"Robodine feeds ({s.name})",
            version=package_version(),
            server=f"{s.host}:{s.port}",
        )
    )


routes.setup = _asyncapi
ASYNCAPI = web.AppKey("asyncapi", bytes)


@routes.route(
    "GET",
    "/api/asyncapi.json",
    summary="The feeds as an AsyncAPI 3.0 document",
    roles=None,
)
async def asyncapi(request: web.Request) -> web.Response:
    """Every WebSocket and SSE feed and the chat rooms: channels, their query parameters,
    the frames each sends and accepts (the same Structs the server encodes with), the frame
    sequence and the close codes. No login, like `/api/openapi.json`."""
    return web.Response(
        body=request.app[ASYNCAPI],
        content_type="application/json",
        headers={"Cache-Control": "no-cache"},
    )


@routes.route(
    "GET",
    "/api/topics",
    summary="The live topics and the JSON schema of their frames",
    roles=ALL_ROLES,
    response=TopicsOut,
    errors=(401,),
)
async def list_topics(request: web.Request) -> TopicsOut:
    """Each feed (`/ws/{topic}`, `/api/stream/{topic}`, `/ws/chat/{room}`), its delivery
    policy, its filters and the JSON schema of its frames, from the Structs the server
    encodes with. The same in a standard form: `/api/asyncapi.json`."""
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
