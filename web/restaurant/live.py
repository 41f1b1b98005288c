"""Live restaurant edits: each committed change to tables, the menu and stock, on rd:restaurant.

SQL is the truth, as for the todos. After each commit the changed rows, as the
REST API answers them, are XADDed to rd:restaurant, so every web process pushes
them to its clients of the ``restaurant`` topic (web/restaurant/topic.py).
Stock that an order takes, a cancel gives back or a count changes moves the
stock rows and the ``stock`` of every menu item they count: those are pushed
too, read again after the commit. The XADD comes after the commit: with Redis
down then, the change is safe in SQL, logged as ``restaurant_push_failed``, and
clients see it at their next snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import msgspec
import orjson
import structlog
from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from robodine.redisio.keys import KEYS
from web.db.restaurant import InventoryItem, MenuIngredient
from web.keys import DB, REDIS, SETTINGS, USER
from web.restaurant.inventory import inventory_rows
from web.restaurant.menu import menu_items
from web.restaurant.schemas import InventoryOut, MenuItemOut, TableOut

log = structlog.get_logger("web.restaurant")

Kind = Literal["table", "menu_item", "inventory"]
Op = Literal["created", "updated", "deleted"]
KINDS: Final = ("table", "menu_item", "inventory")


@dataclass(frozen=True)
class Change:
    kind: Kind
    op: Op
    item: TableOut | MenuItemOut | InventoryOut  # as the REST API answers it (deleted: last)


def changes(
    kind: Kind, op: Op, items: Sequence[TableOut | MenuItemOut | InventoryOut]
) -> list[Change]:
    return [Change(kind, op, i) for i in items]


async def stock_changes(
    s: AsyncSession, menu_item_ids: Collection[int] = (), inventory_ids: Collection[int] = ()
) -> list[Change]:
    """The stock rows counting these menu items (and these rows), and every menu item those
    rows count, as they are now: what one change of stock moves."""
    rows: set[int] = set(inventory_ids)
    if menu_item_ids:
        ids = list(menu_item_ids)
        rows.update(
            await s.scalars(select(InventoryItem.id).where(InventoryItem.menu_item_id.in_(ids)))
        )
        rows.update(
            await s.scalars(
                select(MenuIngredient.inventory_id).where(MenuIngredient.menu_item_id.in_(ids))
            )
        )
    if not rows:
        return []
    stock = await inventory_rows(s, rows)
    counted = set(menu_item_ids)
    for r in stock:
        if r.menu_item_id is not None:
            counted.add(r.menu_item_id)
        counted.update(u.menu_item_id for u in r.used_by)
    items = await menu_items(s, counted) if counted else []
    return changes("inventory", "updated", stock) + changes("menu_item", "updated", items)


async def stock_changes_of(
    db: async_sessionmaker[AsyncSession],
    menu_item_ids: Collection[int] = (),
    inventory_ids: Collection[int] = (),
) -> list[Change]:
    async with db() as s:
        return await stock_changes(s, menu_item_ids, inventory_ids)


async def publish(request: web.Request, found: Sequence[Change], *, by: str | None = None) -> None:
    """XADD each change (after its commit); Redis down: logged, never raised."""
    if not found:
        return
    app = request.app
    s = app[SETTINGS]
    who = by if by is not None else request[USER].username
    try:
        async with app[REDIS].pipeline(transaction=False) as pipe:
            for c in found:
                pipe.xadd(
                    KEYS.restaurant,
                    {
                        "kind": c.kind,
                        "op": c.op,
                        "item": orjson.dumps(msgspec.to_builtins(c.item)),
                        "by": who,
                        "ts": time.time(),
                        "src": s.web.name,
                    },
                    maxlen=s.web.restaurant_maxlen,
                    approximate=True,
                )
            await pipe.execute()
    except RedisError as exc:
        log.error(
            "restaurant_push_failed",
            changes=[(c.kind, c.op, getattr(c.item, "id", None)) for c in found],
            error=str(exc),
        )


async def push_stock(
    request: web.Request,
    menu_item_ids: Collection[int] = (),
    inventory_ids: Collection[int] = (),
    *,
    by: str | None = None,
) -> None:
    """Read what a stock change moved (after its commit) and publish it."""
    await publish(
        request, await stock_changes_of(request.app[DB], menu_item_ids, inventory_ids), by=by
    )
