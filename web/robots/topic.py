"""``robots``: each robot's whole state, re-read from rd:robot:{id} when an event says it changed.

A state topic: its snapshot replaces the client's state, and a reconnect
always gets a fresh snapshot (robot state is not a log; ``since`` is accepted
and only says which events the state is newer than). Live frames come from
``robot.*`` events in rd:events, latest wins per robot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from msgspec import Struct

from robodine.redisio.keys import KEYS
from robodine.redisio.replies import Entry, stream_info
from robodine.redisio.streamid import StreamId
from web.feeds.frames import Batch, Frame, Snapshot, frame
from web.feeds.subscription import Delivery, Filter
from web.feeds.topic import Start, Topic, TopicContext
from web.http.schemas import Query, RobotId, doc
from web.robots.schemas import RobotOut
from web.robots.snapshots import load_robots

# Besides robot.*: a robot added or removed, and a command acknowledged (an acked pause or
# resume changes the snapshot's `paused` and no state, so no robot.state event says so).
_ALSO_CHANGE = frozenset({"registry.changed", "command.acked"})


class RobotFrame(Struct, tag_field="type", tag="robot", kw_only=True):
    id: Annotated[str, doc("the rd:events id of the change")]
    robot: Annotated[RobotOut, doc("the whole robot, as `GET /api/robots/{robot_id}` answers it")]


class RobotsParams(Query):
    robot: Annotated[list[RobotId], doc("only these robots (repeat or commas)")] = []


class RobotsTopic(Topic):
    name = "robots"
    stream = KEYS.named("events")
    delivery = Delivery.LATEST
    summary = (
        "Every robot's state (registry + rd:robot:{id}), sent again whenever a `robot.*`, "
        "`registry.changed` or `command.acked` event names it. Latest wins per robot; a "
        "reconnect gets a fresh snapshot."
    )
    params = RobotsParams
    frame_types = RobotFrame | Batch | Snapshot[RobotOut]

    def make_filter(self, params: Any) -> Filter:
        return Filter.make(params.robot)

    async def start(self, ctx: TopicContext, flt: Filter, since: StreamId | None) -> Start:
        cursor = (await stream_info(ctx.redis, self.stream)).last  # before the hashes: no gap
        robots = await load_robots(ctx.redis, ctx.settings)
        items = [r for r in robots if not flt.robots or r.id in flt.robots]
        snap = Snapshot[RobotOut](
            topic=self.name, id=str(cursor), reset=since is not None, items=items
        )
        return Start(cursor, frame(snap, id=cursor), resumed=False)

    async def frames(self, ctx: TopicContext, entries: Sequence[Entry]) -> list[Frame]:
        changed: dict[str, StreamId] = {}
        for sid, fields in entries:
            robot = fields.get("robot") or ""
            kind = fields.get("type") or ""
            if robot and (kind.startswith("robot.") or kind in _ALSO_CHANGE):
                changed[robot] = StreamId.parse(sid)
        if not changed:
            return []
        robots = await load_robots(ctx.redis, ctx.settings, changed)
        out = [
            frame(
                RobotFrame(id=str(changed[r.id]), robot=r), id=changed[r.id], key=r.id, robot=r.id
            )
            for r in robots
        ]
        out.sort(key=lambda f: f.id or StreamId(0, 0))
        return out
