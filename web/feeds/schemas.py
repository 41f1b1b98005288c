"""Answer models of GET /api/topics."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

# ---- topics -------------------------------------------------------------------------


class TopicOut(Struct, kw_only=True):
    name: str
    websocket: str
    sse: str | None
    delivery: str
    summary: str
    params: dict[str, Any]  # JSON schema of the query parameters (filters)
    frames: dict[str, Any]  # JSON schema of the frames (a oneOf by "type")


class TopicsOut(Struct, kw_only=True):
    topics: list[TopicOut]
    components: dict[str, Any]  # schemas the $refs above point to
