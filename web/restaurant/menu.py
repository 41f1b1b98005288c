"""The menu: what a guest can order, its price, and whether a robot cooks it (and how)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from web.db.orders import OrderLine
from web.db.restaurant import InventoryItem, MenuIngredient, MenuItem
from web.db.session import transaction
from web.http.problems import Problem, not_found
from web.restaurant.schemas import MenuItemIn, MenuItemOut, MenuItemPatch, MenuQuery
from web.uploads.service import require_image

_SORT: dict[str, Any] = {
    "id": (MenuItem.id,),
    "name": (MenuItem.name, MenuItem.id),
    "-name": (MenuItem.name.desc(), MenuItem.id),
    "price": (MenuItem.price_minor, MenuItem.id),
    "-price": (MenuItem.price_minor.desc(), MenuItem.id),
    "category": (MenuItem.category, MenuItem.name, MenuItem.id),
}


async def stock_of(s: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[int | None, bool]]:
    """Menu item id -> (portions the inventory allows or None if uncounted, any stock low)."""
    portions: dict[int, list[int]] = defaultdict(list)
    low: dict[int, bool] = defaultdict(bool)
    own = await s.execute(
        select(InventoryItem.menu_item_id, InventoryItem.stock, InventoryItem.low_stock).where(
            InventoryItem.menu_item_id.in_(ids)
        )
    )
    for item_id, stock, threshold in own:
        if item_id is not None:
            portions[item_id].append(stock)
            low[item_id] |= stock <= threshold
    uses = await s.execute(
        select(
            MenuIngredient.menu_item_id,
            MenuIngredient.amount,
            InventoryItem.stock,
            InventoryItem.low_stock,
        )
        .join(InventoryItem, InventoryItem.id == MenuIngredient.inventory_id)
        .where(MenuIngredient.menu_item_id.in_(ids))
    )
    for use_item, amount, stock, threshold in uses:
        portions[use_item].append(stock // amount)
        low[use_item] |= stock <= threshold
    return {i: (min(portions[i]) if portions[i] else None, low[i]) for i in ids}


def item_out(m: MenuItem, stock: tuple[int | None, bool] = (None, False)) -> MenuItemOut:
    return MenuItemOut(
        id=m.id,
        name=m.name,
        name_en=m.name_en,
        description=m.description,
        category=m.category,
        price_minor=m.price_minor,
        currency=m.currency,
        robot_cooked=m.robot_cooked,
        recipe=m.recipe,
        available=m.available,
        stock=stock[0],
        low_stock=stock[1],
        photo_upload_id=m.photo_upload_id,
        photo=f"/api/uploads/{m.photo_upload_id}/content" if m.photo_upload_id else None,
    )


async def menu_items(s: AsyncSession, ids: Collection[int] | None = None) -> list[MenuItemOut]:
    """These menu items (None: all of them) with their stock, by id."""
    stmt = select(MenuItem).order_by(MenuItem.id)
    if ids is not None:
        stmt = stmt.where(MenuItem.id.in_(list(ids)))
    rows = (await s.scalars(stmt)).all()
    stock = await stock_of(s, [m.id for m in rows])
    return [item_out(m, stock[m.id]) for m in rows]


def _check_recipe(robot_cooked: bool, recipe: str | None) -> None:
    if robot_cooked and recipe is None:
        raise Problem(
            422,
            "invalid_field",
            "body: a robot-cooked item needs the recipe id its cooking robot knows",
            field="recipe",
            extra={"in": "body"},
        )


class MenuService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self.db = db

    async def page(self, q: MenuQuery) -> tuple[list[MenuItemOut], int, list[str]]:
        where: list[ColumnElement[bool]] = []
        if q.category:
            where.append(MenuItem.category.in_(q.category))
        if q.available is not None:
            where.append(MenuItem.available == q.available)
        if q.robot_cooked is not None:
            where.append(MenuItem.robot_cooked == q.robot_cooked)
        stmt = select(MenuItem).where(*where).order_by(*_SORT[q.sort])
        async with self.db() as s:
            rows = (await s.scalars(stmt.limit(q.limit).offset(q.offset))).all()
            total = await s.scalar(select(func.count()).select_from(MenuItem).where(*where))
            cats = (
                await s.scalars(select(MenuItem.category).distinct().order_by(MenuItem.category))
            ).all()
            stock = await stock_of(s, [m.id for m in rows])
        return [item_out(m, stock[m.id]) for m in rows], int(total or 0), list(cats)

    async def get(self, item_id: int) -> MenuItemOut:
        async with self.db() as s:
            m = await s.get(MenuItem, item_id)
            if m is None:
                raise not_found("menu item", str(item_id))
            return item_out(m, (await stock_of(s, [m.id]))[m.id])

    async def create(self, body: MenuItemIn) -> MenuItemOut:
        _check_recipe(body.robot_cooked, body.recipe)
        try:
            async with transaction(self.db) as s:
                if body.photo_upload_id is not None:
                    await require_image(s, body.photo_upload_id, "photo_upload_id")
                m = MenuItem(**msgspec.structs.asdict(body))
                s.add(m)
                await s.flush()
                return item_out(m)
        except IntegrityError:
            raise _duplicate(body.name) from None

    async def update(self, item_id: int, patch: MenuItemPatch) -> MenuItemOut:
        changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
        try:
            async with transaction(self.db) as s:
                m = await s.get(MenuItem, item_id, with_for_update=True)
                if m is None:
                    raise not_found("menu item", str(item_id))
                _check_recipe(
                    changes.get("robot_cooked", m.robot_cooked), changes.get("recipe", m.recipe)
                )
                if changes.get("photo_upload_id") is not None:
                    await require_image(s, changes["photo_upload_id"], "photo_upload_id")
                for k, v in changes.items():
                    setattr(m, k, v)
                await s.flush()
                return item_out(m, (await stock_of(s, [m.id]))[m.id])
        except IntegrityError:
            raise _duplicate(str(changes.get("name"))) from None

    async def delete(self, item_id: int) -> None:
        async with transaction(self.db) as s:
            m = await s.get(MenuItem, item_id, with_for_update=True)
            if m is None:
                raise not_found("menu item", str(item_id))
            used = await s.scalar(
                select(func.count()).select_from(OrderLine).where(OrderLine.menu_item_id == item_id)
            )
            if used:
                raise Problem(
                    409,
                    "conflict",
                    f"{m.name!r} was ordered {used} times; mark it unavailable instead "
                    '(PATCH {"available": false})',
                )
            await s.delete(m)


def _duplicate(name: str) -> Problem:
    return Problem(409, "conflict", f"a menu item named {name!r} exists", field="name")
