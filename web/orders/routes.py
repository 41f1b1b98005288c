"""/api/orders: place, list, read, cancel; and one order's progress as Server-Sent Events."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from protocol.streams import EventRecord, Level, to_fields
from robodine.redisio.keys import KEYS
from web.feeds.request import FeedQuery, FeedRequest, check_origin, parse_feed
from web.feeds.sse import serve_feed
from web.feeds.subscription import Filter
from web.http import auth
from web.http.api import Routes, idempotency_key, parse_path
from web.http.jsonutil import json_response
from web.http.problems import not_found
from web.keys import DB, OUTBOX, REDIS, SETTINGS, TOPICS, USER
from web.orders.schemas import OrderIn, OrderList, OrderOut, OrderPath, OrdersQuery
from web.orders.service import OrderService
from web.restaurant import live
from web.restaurant.inventory import LowStock
from web.security import ALL_ROLES, WRITERS

log = structlog.get_logger("web.orders")
routes = Routes(
    "orders",
    "Guest orders. Placing one takes the stock and hands it to the gateway, whose robots cook "
    "and deliver it; its status follows: placed, cooking, ready, delivering, delivered "
    "(or cancelled). Writes: staff, admin.",
)


def _service(request: web.Request) -> OrderService:
    return OrderService(request.app[DB], source=request.app[SETTINGS].web.name)


@routes.route(
    "POST",
    "/api/orders",
    summary="Place an order",
    roles=WRITERS,
    body=OrderIn,
    response=OrderOut,
    status=201,
    errors=(409,),
    headers=("Idempotency-Key",),
    response_headers=("Location",),
)
async def place_order(request: web.Request, body: OrderIn) -> Any:
    """Checks the table and menu items, takes the stock (409 `out_of_stock` names the item;
    of two orders racing for the last portion exactly one wins) and answers the order,
    `placed`. An `Idempotency-Key` header makes a retried request answer the first order
    (200) instead of placing a second one."""
    user = request[USER].username
    order, repeat, low = await _service(request).place(body, user, idempotency_key(request))
    if repeat:
        return json_response(order, status=200)
    request.app[OUTBOX].wake()
    if low:
        await _low_stock(request, order.id, low)
    await live.push_stock(request, {line.menu_item_id for line in order.items})
    return json_response(order, status=201, headers={"Location": f"/api/orders/{order.id}"})


async def _low_stock(request: web.Request, order: str, rows: list[LowStock]) -> None:
    """An ``inventory.low`` event per row the order took to its threshold (best effort)."""
    src = request.app[SETTINGS].web.name
    try:
        for row in rows:
            rec = EventRecord(
                eid=uuid.uuid4().hex,
                type="inventory.low",
                ts=time.time(),
                level=Level.WARNING,
                src=src,
                data={
                    "inventory": row.id,
                    "name": row.name,
                    "stock": row.stock,
                    "low_stock": row.low_stock,
                    "order": order,
                },
            )
            await request.app[REDIS].xadd(KEYS.events, dict(to_fields(rec)))  # type: ignore[arg-type]
    except RedisError as exc:
        log.warning("inventory_low_event_failed", error=str(exc))


@routes.route(
    "GET",
    "/api/orders",
    summary="List orders",
    roles=ALL_ROLES,
    query=OrdersQuery,
    response=OrderList,
)
async def list_orders(request: web.Request, query: OrdersQuery) -> OrderList:
    """Newest first by default; filter by `status` (repeat or commas), `table_id`, `open`,
    `day` (placed that day in `tz`, an IANA zone such as Asia/Seoul; default UTC) and
    `robot` (the serving robot that carried it). `totals` counts every matching order by
    status and sums their prices per currency (not only this page)."""
    items, total, totals = await _service(request).page(query)
    return OrderList(items=items, total=total, totals=totals)


@routes.route(
    "GET",
    "/api/orders/{order_id}",
    summary="One order with its history",
    roles=ALL_ROLES,
    params=OrderPath,
    response=OrderOut,
)
async def get_order(request: web.Request, params: OrderPath) -> OrderOut:
    """`history` lists each status with when and who; `log` the task assignments and
    releases; `tasks` every robot's attempt at each task (the dish, when it was assigned,
    its outcome, and why a robot was released from it: a reassignment), `cooked_by` and
    `carried_by` the robots that did the work."""
    return await _service(request).get(params.order_id)


@routes.route(
    "POST",
    "/api/orders/{order_id}/cancel",
    summary="Cancel an order",
    roles=WRITERS,
    params=OrderPath,
    response=OrderOut,
    errors=(409,),
)
async def cancel_order(request: web.Request, params: OrderPath) -> OrderOut:
    """Until it is delivered (a delivered order is a 409). An order still `placed` gives
    its stock back. Cancelling a cancelled order answers it unchanged."""
    order, changed = await _service(request).cancel(params.order_id, request[USER].username)
    if changed:
        request.app[OUTBOX].wake()
        await live.push_stock(request, {line.menu_item_id for line in order.items})
    return order


@routes.route(
    "POST",
    "/api/orders/{order_id}/pickup",
    summary="The guest took the dishes",
    roles=WRITERS,
    params=OrderPath,
    response=OrderOut,
    status=202,
    errors=(409,),
)
async def pickup_order(request: web.Request, params: OrderPath) -> OrderOut:
    """For a `delivering` order whose robot waits at the table: it may leave (the order
    becomes `delivered` when it does). Robots also leave by themselves after a while."""
    order = await _service(request).pickup(params.order_id, request[USER].username)
    request.app[OUTBOX].wake()
    return order


@routes.route(
    "GET",
    "/api/orders/{order_id}/events",
    summary="One order's progress as Server-Sent Events",
    roles=ALL_ROLES,
    params=OrderPath,
    query=FeedQuery,
    token_query=True,
    raw=True,
    response_type="text/event-stream",
    errors=(401, 403, 404, 422, 503),
)
async def order_events(request: web.Request) -> web.StreamResponse:
    """The `orders` topic for this order alone: `hello`, a `snapshot` with the order and
    its history, then an `order` frame per status change and a `task` frame per task
    event, each with the rd:events id as SSE `id` (resume with Last-Event-ID)."""
    check_origin(request)
    user = await auth.authenticate(request, allow_query=True)
    auth.require(user, ALL_ROLES)
    params = parse_path(request, OrderPath)
    await _service(request).get(params.order_id)  # 404 for an unknown order
    topic = request.app[TOPICS].get("orders")
    if topic is None:  # pragma: no cover - a custom registry without orders
        raise not_found("topic", "orders")
    _, since, _ = parse_feed(request, topic, last_event_id=True)
    fr = FeedRequest(topic, user, Filter.make(keys=[params.order_id]), since, None)
    return await serve_feed(request, fr)
