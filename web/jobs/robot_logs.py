"""``robot_logs``: one robot's events of a time range (rd:events) as NDJSON in the media store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from msgspec import Meta, Struct

from protocol.streams import decode_fields
from robodine.redisio.keys import KEYS
from web.jobs.runtime import JobContext, JobFailed, kind

PAGE = 1000
MAX_SPAN_S = 31 * 86400


class RobotLogsIn(Struct, forbid_unknown_fields=True, kw_only=True):
    robot: Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    since: Annotated[datetime, Meta(tz=True)]
    until: Annotated[datetime, Meta(tz=True)]


@kind(
    "robot_logs",
    RobotLogsIn,
    "One robot's events from `since` to `until` (at most 31 days) as NDJSON.",
)
async def robot_logs(ctx: JobContext, inp: RobotLogsIn) -> dict[str, Any]:
    lo, hi = int(inp.since.timestamp() * 1000), int(inp.until.timestamp() * 1000)
    if hi <= lo:
        raise JobFailed("invalid input: until must be after since", permanent=True)
    if (hi - lo) / 1000 > MAX_SPAN_S:
        raise JobFailed("invalid input: the range is longer than 31 days", permanent=True)
    count = {"events": 0, "scanned": 0}

    async def lines() -> AsyncIterator[bytes]:
        start = f"{lo}-0"
        while True:
            page: Any = await ctx.redis.xrange(
                KEYS.events, min=start, max=f"{hi}-18446744073709551615", count=PAGE
            )
            out = bytearray()
            for sid, fields in page:
                count["scanned"] += 1
                if fields.get("robot") != inp.robot:
                    continue
                out += orjson.dumps({"id": sid, **decode_fields(fields)}) + b"\n"
                count["events"] += 1
            if out:
                yield bytes(out)
            if len(page) < PAGE:
                return
            last = page[-1][0]
            ms, seq = (int(x) for x in last.split("-"))
            start = f"{ms}-{seq + 1}"
            await ctx.progress((ms - lo) / (hi - lo), f"{count['events']} events")

    up = await ctx.uploads.save(
        lines(),
        filename=f"robot-{inp.robot}-{inp.since:%Y%m%dT%H%M%S}.ndjson",
        content_type="application/x-ndjson",
        created_by=f"job:{ctx.id}",
        source="job",
    )
    await ctx.progress(1.0, f"{count['events']} events")
    return {"upload_id": up.id, "robot": inp.robot, **count}
