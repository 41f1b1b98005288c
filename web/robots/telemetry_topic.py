"""``telemetry``: rd:telemetry samples, latest-wins per robot, throttled by ``max_hz``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from msgspec import Struct

from protocol.streams import TELEMETRY_SAMPLE, TelemetryRecord
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import Entry, entries_of, stream_info
from robodine.redisio.streamid import StreamId
from web.feeds.frames import Batch, Frame, Snapshot, frame
from web.feeds.subscription import Delivery, Filter
from web.feeds.topic import Start, Topic, TopicContext, decode_entries
from web.http.schemas import Query, RobotId, doc
from web.robots.schemas import TelemetryEntry


class TelemetryFrame(Struct, tag_field="type", tag="telemetry", kw_only=True):
    id: Annotated[str, doc("the sample's rd:telemetry id")]
    sample: Annotated[TelemetryRecord, doc("the sample")]


class TelemetryParams(Query):
    robot: Annotated[list[RobotId], doc("only these robots (repeat or commas)")] = []


def telemetry_frame(sid: StreamId, rec: TelemetryRecord) -> Frame:
    return frame(TelemetryFrame(id=str(sid), sample=rec), id=sid, key=rec.robot, robot=rec.robot)


_FRAME = '{"type":"telemetry","id":"%s","sample":%s}'  # TelemetryFrame, as msgspec lays it out
_check_sample = msgspec.json.Decoder(TelemetryRecord).decode


def sample_frame(entry: Entry) -> Frame | None:
    """The frame of an entry whose ``sample`` is valid, its JSON passed on as the gateway
    wrote it (protocol/streams.py); None for anything else.

    The decode is the validation: the text is one JSON object holding a valid record,
    so nothing else can get into the frame; the id is checked by its parse.
    """
    sid, fields = entry
    sample = fields.get(TELEMETRY_SAMPLE)
    if sample is None:
        return None
    try:
        rec = _check_sample(sample)
        id = StreamId.parse(sid)
    except (msgspec.DecodeError, ValueError):  # ValidationError is a DecodeError
        return None
    robot = rec.robot
    if robot != fields.get("robot"):  # newest_per_robot went by that one: from_fields refuses it
        return None
    return Frame(id, "telemetry", (_FRAME % (sid, sample)).encode(), robot, robot)


class TelemetryTopic(Topic):
    name = "telemetry"
    stream = KEYS.named("telemetry")
    delivery = Delivery.LATEST
    summary = (
        "Pose, battery and speed samples (rd:telemetry). Latest wins per robot: a slow "
        "client gets each robot's newest sample, never a backlog; `max_hz` caps the rate "
        "per robot. The snapshot holds each robot's newest sample (after `since`, if given)."
    )
    params = TelemetryParams
    frame_types = TelemetryFrame | Batch | Snapshot[TelemetryEntry]

    def make_filter(self, params: Any) -> Filter:
        return Filter.make(params.robot)

    async def start(self, ctx: TopicContext, flt: Filter, since: StreamId | None) -> Start:
        info = await stream_info(ctx.redis, self.stream)
        reset = since is not None and info.lost_after(since)
        after = None if since is None or reset else since
        raw = await ctx.redis.xrevrange(
            self.stream,
            max="+",
            min=after.exclusive if after else "-",
            count=ctx.settings.web.telemetry_scan,
        )
        entries = entries_of(raw)
        newest: dict[str, tuple[StreamId, TelemetryRecord]] = {}
        for entry in entries:  # newest first; only a robot's newest valid sample is decoded
            robot = entry[1].get("robot", "")
            if robot in newest or not flt.accepts(Frame(None, self.name, b"", robot, robot)):
                continue
            for sid, rec in decode_entries([entry], TelemetryRecord, self.stream):
                newest[rec.robot] = (sid, rec)
        cursor = max(StreamId.parse(entries[0][0]) if entries else info.last, info.last)
        if after is not None:
            cursor = max(cursor, after)
        items = sorted(newest.values())
        snap = Snapshot[TelemetryEntry](
            topic=self.name,
            id=str(cursor),
            reset=reset,
            items=[TelemetryEntry(id=str(sid), sample=rec) for sid, rec in items],
        )
        return Start(cursor, frame(snap, id=cursor), resumed=after is not None)

    async def frames(self, ctx: TopicContext, entries: Sequence[Entry]) -> list[Frame]:
        """The newest sample per robot in the batch (latest wins), in stream order.

        Older samples of a robot in the same batch are superseded before any client
        sees them, so they are not decoded at all.
        """
        out = []
        for entry in newest_per_robot(entries):
            f = sample_frame(entry)
            if f is None:  # a bad entry: decode_entries logs why (and yields nothing)
                decode_entries([entry], TelemetryRecord, self.stream)
            else:
                out.append(f)
        return out


def newest_per_robot(entries: Sequence[Entry]) -> list[Entry]:
    """Each robot's last entry, kept in stream order."""
    seen: set[str] = set()
    out: list[Entry] = []
    for e in reversed(entries):
        robot = e[1].get("robot", "")
        if robot not in seen:
            seen.add(robot)
            out.append(e)
    out.reverse()
    return out
