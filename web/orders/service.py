"""Placing, cancelling and reading orders: SQL is the truth, the outbox tells the gateway.

Placing an order is one transaction: the table and menu items are checked,
the stock is taken (web/restaurant/inventory.py ``reserve``: a conditional
update, so the last portion goes to exactly one order), and the order, its
lines, its first history entry and an ``order.place`` outbox row are
written. The relay (web/orders/outbox.py) then puts the outbox row on
rd:commands. Nothing reaches Redis before the commit, and nothing committed
is lost if Redis is down: the relay sends it when Redis is back.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec
import orjson
import structlog
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.streams import CommandType, OrderStatus
from web.db.models import utcnow
from web.db.orders import Order, OrderEvent, OrderLine, OutboxRow
from web.db.restaurant import FloorTable, InventoryItem, MenuIngredient, MenuItem
from web.db.session import transaction
from web.http.problems import Problem, not_found
from web.orders.detail import carried_by, cooked_by, task_attempts
from web.orders.history import filters, order_totals
from web.orders.schemas import (
    OrderIn,
    OrderLineOut,
    OrderLogEntry,
    OrderOut,
    OrdersQuery,
    OrderTotals,
    StatusChange,
)
from web.restaurant.inventory import LowStock, OutOfStock, reserve

log = structlog.get_logger("web.orders")

FINISHED = (OrderStatus.DELIVERED, OrderStatus.CANCELLED)


def new_order_id() -> str:
    """16 hex digits: unique enough for a restaurant, short enough to read out."""
    return secrets.token_hex(8)


def digest(body: OrderIn) -> str:
    return hashlib.sha256(orjson.dumps(msgspec.to_builtins(body))).hexdigest()


def _body_problem(status: int, code: str, detail: str, field: str, **extra: Any) -> Problem:
    return Problem(status, code, f"body: {detail}", field=field, extra={"in": "body", **extra})


async def load_orders(s: AsyncSession, orders: Sequence[Order]) -> list[OrderOut]:
    """Orders with their table name, lines, history and task log (three queries in all)."""
    ids = [o.id for o in orders]
    if not ids:
        return []
    found = await s.execute(
        select(FloorTable.id, FloorTable.name).where(
            FloorTable.id.in_({o.table_id for o in orders})
        )
    )
    tables: dict[int, str] = {}
    for table_id, name in found:  # Rows, not pairs: dict(found) would not do
        tables[table_id] = name
    lines: dict[str, list[OrderLineOut]] = defaultdict(list)
    for ln in await s.scalars(
        select(OrderLine).where(OrderLine.order_id.in_(ids)).order_by(OrderLine.line)
    ):
        lines[ln.order_id].append(
            OrderLineOut(
                line=ln.line,
                menu_item_id=ln.menu_item_id,
                name=ln.name,
                recipe=ln.recipe,
                quantity=ln.quantity,
                unit_price_minor=ln.unit_price_minor,
                subtotal_minor=ln.unit_price_minor * ln.quantity,
            )
        )
    history: dict[str, list[StatusChange]] = defaultdict(list)
    task_log: dict[str, list[OrderLogEntry]] = defaultdict(list)
    for ev in await s.scalars(
        select(OrderEvent)
        .where(OrderEvent.order_id.in_(ids))
        .order_by(OrderEvent.at, OrderEvent.id)
    ):
        if ev.type == "order.status":
            if ev.status is not None:  # NULL: an event that changed nothing (kept for its eid)
                history[ev.order_id].append(
                    msgspec.convert(
                        {
                            "status": ev.status,
                            "previous": ev.previous,
                            "at": ev.at,
                            "robot": ev.robot,
                            "source": ev.source,
                        },
                        StatusChange,
                        from_attributes=True,
                    )
                )
        else:
            task_log[ev.order_id].append(
                OrderLogEntry(type=ev.type, at=ev.at, robot=ev.robot, data=orjson.loads(ev.detail))
            )
    out = [
        msgspec.convert(
            {
                "id": o.id,
                "table_id": o.table_id,
                "table": tables.get(o.table_id, ""),
                "status": o.status,
                "total_minor": o.total_minor,
                "currency": o.currency,
                "note": o.note,
                "robot": o.robot,
                "created_by": o.created_by,
                "created_at": o.created_at,
                "updated_at": o.updated_at,
                "accepted_at": o.accepted_at,
                "items": lines[o.id],
                "history": history[o.id],
                "log": task_log[o.id],
            },
            OrderOut,
            from_attributes=True,
        )
        for o in orders
    ]
    for order in out:
        order.tasks = task_attempts(order.status, order.items, order.log)
        order.cooked_by = cooked_by(order.tasks)
        order.carried_by = carried_by(order.tasks) or order.robot
    return out


async def _table(s: AsyncSession, body: OrderIn) -> FloorTable:
    """The order's table, by ``table_id`` or by ``table`` (its name): exactly one of them."""
    if (body.table_id is None) == (body.table is None):
        raise _body_problem(
            422, "invalid_field", "give the table as table_id or as table (its name)", "table_id"
        )
    if body.table_id is not None:
        table = await s.get(FloorTable, body.table_id)
        if table is None:
            raise _body_problem(422, "invalid_field", f"no table {body.table_id}", "table_id")
        return table
    table = await s.scalar(select(FloorTable).where(FloorTable.name == body.table))
    if table is None:
        raise _body_problem(
            422, "invalid_field", f"no table named {body.table!r}", "table", table=body.table
        )
    return table


class OrderService:
    def __init__(self, db: async_sessionmaker[AsyncSession], *, source: str) -> None:
        self.db = db
        self.source = source  # this web process (`web.name`), recorded in history

    # ---- reading ----------------------------------------------------------------

    async def page(
        self, q: OrdersQuery, *, with_totals: bool = True
    ) -> tuple[list[OrderOut], int, OrderTotals | None]:
        """(the page, how many match, their totals: skipped for the board's snapshot)."""
        where: list[ColumnElement[bool]] = filters(q)
        if q.status:
            where.append(Order.status.in_(q.status))
        if q.table_id is not None:
            where.append(Order.table_id == q.table_id)
        if q.open is not None:
            finished = Order.status.in_([str(s) for s in FINISHED])
            where.append(~finished if q.open else finished)
        order_by = Order.created_at.desc() if q.sort.startswith("-") else Order.created_at
        stmt = select(Order).where(*where).order_by(order_by, Order.id)
        async with self.db() as s:
            rows = (await s.scalars(stmt.limit(q.limit).offset(q.offset))).all()
            if with_totals:
                totals = await order_totals(s, where)
                return await load_orders(s, rows), totals.orders, totals
            total = await s.scalar(select(func.count()).select_from(Order).where(*where))
            return await load_orders(s, rows), int(total or 0), None

    async def get(self, order_id: str) -> OrderOut:
        async with self.db() as s:
            o = await s.get(Order, order_id)
            if o is None:
                raise not_found("order", order_id)
            return (await load_orders(s, [o]))[0]

    # ---- placing ----------------------------------------------------------------

    async def place(
        self, body: OrderIn, user: str, idempotency_key: str | None = None
    ) -> tuple[OrderOut, bool, list[LowStock]]:
        """(order, is a repeat of an earlier request with the same key, stock now low)."""
        key = f"{user}:{idempotency_key}" if idempotency_key is not None else None
        body_digest = digest(body)
        if key is not None:
            earlier = await self._earlier(key, body_digest)
            if earlier is not None:
                return earlier, True, []
        try:
            async with transaction(self.db) as s:
                order, low = await self._place(s, body, user, key, body_digest)
                out = (await load_orders(s, [order]))[0]
        except IntegrityError:
            # The same Idempotency-Key committed by a concurrent request: answer that one.
            if key is not None:
                earlier = await self._earlier(key, body_digest)
                if earlier is not None:
                    return earlier, True, []
            raise
        log.info(
            "order_placed",
            order=out.id,
            table=out.table,
            lines=len(out.items),
            total=out.total_minor,
            user=user,
        )
        return out, False, low

    async def _earlier(self, key: str, body_digest: str) -> OrderOut | None:
        async with self.db() as s:
            o = await s.scalar(select(Order).where(Order.idempotency_key == key))
            if o is None:
                return None
            if o.request_digest != body_digest:
                raise Problem(
                    422,
                    "invalid_field",
                    "Idempotency-Key was used for a different order",
                    field="Idempotency-Key",
                    extra={"in": "header"},
                )
            return (await load_orders(s, [o]))[0]

    async def _place(
        self, s: AsyncSession, body: OrderIn, user: str, key: str | None, body_digest: str
    ) -> tuple[Order, list[LowStock]]:
        table = await _table(s, body)
        if not table.active:
            raise _body_problem(
                409,
                "unavailable",
                f"table {table.name!r} is not in service",
                "table" if body.table is not None else "table_id",
                table=table.name,
            )
        wanted = {line.menu_item_id for line in body.items}
        items = {m.id: m for m in await s.scalars(select(MenuItem).where(MenuItem.id.in_(wanted)))}
        lines: list[tuple[MenuItem, int]] = []
        for i, line in enumerate(body.items):
            item = items.get(line.menu_item_id)
            field = f"items[{i}].menu_item_id"
            if item is None:
                raise _body_problem(
                    422, "invalid_field", f"no menu item {line.menu_item_id}", field
                )
            if not item.available:
                raise _body_problem(
                    409,
                    "unavailable",
                    f"{item.name} is not available",
                    field,
                    menu_item_id=item.id,
                    item=item.name,
                )
            lines.append((item, line.quantity))
        currencies = {item.currency for item, _ in lines}
        if len(currencies) > 1:
            raise _body_problem(
                422,
                "invalid_field",
                f"one order, one currency (got {', '.join(sorted(currencies))})",
                "items",
            )
        try:
            low = await reserve(s, lines)
        except OutOfStock as exc:
            index = next(i for i, (m, _) in enumerate(lines) if m.id == exc.item_id)
            raise _body_problem(
                409,
                "out_of_stock",
                str(exc),
                f"items[{index}].menu_item_id",
                menu_item_id=exc.item_id,
                item=exc.item,
                needed=exc.needed,
                left=exc.left,
                short_of=exc.stock,
            ) from None
        now = utcnow()
        order = Order(
            id=new_order_id(),
            table_id=table.id,
            status=OrderStatus.PLACED.value,
            total_minor=sum(item.price_minor * q for item, q in lines),
            currency=currencies.pop(),
            note=body.note,
            created_by=user,
            idempotency_key=key,
            request_digest=body_digest,
            created_at=now,
            updated_at=now,
        )
        s.add(order)
        await s.flush()  # the order row first: lines and events refer to it
        args_items = []
        for n, (item, qty) in enumerate(lines, start=1):
            s.add(
                OrderLine(
                    order_id=order.id,
                    line=n,
                    menu_item_id=item.id,
                    name=item.name,
                    recipe=item.recipe if item.robot_cooked else None,
                    quantity=qty,
                    unit_price_minor=item.price_minor,
                )
            )
            args_items.append(
                {
                    "line": str(n),
                    "name": item.name_en or item.name,
                    "recipe": item.recipe if item.robot_cooked else None,
                    "quantity": qty,
                }
            )
        s.add(
            OrderEvent(
                order_id=order.id,
                type="order.status",
                status=OrderStatus.PLACED.value,
                source=user,
                detail=orjson.dumps({"by": self.source}).decode(),
                at=now,
            )
        )
        self._outbox(
            s,
            CommandType.ORDER_PLACE,
            {
                "order": order.id,
                "table": {"name": table.name, "x": table.x, "y": table.y},
                "items": args_items,
            },
            user,
        )
        await s.flush()
        return order, low

    @staticmethod
    def _outbox(s: AsyncSession, kind: CommandType, args: dict[str, Any], user: str) -> None:
        s.add(
            OutboxRow(
                id=uuid.uuid4().hex,
                type=kind.value,
                args=orjson.dumps(args).decode(),
                source=user,
            )
        )

    # ---- cancelling and pickup -------------------------------------------------

    async def cancel(self, order_id: str, user: str) -> tuple[OrderOut, bool]:
        """(order, changed). Cancelling a cancelled order changes nothing; a delivered one is 409.

        An order still ``placed`` gives its stock back; once cooking started, the
        ingredients are used.
        """
        async with transaction(self.db) as s:
            o = await s.get(Order, order_id, with_for_update=True)
            if o is None:
                raise not_found("order", order_id)
            if o.status == OrderStatus.DELIVERED:
                raise Problem(
                    409,
                    "conflict",
                    f"order {order_id} was delivered; it cannot be cancelled",
                    extra={"order_status": o.status},
                )
            if o.status == OrderStatus.CANCELLED:
                return (await load_orders(s, [o]))[0], False
            previous = o.status
            if previous == OrderStatus.PLACED:
                await _restock(s, order_id)
            now = utcnow()
            o.status = OrderStatus.CANCELLED.value
            o.updated_at = now
            s.add(
                OrderEvent(
                    order_id=o.id,
                    type="order.status",
                    status=OrderStatus.CANCELLED.value,
                    previous=previous,
                    source=user,
                    detail=orjson.dumps({"by": self.source}).decode(),
                    at=now,
                )
            )
            self._outbox(s, CommandType.ORDER_CANCEL, {"order": o.id}, user)
            await s.flush()
            out = (await load_orders(s, [o]))[0]
        log.info("order_cancelled", order=order_id, previous=previous, user=user)
        return out, True

    async def pickup(self, order_id: str, user: str) -> OrderOut:
        """Staff saw the guest take the dishes: the robot at the table may leave."""
        async with transaction(self.db) as s:
            o = await s.get(Order, order_id)
            if o is None:
                raise not_found("order", order_id)
            if o.status != OrderStatus.DELIVERING:
                raise Problem(
                    409,
                    "conflict",
                    f"order {order_id} is {o.status}; only a delivering order is picked up",
                    extra={"order_status": o.status},
                )
            self._outbox(s, CommandType.ORDER_PICKUP, {"order": o.id}, user)
            return (await load_orders(s, [o]))[0]


async def _restock(s: AsyncSession, order_id: str) -> None:
    """Give back what ``reserve`` took for the order's lines."""
    lines = await s.execute(
        select(OrderLine.menu_item_id, OrderLine.quantity).where(OrderLine.order_id == order_id)
    )
    qty: dict[int, int] = defaultdict(int)
    for item_id, n in lines:
        qty[item_id] += n
    back: dict[int, int] = defaultdict(int)
    for row_id, own in await s.execute(
        select(InventoryItem.id, InventoryItem.menu_item_id).where(
            InventoryItem.menu_item_id.in_(list(qty))
        )
    ):
        if own is not None:
            back[row_id] += qty[own]
    for item_id, row_id, amount in await s.execute(
        select(
            MenuIngredient.menu_item_id, MenuIngredient.inventory_id, MenuIngredient.amount
        ).where(MenuIngredient.menu_item_id.in_(list(qty)))
    ):
        back[row_id] += amount * qty[item_id]
    for row_id in sorted(back):
        await s.execute(
            update(InventoryItem)
            .where(InventoryItem.id == row_id)
            .values(stock=InventoryItem.stock + back[row_id], updated_at=utcnow())
        )
