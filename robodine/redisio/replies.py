"""Stream replies as plain values: entries as (id, fields), ``XINFO STREAM`` as StreamInfo.

The web tier's clients decode replies to str; the gateway's keep bytes, so
what both read goes through ``as_str``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from robodine.redisio.streamid import ZERO, StreamId

__all__ = ["Entry", "StreamInfo", "as_str", "entries_of", "field_map", "stream_info"]

Entry = tuple[str, dict[str, str]]


def as_str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def field_map(flat: list[str] | None) -> dict[str, str]:
    """An entry's [field, value, ...] as a dict: pairs off one iterator (no slices);
    an odd list raises ValueError, as the slices' strict zip did."""
    if not flat:
        return {}
    if len(flat) == 4:  # rd:telemetry's robot + sample, read per fanned-out sample: no iterator
        a, b, c, d = flat
        return {a: b, c: d}
    pairs = iter(flat)
    return dict(zip(pairs, pairs, strict=True))


def entries_of(raw: Any) -> list[Entry]:
    """XRANGE/XREVRANGE replies of redis-py as (id, fields); the clients decode to str."""
    return [(as_str(i), f) for i, f in (raw or ())]


@dataclass
class StreamInfo:
    last: StreamId  # last-generated-id (ZERO when the stream does not exist)
    first: StreamId | None
    trimmed: bool  # entries were removed (MAXLEN/XDEL): history before `first` is gone

    def lost_after(self, cursor: StreamId) -> bool:
        """Can entries after ``cursor`` be missing (trimmed), or is it from another Redis?"""
        if cursor > self.last:
            return True
        return self.trimmed and self.first is not None and cursor < self.first


async def stream_info(redis: Redis, stream: str) -> StreamInfo:
    try:
        info = await redis.xinfo_stream(stream)
    except ResponseError as exc:
        if "no such key" in str(exc).lower():
            return StreamInfo(ZERO, None, False)
        raise
    first = info.get("first-entry")
    return StreamInfo(
        StreamId.parse(as_str(info["last-generated-id"])),
        StreamId.parse(as_str(first[0])) if first else None,
        int(info.get("entries-added", 0)) > int(info.get("length", 0)),
    )
