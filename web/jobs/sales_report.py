"""``sales_report``: the orders of one day as CSV in the media store (an upload, source job)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

from msgspec import Meta, Struct
from sqlalchemy import func, select

from web.db.orders import Order, OrderLine
from web.db.restaurant import FloorTable
from web.jobs.runtime import JobContext, JobFailed, kind
from web.orders.history import day_window

PAGE = 500
COLUMNS = ["order_id", "created_at", "table", "status", "items", "total_minor", "currency", "robot"]


class SalesReportIn(Struct, forbid_unknown_fields=True, kw_only=True):
    date: date  # the day, in `tz`
    tz: Annotated[str, Meta(max_length=64, description="IANA time zone, e.g. Asia/Seoul")] = "UTC"


@kind("sales_report", SalesReportIn, "The orders of one day (in `tz`) as CSV in the media store.")
async def sales_report(ctx: JobContext, inp: SalesReportIn) -> dict[str, Any]:
    try:
        start, end = day_window(inp.date, inp.tz)
    except ValueError as exc:
        raise JobFailed(f"invalid input: {exc}", permanent=True) from None
    zone = start.tzinfo
    window = (Order.created_at >= start, Order.created_at < end)
    async with ctx.db() as s:
        total = int(await s.scalar(select(func.count()).select_from(Order).where(*window)) or 0)
    summary = {"orders": 0, "total_minor": 0, "cancelled": 0}
    await ctx.progress(0.0, f"{total} orders")

    async def rows() -> AsyncIterator[bytes]:
        buf = io.StringIO()
        out = csv.writer(buf)
        out.writerow(COLUMNS)
        done = 0
        while True:
            async with ctx.db() as s:
                page = (
                    await s.execute(
                        select(Order, FloorTable.name)
                        .join(FloorTable, FloorTable.id == Order.table_id)
                        .where(*window)
                        .order_by(Order.created_at, Order.id)
                        .limit(PAGE)
                        .offset(done)
                    )
                ).all()
                ids = [o.id for o, _ in page]
                lines = (
                    (
                        await s.scalars(
                            select(OrderLine)
                            .where(OrderLine.order_id.in_(ids))
                            .order_by(OrderLine.order_id, OrderLine.line)
                        )
                    ).all()
                    if ids
                    else []
                )
            items: dict[str, list[str]] = {}
            for ln in lines:
                items.setdefault(ln.order_id, []).append(f"{ln.name} x{ln.quantity}")
            for o, table in page:
                out.writerow(
                    [
                        o.id,
                        o.created_at.astimezone(zone).isoformat(),
                        table,
                        o.status,
                        "; ".join(items.get(o.id, [])),
                        o.total_minor,
                        o.currency,
                        o.robot,
                    ]
                )
                summary["orders"] += 1
                if o.status == "cancelled":
                    summary["cancelled"] += 1
                else:
                    summary["total_minor"] += o.total_minor
            done += len(page)
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
            if len(page) < PAGE:
                return
            await ctx.progress(done / max(total, 1), f"{done} of {total} orders")

    up = await ctx.uploads.save(
        rows(),
        filename=f"sales-{inp.date.isoformat()}.csv",
        content_type="text/csv",
        created_by=f"job:{ctx.id}",
        source="job",
    )
    await ctx.progress(1.0, f"{summary['orders']} orders")
    return {"upload_id": up.id, "date": inp.date.isoformat(), "tz": inp.tz, **summary}
