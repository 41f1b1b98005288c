"""Guest tables on the floor plan: where the serving robots carry the dishes."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import FloorSettings
from web.db.orders import Order
from web.db.restaurant import FloorTable
from web.db.session import transaction
from web.http.problems import Problem, not_found
from web.restaurant.schemas import TableIn, TableOut, TablePatch, TablesQuery

_SORT = {
    "id": (FloorTable.id,),
    "name": (FloorTable.name, FloorTable.id),
    "-name": (FloorTable.name.desc(), FloorTable.id),
    "seats": (FloorTable.seats, FloorTable.id),
    "-seats": (FloorTable.seats.desc(), FloorTable.id),
}


def table_out(t: FloorTable) -> TableOut:
    return TableOut(id=t.id, name=t.name, seats=t.seats, x=t.x, y=t.y, active=t.active)


async def all_tables(s: AsyncSession) -> list[TableOut]:
    return [table_out(t) for t in await s.scalars(select(FloorTable).order_by(FloorTable.id))]


class TableService:
    def __init__(self, db: async_sessionmaker[AsyncSession], floor: FloorSettings) -> None:
        self.db, self.floor = db, floor

    async def page(self, q: TablesQuery) -> tuple[list[TableOut], int]:
        where: list[ColumnElement[bool]] = []
        if q.active is not None:
            where.append(FloorTable.active == q.active)
        if q.min_seats is not None:
            where.append(FloorTable.seats >= q.min_seats)
        stmt = select(FloorTable).where(*where).order_by(*_SORT[q.sort])
        async with self.db() as s:
            rows = (await s.scalars(stmt.limit(q.limit).offset(q.offset))).all()
            total = await s.scalar(select(func.count()).select_from(FloorTable).where(*where))
        return [table_out(t) for t in rows], int(total or 0)

    async def get(self, table_id: int) -> TableOut:
        async with self.db() as s:
            t = await s.get(FloorTable, table_id)
        if t is None:
            raise not_found("table", str(table_id))
        return table_out(t)

    def _check_position(self, x: float, y: float) -> None:
        for name, v, most in (("x", x, self.floor.width), ("y", y, self.floor.height)):
            if v > most:
                raise Problem(
                    422,
                    "invalid_field",
                    f"body: {name} = {v} is outside the floor plan (0 to {most} m, [floor])",
                    field=name,
                    extra={"in": "body"},
                )

    async def create(self, body: TableIn) -> TableOut:
        self._check_position(body.x, body.y)
        try:
            async with transaction(self.db) as s:
                t = FloorTable(**msgspec.structs.asdict(body))
                s.add(t)
                await s.flush()
                return table_out(t)
        except IntegrityError:
            raise _duplicate(body.name) from None

    async def update(self, table_id: int, patch: TablePatch) -> TableOut:
        changes: dict[str, Any] = {
            k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET
        }
        try:
            async with transaction(self.db) as s:
                t = await s.get(FloorTable, table_id, with_for_update=True)
                if t is None:
                    raise not_found("table", str(table_id))
                self._check_position(changes.get("x", t.x), changes.get("y", t.y))
                for k, v in changes.items():
                    setattr(t, k, v)
                await s.flush()
                return table_out(t)
        except IntegrityError:
            raise _duplicate(str(changes.get("name"))) from None

    async def delete(self, table_id: int) -> None:
        async with transaction(self.db) as s:
            t = await s.get(FloorTable, table_id, with_for_update=True)
            if t is None:
                raise not_found("table", str(table_id))
            used = await s.scalar(select(func.count()).where(Order.table_id == table_id))
            if used:
                raise Problem(
                    409,
                    "conflict",
                    f"table {t.name!r} has {used} orders; deactivate it instead "
                    '(PATCH {"active": false})',
                )
            await s.delete(t)


def _duplicate(name: str) -> Problem:
    return Problem(409, "conflict", f"a table named {name!r} exists", field="name")
