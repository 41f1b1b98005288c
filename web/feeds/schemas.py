"""Answer models of GET /api/topics."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Struct

from web.http.schemas import doc

# ---- topics -------------------------------------------------------------------------


class TopicOut(Struct, kw_only=True):
    name: Annotated[str, doc("the topic", "events")]
    websocket: Annotated[str, doc("its WebSocket path")]
    sse: Annotated[str | None, doc("its SSE path (null: WebSocket only)")]
    delivery: Annotated[
        str, doc("`reliable` (nothing dropped) or `latest` (newest per robot wins)")
    ]
    summary: Annotated[str, doc("what it carries")]
    params: Annotated[dict[str, Any], doc("JSON schema of the query parameters (filters)")]
    frames: Annotated[dict[str, Any], doc("JSON schema of the frames (a oneOf by `type`)")]


class TopicsOut(Struct, kw_only=True):
    topics: Annotated[list[TopicOut], doc("every feed")]
    components: Annotated[dict[str, Any], doc("schemas the `$ref`s above point to")]
