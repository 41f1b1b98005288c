"""``orders``: the order board. Orders from SQL first, then their progress from rd:events.

Live frames come straight from the gateway's ``order.status`` and ``task.*``
events (not from SQL), so the board moves as soon as the gateway says so.
The snapshot is read from SQL, which the projector fills from the same
events; its cursor is the projector's low-water mark (everything at or
before it is in SQL), so an event the projector has not applied yet is
replayed after the snapshot rather than lost. A frame applied twice is
harmless: statuses only move forward.

Filter ``order=<id>`` (repeatable) follows single orders; it is also what
``GET /api/orders/{id}/events`` serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final

import msgspec
import orjson
import structlog
from msgspec import Struct
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from protocol.streams import EventType
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import Entry, as_str
from robodine.redisio.streamid import StreamId
from web.db.orders import Order
from web.feeds.frames import Frame, Snapshot, frame
from web.feeds.subscription import Delivery, Filter
from web.feeds.topic import Start, Topic, TopicContext, resume_or_snapshot
from web.http.schemas import Query, doc
from web.orders.projector import GROUP
from web.orders.schemas import OrderId, OrderOut, OrdersQuery
from web.orders.service import OrderService, load_orders

log = structlog.get_logger("web.topics")

SNAPSHOT_ORDERS: Final = 200
_TASK_TYPES: Final = frozenset({EventType.TASK_ASSIGNED, EventType.TASK_RELEASED})


class OrderFrame(Struct, tag_field="type", tag="order", kw_only=True):
    """An order moved on (``order.status``)."""

    id: Annotated[str, doc("the rd:events id: resume with `since`")]
    order: Annotated[str, doc("the order's id")]
    status: Annotated[str, doc("the status it moved to")]
    previous: Annotated[str | None, doc("the status before")]
    table: Annotated[str, doc("its table's name")]
    robot: Annotated[str, doc("the delivering robot, once there is one")]
    ts: Annotated[float, doc("when, epoch seconds")]
    detail: Annotated[
        OrderOut | None, doc("the whole order (lines, total) with `placed`, from SQL")
    ] = None


class TaskFrame(Struct, tag_field="type", tag="task", kw_only=True):
    """A cook or delivery task of an order went to a robot, or was taken from it."""

    id: Annotated[str, doc("the rd:events id")]
    order: Annotated[str, doc("the order's id")]
    event: Annotated[str, doc("`task.assigned` or `task.released`")]
    task: Annotated[str, doc("the task's id")]
    kind: Annotated[str, doc("`cook` or `deliver`")]
    robot: Annotated[str, doc("the robot given (or that lost) the task")]
    ts: Annotated[float, doc("when, epoch seconds")]
    attempt: Annotated[int | None, doc("which robot this is for the task (1: the first)")] = None
    reason: Annotated[str | None, doc("task.released: why (offline, fault, ...)")] = None


class OrdersParams(Query):
    order: Annotated[list[OrderId], doc("only these orders (repeat or commas)")] = []


async def projected_upto(redis: Redis) -> StreamId | None:
    """The newest rd:events id such that it and everything before it is applied in SQL."""
    try:
        groups = await redis.xinfo_groups(KEYS.events)
    except ResponseError:
        return None  # no stream yet
    g = next((g for g in groups if as_str(g["name"]) == GROUP), None)
    if g is None:
        return None
    upto = StreamId.parse(as_str(g["last-delivered-id"]))
    if int(g.get("pending", 0)):
        summary = await redis.xpending(KEYS.events, GROUP)
        if summary and summary.get("min"):
            low = StreamId.parse(as_str(summary["min"]))
            before = StreamId(low.ms, low.seq - 1) if low.seq else StreamId(low.ms - 1, 2**64 - 1)
            upto = min(upto, before)
    return upto


class OrdersTopic(Topic):
    name = "orders"
    stream = KEYS.named("events")
    delivery = Delivery.RELIABLE
    summary = (
        "The order board: the newest orders from SQL, then every status change "
        "(placed, cooking, ready, delivering, delivered, cancelled) and task assignment as "
        "the gateway reports it. Filter: order (ids)."
    )
    params = OrdersParams
    frame_types = OrderFrame | TaskFrame | Snapshot[OrderOut]

    def make_filter(self, params: Any) -> Filter:
        return Filter.make(keys=params.order)

    async def start(self, ctx: TopicContext, flt: Filter, since: StreamId | None) -> Start:
        info, resumable = await resume_or_snapshot(ctx, self.stream, since)
        if resumable:
            assert since is not None
            return Start(since, None, resumed=True)
        upto = await projected_upto(ctx.redis)  # before SQL: replays overlap, never skip
        cursor = info.last if upto is None else min(info.last, upto)
        if flt.keys:
            async with ctx.db() as s:
                rows = (await s.scalars(select(Order).where(Order.id.in_(flt.keys)))).all()
                items = await load_orders(s, rows)
        else:
            service = OrderService(ctx.db, source=ctx.settings.web.name)
            items, _, _ = await service.page(OrdersQuery(limit=SNAPSHOT_ORDERS), with_totals=False)
        snap = Snapshot[OrderOut](
            topic=self.name, id=str(cursor), reset=since is not None, items=items
        )
        return Start(cursor, frame(snap, id=cursor), resumed=False)

    async def frames(self, ctx: TopicContext, entries: Sequence[Entry]) -> list[Frame]:
        found: list[tuple[StreamId, OrderFrame | TaskFrame, str]] = []
        for sid, fields in entries:
            kind = fields.get("type", "")
            if kind != EventType.ORDER_STATUS and kind not in _TASK_TYPES:
                continue
            try:
                found.append((StreamId.parse(sid), _decode(sid, kind, fields), kind))
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("stream_entry_invalid", stream=self.stream, id=sid, error=str(exc))
        placed = {
            f.order for _, f, _ in found if isinstance(f, OrderFrame) and f.status == "placed"
        }
        details = await _details(ctx, placed) if placed else {}
        out = []
        for sid_, f, kind in found:
            if isinstance(f, OrderFrame) and f.status == "placed" and f.order in details:
                f = msgspec.structs.replace(f, detail=details[f.order])
            out.append(frame(f, id=sid_, key=f.order, robot=f.robot, type=kind))
        return out


def _decode(sid: str, kind: str, fields: dict[str, str]) -> OrderFrame | TaskFrame:
    data = orjson.loads(fields.get("data", "{}"))
    ts = float(fields.get("ts", 0.0))
    robot = fields.get("robot", "")
    if kind == EventType.ORDER_STATUS:
        return OrderFrame(
            id=sid,
            order=str(data["order"]),
            status=str(data["status"]),
            previous=data.get("previous"),
            table=str(data.get("table", "")),
            robot=robot,
            ts=ts,
        )
    return TaskFrame(
        id=sid,
        order=str(data["order"]),
        event=kind,
        task=str(data.get("task", "")),
        kind=str(data.get("kind", "")),
        robot=robot,
        ts=ts,
        attempt=data.get("attempt"),
        reason=data.get("reason"),
    )


async def _details(ctx: TopicContext, ids: set[str]) -> dict[str, OrderOut]:
    """New orders carry their lines and total (best effort: SQL down leaves them out)."""
    try:
        async with ctx.db() as s:
            rows = (await s.scalars(select(Order).where(Order.id.in_(list(ids))))).all()
            return {o.id: o for o in await load_orders(s, rows)}
    except SQLAlchemyError as exc:
        log.warning("orders_detail_unavailable", error=str(exc))
        return {}
