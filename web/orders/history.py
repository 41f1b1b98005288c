"""Past orders: the filters of ``GET /api/orders`` beyond status and table, and the totals."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.streams import OrderStatus
from web.db.orders import Order
from web.http.problems import Problem
from web.orders.schemas import Money, OrdersQuery, OrderTotals


def day_window(day: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of ``day`` in the IANA zone ``tz``; ValueError for an unknown zone."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None
    start = datetime.combine(day, time(), zone)
    return start, start + timedelta(days=1)


def filters(q: OrdersQuery) -> list[ColumnElement[bool]]:
    """The conditions of ``day`` (in ``tz``) and ``robot``."""
    where: list[ColumnElement[bool]] = []
    if q.day is not None:
        try:
            start, end = day_window(q.day, q.tz)
        except ValueError as exc:
            raise Problem(
                422, "invalid_field", f"query: tz: {exc}", field="tz", extra={"in": "query"}
            ) from None
        where += [Order.created_at >= start, Order.created_at < end]
    if q.robot is not None:
        where.append(Order.robot == q.robot)
    return where


async def order_totals(s: AsyncSession, where: list[ColumnElement[bool]]) -> OrderTotals:
    """Counts per status and sums per currency of every order ``where`` matches."""
    rows = await s.execute(
        select(Order.status, Order.currency, func.count(), func.sum(Order.total_minor))
        .where(*where)
        .group_by(Order.status, Order.currency)
    )
    by_status = {str(st): 0 for st in OrderStatus}
    revenue: dict[str, int] = {}
    delivered: dict[str, int] = {}
    for status, currency, count, total in rows:
        by_status[status] = by_status.get(status, 0) + int(count)
        if status != OrderStatus.CANCELLED:
            revenue[currency] = revenue.get(currency, 0) + int(total or 0)
        if status == OrderStatus.DELIVERED:
            delivered[currency] = delivered.get(currency, 0) + int(total or 0)
    return OrderTotals(
        orders=sum(by_status.values()),
        by_status=by_status,
        revenue=[Money(currency=c, minor=m) for c, m in sorted(revenue.items())],
        delivered=[Money(currency=c, minor=m) for c, m in sorted(delivered.items())],
    )
