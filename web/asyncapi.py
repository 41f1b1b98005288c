"""GET /api/asyncapi.json: the WebSocket and SSE feeds and the chat rooms as AsyncAPI 3.0.

Built from the same Structs the server encodes its frames with (each topic's
``frame_types``, the control frames, the chat frames, the client frames) and the
same query models the feeds validate, so it cannot drift from what is sent.
The document describes the web tier as an application: it ``send``s frames on
each channel and ``receive``s the client frames (``auth``, ``ping``, a chat
message). What the schemas cannot say (the frame sequence, resuming, slow
clients, close codes) is in the descriptions, as in docs/api.md section 5.
"""

from __future__ import annotations

import inspect
from typing import Any, Final

import msgspec

from web.chat.routes import ChatQuery
from web.chat.service import CHAT_FRAMES, ChatPost
from web.feeds.frames import CONTROL_FRAMES, ClientFrame
from web.feeds.request import FeedQuery
from web.feeds.subscription import Delivery
from web.feeds.topic import Topic, TopicRegistry
from web.http.openapi import describe_components

REF: Final = "#/components/schemas/{name}"

CLOSE_CODES: Final = {
    1000: "normal",
    1001: "server shutting down: reconnect with `since` (to the next process)",
    1003: "a binary frame: send JSON text",
    1008: "too many rejected frames (chat: the rate limit ignored): fix the client",
    1011: "a bug in the server while making frames (logged): reconnect with `since`",
    1012: "the stream was reset (Redis lost its data): reconnect without `since`",
    1013: "Redis unavailable: retry with `since` after a pause",
    4001: "token expired, revoked or logged out: log in, reconnect with `since`",
    4004: "the chat room was archived",
    4008: "too slow or too far behind: reconnect with `since`",
}

SEQUENCE: Final = """
Every frame is one JSON object with a `type`. On a topic feed:

1. `hello`: which server session, topic, delivery, user, token expiry, and
   `resumed`.
2. `snapshot` with the topic's state and the stream `id` it is consistent with,
   *or*, when `since` was given and the stream still holds everything after it
   (`hello.resumed`), no snapshot: the missed entries follow as ordinary frames.
3. Live frames, each with its stream `id`, in stream order. On the latest-wins
   topics (`robots`, `telemetry`) one WebSocket message may carry several frames
   as a `batch`: handle them in order, as if each came alone.

Keep the `id` of the last frame that had one and reconnect with `?since=<id>`
(SSE: `Last-Event-ID`, which browsers send by themselves): exactly what was
missed comes, nothing twice. A `snapshot` with `reset: true` replaces your
state. Reliable topics never drop a frame: a slow client gets `lagging`
(`behind: true`), the missed entries, then `lagging` (`behind: false`); latest
topics send each robot's newest sample and count what they `dropped`.
`auth_expiring` comes `web.token_warning_s` before the token ends: send
`{"type": "auth", "token"}` with a fresh one (answered `auth_ok`). Anything
else a client sends is answered with `error`; five in a row close the socket.
SSE has no close code: its last event is `goodbye` with the code a WebSocket
would have closed with.
"""


def _close_codes() -> str:
    rows = "\n".join(f"| {c} | {t} |" for c, t in CLOSE_CODES.items())
    head = "Close codes (WebSocket) and `goodbye.code` (SSE):\n\n| code | meaning |\n| --- | --- |"
    return f"{head}\n{rows}\n"


def _structs(union: Any) -> list[type[msgspec.Struct]]:
    """The Struct types of a frame union, in its order."""
    out: list[type[msgspec.Struct]] = []

    def walk(t: msgspec.inspect.Type) -> None:
        if isinstance(t, msgspec.inspect.UnionType):
            for x in t.types:
                walk(x)
        elif isinstance(t, msgspec.inspect.StructType):
            out.append(t.cls)

    walk(msgspec.inspect.type_info(union))
    return out


def _origin(cls: Any) -> type[msgspec.Struct]:
    """``Snapshot[TodoOut]`` -> ``Snapshot``."""
    return getattr(cls, "__origin__", cls)  # type: ignore[no-any-return]


def _tag(cls: type[msgspec.Struct]) -> str:
    tag = _origin(cls).__struct_config__.tag
    return str(tag) if tag is not None else cls.__name__


def _summary(cls: type[msgspec.Struct]) -> str:
    doc = inspect.getdoc(_origin(cls))
    return doc.split("\n\n", 1)[0].replace("\n", " ") if doc else f"a `{_tag(cls)}` frame"


def _object(model: type[msgspec.Struct], comps: dict[str, Any]) -> dict[str, Any]:
    """A query model as one JSON schema object (for the WebSocket binding's ``query``)."""
    (ref,), more = msgspec.json.schema_components([model], ref_template=REF)
    comps.update({k: v for k, v in more.items() if k not in comps})
    obj = dict(more[ref["$ref"].rsplit("/", 1)[1]])
    obj.pop("title", None)
    return obj


def _draft7(node: Any) -> Any:
    """msgspec writes OpenAPI's discriminator object; an AsyncAPI schema's is the name."""
    if isinstance(node, dict):
        out = {k: _draft7(v) for k, v in node.items()}
        disc = out.get("discriminator")
        if isinstance(disc, dict):
            out.pop("discriminator")  # the tag field's single value tells the variants apart
        return out
    if isinstance(node, list):
        return [_draft7(v) for v in node]
    return node


def build(registry: TopicRegistry, *, title: str, version: str, server: str) -> dict[str, Any]:
    topics: list[Topic] = list(registry)
    chat = _structs(CHAT_FRAMES)
    control = _structs(CONTROL_FRAMES)
    clients = _structs(ClientFrame)
    per_topic = {t.name: _structs(t.frame_types) for t in topics}
    found: set[type[msgspec.Struct]] = {c for cs in per_topic.values() for c in cs}
    found.update(chat, control, clients, [ChatPost])
    every = sorted(found, key=repr)
    refs, schemas = msgspec.json.schema_components(every, ref_template=REF)
    schemas = dict(schemas)
    name_of = {cls: r["$ref"].rsplit("/", 1)[1] for cls, r in zip(every, refs, strict=True)}
    messages = {
        name_of[cls]: {
            "name": _tag(cls) if cls is not ChatPost else "post",
            "title": name_of[cls],
            "summary": _summary(cls),
            "contentType": "application/json",
            "payload": {"$ref": REF.format(name=name_of[cls])},
        }
        for cls in every
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def channel(
        key: str,
        address: str,
        description: str,
        sent: list[type[msgspec.Struct]],
        received: list[type[msgspec.Struct]],
        *,
        servers: list[str],
        query: dict[str, Any] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        ch: dict[str, Any] = {
            "address": address,
            "description": description,
            "servers": [{"$ref": f"#/servers/{s}"} for s in servers],
            "messages": {
                name_of[c]: {"$ref": f"#/components/messages/{name_of[c]}"}
                for c in dict.fromkeys(sent + received)
            },
        }
        if parameters:
            ch["parameters"] = parameters
        if query is not None:
            ch["bindings"] = {"ws": {"query": query, "bindingVersion": "0.1.0"}}
        channels[key] = ch
        ref = {"$ref": f"#/channels/{key}"}
        operations[f"{key}.send"] = {
            "action": "send",
            "channel": ref,
            "summary": f"The frames the server sends on {address}",
            "description": "In the order of the frame sequence (see the document's description).",
            "messages": [{"$ref": f"#/channels/{key}/messages/{name_of[c]}"} for c in sent],
        }
        if received:
            operations[f"{key}.receive"] = {
                "action": "receive",
                "channel": ref,
                "summary": f"What a client may send on {address}",
                "description": "Anything else is answered with an `error` frame.",
                "messages": [{"$ref": f"#/channels/{key}/messages/{name_of[c]}"} for c in received],
            }

    comps: dict[str, Any] = {}
    feed = _object(FeedQuery, comps)
    for t in topics:
        query = _object(t.params, comps)
        query["properties"] = {**query.get("properties", {}), **feed["properties"]}
        if t.delivery is not Delivery.LATEST:
            query["properties"].pop("max_hz", None)
        desc = f"{t.summary} Delivery: {t.delivery}. Roles: {', '.join(sorted(t.roles))}."
        sent = control + per_topic[t.name]
        channel(
            f"ws-{t.name}",
            f"/ws/{t.name}",
            desc,
            sent,
            clients,
            servers=["websocket"],
            query=query,
        )
        if t.sse:
            channel(
                f"sse-{t.name}",
                f"/api/stream/{t.name}",
                desc + " As Server-Sent Events: `event:` is the frame's type, `id:` its "
                "stream id, `data:` the frame.",
                sent,
                [],
                servers=["sse"],
            )
    chat_query = _object(ChatQuery, comps)
    channel(
        "ws-chat",
        "/ws/chat/{room}",
        "A chat room: `history` (the last `chat.history` messages, or none when resumed "
        "with `since`), `presence`, then every `message`, from any web process. Post "
        '`{"content": "..."}`; a refused one is answered with `error`.',
        control + chat,
        [*clients, ChatPost],
        servers=["websocket"],
        query=chat_query,
        parameters={
            "room": {
                "description": "a room of `GET /api/chat/rooms`",
                "examples": ["kitchen"],
            }
        },
    )
    schemas.update({k: v for k, v in comps.items() if k not in schemas})
    describe_components(schemas)
    security = [{"$ref": "#/components/securitySchemes/bearer"}]
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": version,
            "description": inspect.cleandoc(SEQUENCE) + "\n\n" + _close_codes(),
        },
        "defaultContentType": "application/json",
        "servers": {
            "websocket": {
                "host": server,
                "protocol": "ws",
                "description": "The web tier's WebSockets (`wss` behind TLS). The token as "
                "`Authorization: Bearer`, or `?token=` from a browser.",
                "security": security,
            },
            "sse": {
                "host": server,
                "protocol": "http",
                "description": "The web tier's Server-Sent Events (`https` behind TLS).",
                "security": security,
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": _draft7(schemas),
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "A login token (POST /api/auth/login) or an integration "
                    "key; also as `Authorization: Bearer <token>` where the client can set it.",
                },
            },
        },
    }
