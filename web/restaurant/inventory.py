"""Stock: counted per ready-made menu item or per ingredient, decremented by orders.

``reserve`` is the one place stock goes down for an order. It runs inside
the order's transaction as conditional updates
(``stock = stock - n WHERE stock >= n``), so two orders racing for the last
portion cannot both win, on SQLite (one writer at a time) and on PostgreSQL
(the second update waits for the first row lock, then re-checks the
condition) alike. Rows are updated in id order so two orders never lock
each other out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from web.db.models import utcnow
from web.db.restaurant import InventoryItem, MenuIngredient, MenuItem
from web.db.session import transaction
from web.http.problems import Problem, not_found
from web.restaurant.schemas import (
    IngredientUse,
    InventoryIn,
    InventoryOut,
    InventoryPatch,
    InventoryQuery,
)


@dataclass(frozen=True)
class LowStock:
    """A row that an order took to (or below) its threshold."""

    id: int
    name: str
    stock: int
    low_stock: int


class OutOfStock(Exception):
    """``needed`` of ``stock`` (the item itself or an ingredient) for ``item``, ``left`` left."""

    def __init__(self, item: str, item_id: int, stock: str, needed: int, left: int) -> None:
        super().__init__(f"{item} is out of stock (needs {needed} of {stock}, {left} left)")
        self.item, self.item_id = item, item_id
        self.stock, self.needed, self.left = stock, needed, left


async def reserve(s: AsyncSession, lines: Sequence[tuple[MenuItem, int]]) -> list[LowStock]:
    """Take the stock ``lines`` (menu item, quantity) need, or raise OutOfStock.

    Must run inside the caller's transaction, which rolls back on the raise.
    """
    ids = [item.id for item, _ in lines]
    names = {item.id: item.name for item, _ in lines}
    need: dict[int, int] = defaultdict(int)
    first_user: dict[int, int] = {}  # inventory id -> the first menu item needing it
    for row in await s.scalars(select(InventoryItem).where(InventoryItem.menu_item_id.in_(ids))):
        assert row.menu_item_id is not None
        qty = sum(q for item, q in lines if item.id == row.menu_item_id)
        need[row.id] += qty
        first_user.setdefault(row.id, row.menu_item_id)
    uses = await s.execute(
        select(MenuIngredient.menu_item_id, MenuIngredient.inventory_id, MenuIngredient.amount)
        .where(MenuIngredient.menu_item_id.in_(ids))
        .order_by(MenuIngredient.id)
    )
    for item_id, inventory_id, amount in uses:
        qty = sum(q for item, q in lines if item.id == item_id)
        need[inventory_id] += amount * qty
        first_user.setdefault(inventory_id, item_id)
    low: list[LowStock] = []
    for inventory_id in sorted(need):
        n = need[inventory_id]
        result = await s.execute(
            update(InventoryItem)
            .where(InventoryItem.id == inventory_id, InventoryItem.stock >= n)
            .values(stock=InventoryItem.stock - n, updated_at=utcnow())
            .returning(InventoryItem.stock, InventoryItem.low_stock, InventoryItem.ingredient)
        )
        got = result.one_or_none()
        item_id = first_user[inventory_id]
        if got is None:
            short = await s.get(InventoryItem, inventory_id)
            left = short.stock if short is not None else 0
            what = short.ingredient if short is not None and short.ingredient else names[item_id]
            raise OutOfStock(names[item_id], item_id, what, n, left)
        stock, threshold, ingredient = got
        if stock <= threshold:
            low.append(LowStock(inventory_id, ingredient or names[item_id], stock, threshold))
    return low


def _out(row: InventoryItem, name: str, used_by: list[IngredientUse]) -> InventoryOut:
    return InventoryOut(
        id=row.id,
        name=name,
        menu_item_id=row.menu_item_id,
        ingredient=row.ingredient,
        stock=row.stock,
        low_stock=row.low_stock,
        unit=row.unit,
        low=row.stock <= row.low_stock,
        used_by=used_by,
        updated_at=row.updated_at,
    )


_SORT: dict[str, Any] = {
    "id": (InventoryItem.id,),
    "name": (func.coalesce(MenuItem.name, InventoryItem.ingredient), InventoryItem.id),
    "stock": (InventoryItem.stock, InventoryItem.id),
    "-stock": (InventoryItem.stock.desc(), InventoryItem.id),
}


async def inventory_rows(s: AsyncSession, ids: Collection[int] | None = None) -> list[InventoryOut]:
    """These stock rows (None: all of them) as the API answers them, by id."""
    stmt = (
        select(InventoryItem, MenuItem.name)
        .outerjoin(MenuItem, MenuItem.id == InventoryItem.menu_item_id)
        .order_by(InventoryItem.id)
    )
    if ids is not None:
        stmt = stmt.where(InventoryItem.id.in_(list(ids)))
    rows = (await s.execute(stmt)).all()
    uses = await InventoryService._uses(s, [r.id for r, _ in rows])
    return [_out(r, name or r.ingredient or "", uses[r.id]) for r, name in rows]


class InventoryService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self.db = db

    async def page(self, q: InventoryQuery) -> tuple[list[InventoryOut], int]:
        where: list[ColumnElement[bool]] = []
        if q.low is not None:
            cond = InventoryItem.stock <= InventoryItem.low_stock
            where.append(cond if q.low else ~cond)
        if q.kind == "item":
            where.append(InventoryItem.menu_item_id.is_not(None))
        elif q.kind == "ingredient":
            where.append(InventoryItem.ingredient.is_not(None))
        stmt = (
            select(InventoryItem, MenuItem.name)
            .outerjoin(MenuItem, MenuItem.id == InventoryItem.menu_item_id)
            .where(*where)
            .order_by(*_SORT[q.sort])
            .limit(q.limit)
            .offset(q.offset)
        )
        async with self.db() as s:
            rows = (await s.execute(stmt)).all()
            total = await s.scalar(select(func.count()).select_from(InventoryItem).where(*where))
            uses = await self._uses(s, [r.id for r, _ in rows])
        return [_out(r, name or r.ingredient or "", uses[r.id]) for r, name in rows], int(
            total or 0
        )

    @staticmethod
    async def _uses(s: AsyncSession, ids: Iterable[int]) -> dict[int, list[IngredientUse]]:
        out: dict[int, list[IngredientUse]] = defaultdict(list)
        rows = await s.execute(
            select(MenuIngredient.inventory_id, MenuIngredient.menu_item_id, MenuIngredient.amount)
            .where(MenuIngredient.inventory_id.in_(list(ids)))
            .order_by(MenuIngredient.menu_item_id)
        )
        for inventory_id, item_id, amount in rows:
            out[inventory_id].append(IngredientUse(menu_item_id=item_id, amount=amount))
        return out

    async def get(self, inventory_id: int) -> InventoryOut:
        async with self.db() as s:
            return await self._get(s, inventory_id)

    async def _get(self, s: AsyncSession, inventory_id: int) -> InventoryOut:
        found = (
            await s.execute(
                select(InventoryItem, MenuItem.name)
                .outerjoin(MenuItem, MenuItem.id == InventoryItem.menu_item_id)
                .where(InventoryItem.id == inventory_id)
            )
        ).one_or_none()
        if found is None:
            raise not_found("inventory row", str(inventory_id))
        row, name = found
        uses = await self._uses(s, [row.id])
        return _out(row, name or row.ingredient or "", uses[row.id])

    async def create(self, body: InventoryIn) -> InventoryOut:
        if (body.menu_item_id is None) == (body.ingredient is None):
            raise Problem(
                422,
                "invalid_field",
                "body: give either menu_item_id (stock of a menu item) or ingredient",
                field="menu_item_id",
                extra={"in": "body"},
            )
        if body.menu_item_id is not None and body.used_by:
            raise Problem(
                422,
                "invalid_field",
                "body: used_by is for ingredients; a menu item's stock is its own",
                field="used_by",
                extra={"in": "body"},
            )
        try:
            async with transaction(self.db) as s:
                if body.menu_item_id is not None:
                    await _menu_item(s, body.menu_item_id, "menu_item_id")
                row = InventoryItem(
                    menu_item_id=body.menu_item_id,
                    ingredient=body.ingredient,
                    stock=body.stock,
                    low_stock=body.low_stock,
                    unit=body.unit,
                )
                s.add(row)
                await s.flush()
                await self._set_uses(s, row.id, body.used_by)
                return await self._get(s, row.id)
        except IntegrityError:
            what = (
                f"menu item {body.menu_item_id}"
                if body.menu_item_id is not None
                else f"ingredient {body.ingredient!r}"
            )
            raise Problem(409, "conflict", f"{what} already has a stock row") from None

    async def _set_uses(
        self, s: AsyncSession, inventory_id: int, uses: list[IngredientUse]
    ) -> None:
        await s.execute(delete(MenuIngredient).where(MenuIngredient.inventory_id == inventory_id))
        seen = set()
        for i, use in enumerate(uses):
            if use.menu_item_id in seen:
                raise Problem(
                    422,
                    "invalid_field",
                    f"body: menu item {use.menu_item_id} is listed twice",
                    field=f"used_by[{i}].menu_item_id",
                    extra={"in": "body"},
                )
            seen.add(use.menu_item_id)
            await _menu_item(s, use.menu_item_id, f"used_by[{i}].menu_item_id")
            s.add(
                MenuIngredient(
                    menu_item_id=use.menu_item_id, inventory_id=inventory_id, amount=use.amount
                )
            )
        await s.flush()

    async def update(self, inventory_id: int, patch: InventoryPatch) -> InventoryOut:
        if patch.stock is not msgspec.UNSET and patch.adjust is not msgspec.UNSET:
            raise Problem(
                422,
                "invalid_field",
                "body: give stock (a count) or adjust (a change), not both",
                field="adjust",
                extra={"in": "body"},
            )
        async with transaction(self.db) as s:
            row = await s.get(InventoryItem, inventory_id, with_for_update=True)
            if row is None:
                raise not_found("inventory row", str(inventory_id))
            if patch.adjust is not msgspec.UNSET:
                # In SQL, not in Python: orders may be taking stock at the same time.
                d = patch.adjust
                done = await s.execute(
                    update(InventoryItem)
                    .where(InventoryItem.id == inventory_id, InventoryItem.stock + d >= 0)
                    .values(stock=InventoryItem.stock + d, updated_at=utcnow())
                    .returning(InventoryItem.stock)
                )
                if done.one_or_none() is None:
                    raise Problem(
                        409,
                        "conflict",
                        f"adjusting by {d} would leave less than zero in stock",
                        field="adjust",
                    )
                await s.refresh(row)
            for k in ("stock", "low_stock", "unit"):
                v = getattr(patch, k)
                if v is not msgspec.UNSET:
                    setattr(row, k, v)
            if patch.used_by is not msgspec.UNSET:
                if row.menu_item_id is not None and patch.used_by:
                    raise Problem(
                        422,
                        "invalid_field",
                        "body: used_by is for ingredients; a menu item's stock is its own",
                        field="used_by",
                        extra={"in": "body"},
                    )
                await self._set_uses(s, row.id, patch.used_by)
            await s.flush()
            return await self._get(s, inventory_id)

    async def delete(self, inventory_id: int) -> None:
        async with transaction(self.db) as s:
            row = await s.get(InventoryItem, inventory_id)
            if row is None:
                raise not_found("inventory row", str(inventory_id))
            await s.delete(row)


async def _menu_item(s: AsyncSession, item_id: int, field: str) -> MenuItem:
    item = await s.get(MenuItem, item_id)
    if item is None:
        raise Problem(
            422,
            "invalid_field",
            f"body: no menu item {item_id}",
            field=field,
            extra={"in": "body"},
        )
    return item
