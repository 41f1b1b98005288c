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

from web.http.schemas import Offset, Query, Request, RobotId
from web.http.schemas import RowId as Id

OrderId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,48}$")]
Status = Literal["placed", "cooking", "ready", "delivering", "delivered", "cancelled"]
TableName = Annotated[str, Meta(min_length=1, max_length=32)]
Quantity = Annotated[int, Meta(ge=1, le=99, description="portions; at least 1")]


class OrderLineIn(Request):
    menu_item_id: Id
    quantity: Quantity = 1


class OrderIn(Request, kw_only=True):
    table_id: Annotated[Id | None, Meta(description="the table's id; or give `table`")] = None
    table: Annotated[
        TableName | None,
        Meta(description="the table's name (`T5`), as robot commands take it; or `table_id`"),
    ] = None
    items: Annotated[list[OrderLineIn], Meta(min_length=1, max_length=50)]
    note: Annotated[str, Meta(max_length=500)] = ""


class OrderLineOut(Struct, kw_only=True):
    line: int
    menu_item_id: int
    name: str
    recipe: str | None  # null: prepared by staff, not cooked by a robot
    quantity: int
    unit_price_minor: int
    subtotal_minor: int


class StatusChange(Struct, kw_only=True):
    status: Status
    previous: Status | None
    at: datetime
    robot: str  # the delivering robot, once there is one
    source: str  # who said so: the web process, a user, the gateway


class OrderLogEntry(Struct, kw_only=True):
    """A task event of the order: task.assigned, task.released, command.failed ..."""

    type: str
    at: datetime
    robot: str
    data: dict[str, Any]


class TaskAttempt(Struct, kw_only=True):
    """One robot's attempt at one task of the order (web/orders/detail.py)."""

    task: str  # "{order}:c{i}" cooks line i + 1, "{order}:d" is the delivery
    kind: Literal["cook", "deliver"]
    robot: str
    attempt: int  # 1, 2, ...: above 1 the task was reassigned
    item: str  # the dish a cook task makes ("" for the delivery)
    line: int | None  # its order line
    assigned_at: datetime
    # done: the order moved past it; released: the robot lost it (see `reason`) and it went
    # to another; replaced: assigned again with no release seen; running; cancelled
    outcome: Literal["running", "done", "released", "replaced", "cancelled"]
    released_at: datetime | None = None
    reason: str = ""  # why it was released: "robot reported error", "robot offline", ...


class OrderOut(Struct, kw_only=True):
    id: str
    table_id: int
    table: str
    status: Status
    total_minor: int
    currency: str
    note: str
    robot: str  # the serving robot that carried (or carries) it; "" before delivery
    created_by: str
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None  # when the gateway took the order
    items: list[OrderLineOut]
    history: list[StatusChange]  # oldest first
    log: list[OrderLogEntry]  # task assignments and releases, oldest first
    tasks: list[TaskAttempt] = []  # every attempt at every task, oldest first
    cooked_by: list[str] = []  # the cooking robots that made its dishes
    carried_by: str = ""  # the serving robot that carried it


class OrderPath(Query):
    order_id: OrderId


class OrdersQuery(Query):
    status: list[Status] = []
    table_id: Id | None = None
    open: bool | None = None  # true: not delivered or cancelled yet
    day: date | None = None  # placed on this day, in `tz`
    tz: Annotated[str, Meta(max_length=64, description="IANA time zone of `day`")] = "UTC"
    robot: RobotId | None = None  # carried by this serving robot
    sort: Literal["created_at", "-created_at"] = "-created_at"
    limit: Annotated[int, Meta(ge=1, le=500)] = 100
    offset: Offset = 0


class Money(Struct, kw_only=True):
    currency: str
    minor: int


class OrderTotals(Struct, kw_only=True):
    """Every order the filters match (not only the page)."""

    orders: int
    by_status: dict[str, int]  # every status, 0 when none
    revenue: list[Money]  # per currency: the orders not cancelled
    delivered: list[Money]  # per currency: the delivered orders


class OrderList(Struct, kw_only=True):
    items: list[OrderOut]
    total: int
    totals: OrderTotals | None = None
