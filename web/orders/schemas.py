"""Request and answer models of /api/orders (the interface outside checks rely on).

``POST /api/orders`` takes ``{"table_id", "items": [{"menu_item_id", "quantity"}]}``
(or the table's ``name`` as ``table`` instead of ``table_id``, as robot commands take it)
and answers 201 with the order: its ``id``, ``status`` and ``history``.
A delivered order's history is placed, cooking, ready, delivering, delivered.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from web.http.schemas import Offset, Query, Request, RobotId, doc
from web.http.schemas import RowId as Id

OrderId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,48}$")]
Status = Literal["placed", "cooking", "ready", "delivering", "delivered", "cancelled"]
TableName = Annotated[str, Meta(min_length=1, max_length=32)]
Quantity = Annotated[int, Meta(ge=1, le=99, description="portions; at least 1")]


class OrderLineIn(Request):
    menu_item_id: Annotated[Id, doc("the menu item (`GET /api/menu`)", 1)]
    quantity: Quantity = 1


class OrderIn(Request, kw_only=True):
    table_id: Annotated[Id | None, doc("the table (`GET /api/tables`); or give `table`", 3)] = None
    table: Annotated[
        TableName | None,
        doc("the table's name (`T5`), as robot commands take it; or `table_id`", "T5"),
    ] = None
    items: Annotated[
        list[OrderLineIn],
        Meta(min_length=1, max_length=50),
        doc("what is ordered: one line per menu item"),
    ]
    note: Annotated[str, Meta(max_length=500), doc("for the kitchen", "no onions")] = ""


class OrderLineOut(Struct, kw_only=True):
    line: Annotated[int, doc("the line's number in the order, from 0")]
    menu_item_id: Annotated[int, doc("the menu item")]
    name: Annotated[str, doc("the item's name when ordered")]
    recipe: Annotated[
        str | None, doc("its recipe (null: prepared by staff, not cooked by a robot)")
    ]
    quantity: Annotated[int, doc("portions")]
    unit_price_minor: Annotated[int, doc("the price of one, when ordered")]
    subtotal_minor: Annotated[int, doc("quantity times unit price")]


class StatusChange(Struct, kw_only=True):
    status: Annotated[Status, doc("the status it moved to")]
    previous: Annotated[Status | None, doc("the status before (null: the first)")]
    at: Annotated[datetime, doc("when")]
    robot: Annotated[str, doc("the delivering robot, once there is one")]
    source: Annotated[str, doc("who said so: the web process, a user, the gateway")]


class OrderLogEntry(Struct, kw_only=True):
    """A task event of the order: task.assigned, task.released, command.failed ..."""

    type: Annotated[
        str, doc("`task.assigned`, `task.released` or `command.failed`", "task.assigned")
    ]
    at: Annotated[datetime, doc("when")]
    robot: Annotated[str, doc("the robot")]
    data: Annotated[dict[str, Any], doc("the event's data (task, kind, attempt, reason)")]


class TaskAttempt(Struct, kw_only=True):
    """One robot's attempt at one task of the order (web/orders/detail.py)."""

    task: Annotated[
        str,
        doc("the task: `{order}:c{i}` cooks line i + 1, `{order}:d` is the delivery", "5f0c:d"),
    ]
    kind: Annotated[Literal["cook", "deliver"], doc("what the task does", "deliver")]
    robot: Annotated[str, doc("the robot that had it", "serve-1")]
    attempt: Annotated[int, doc("1, 2, ...: above 1 the task was reassigned", 1)]
    item: Annotated[str, doc("the dish a cook task makes (empty for the delivery)")]
    line: Annotated[
        int | None,
        doc("the order line a cook task makes (`line` of `items`); null for the delivery"),
    ]
    assigned_at: Annotated[datetime, doc("when the robot got it")]
    outcome: Annotated[
        Literal["running", "done", "released", "replaced", "cancelled"],
        doc(
            "`done`: the order moved past it; `released`: the robot lost it (see `reason`) and "
            "it went to another; `replaced`: assigned again with no release seen; `running`; "
            "`cancelled`",
            "done",
        ),
    ]
    released_at: Annotated[datetime | None, doc("when the robot lost it; null if it did not")] = (
        None
    )
    reason: Annotated[str, doc("why it was released", "robot offline")] = ""


class OrderOut(Struct, kw_only=True):
    id: Annotated[str, doc("the order's id", "5f0c9a3e1b2d4c6e")]
    table_id: Annotated[int, doc("its table")]
    table: Annotated[str, doc("its table's name", "T3")]
    status: Annotated[
        Status, doc("placed, cooking, ready, delivering, delivered or cancelled", "placed")
    ]
    total_minor: Annotated[int, doc("the sum of its lines, in the minor unit", 22000)]
    currency: Annotated[str, doc("ISO 4217")]
    note: Annotated[str, doc("for the kitchen")]
    robot: Annotated[
        str, doc("the serving robot that carried (or carries) it; empty before delivery")
    ]
    created_by: Annotated[str, doc("who placed it (a username or `integration:<name>`)")]
    created_at: Annotated[datetime, doc("when it was placed")]
    updated_at: Annotated[datetime, doc("its last change")]
    accepted_at: Annotated[datetime | None, doc("when the gateway took the order (null: not yet)")]
    items: Annotated[
        list[OrderLineOut], doc("its lines, with the names and prices they were placed with")
    ]
    history: Annotated[list[StatusChange], doc("every status change, oldest first")]
    log: Annotated[list[OrderLogEntry], doc("task assignments and releases, oldest first")]
    tasks: Annotated[
        list[TaskAttempt], doc("every robot's attempt at every task, oldest first")
    ] = []
    cooked_by: Annotated[list[str], doc("the cooking robots that made its dishes")] = []
    carried_by: Annotated[str, doc("the serving robot that carried it")] = ""


class OrderPath(Query):
    order_id: Annotated[OrderId, doc("the order")]


class OrdersQuery(Query):
    status: Annotated[list[Status], doc("only these statuses (repeat or commas)")] = []
    table_id: Annotated[Id | None, doc("only this table's")] = None
    open: Annotated[bool | None, doc("true: not delivered or cancelled yet")] = None
    day: Annotated[date | None, doc("placed on this day, in `tz`", "2026-12-07")] = None
    tz: Annotated[str, Meta(max_length=64), doc("IANA time zone of `day`", "Asia/Seoul")] = "UTC"
    robot: Annotated[RobotId | None, doc("carried by this serving robot")] = None
    sort: Annotated[
        Literal["created_at", "-created_at"], doc("order of the list (`-created_at`: newest first)")
    ] = "-created_at"
    limit: Annotated[int, Meta(ge=1, le=500), doc("orders per page at most")] = 100
    offset: Offset = 0


class Money(Struct, kw_only=True):
    currency: Annotated[str, doc("ISO 4217", "KRW")]
    minor: Annotated[int, doc("the sum in the currency's minor unit", 22000)]


class OrderTotals(Struct, kw_only=True):
    """Every order the filters match (not only the page)."""

    orders: Annotated[int, doc("orders that match", 12)]
    by_status: Annotated[dict[str, int], doc("orders per status; every status, 0 when none")]
    revenue: Annotated[list[Money], doc("per currency: the sum of the orders not cancelled")]
    delivered: Annotated[list[Money], doc("per currency: the sum of the delivered orders")]


class OrderList(Struct, kw_only=True):
    items: Annotated[list[OrderOut], doc("this page")]
    total: Annotated[int, doc("orders that match, in all")]
    totals: Annotated[
        OrderTotals | None, doc("counts and sums over every matching order, not only the page")
    ] = None
