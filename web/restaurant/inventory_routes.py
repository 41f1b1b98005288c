"""/api/inventory: stock per ready-made item or per ingredient, with low-stock thresholds."""

from __future__ import annotations

from aiohttp import web

from web.http.api import Routes
from web.keys import DB
from web.restaurant import live
from web.restaurant.inventory import InventoryService
from web.restaurant.menu import menu_items
from web.restaurant.schemas import (
    InventoryIn,
    InventoryList,
    InventoryOut,
    InventoryPatch,
    InventoryPath,
    InventoryQuery,
)
from web.security import ADMINS, ALL_ROLES, WRITERS

routes = Routes(
    "inventory",
    "Stock. Orders take it in their own transaction. Counting (PATCH): staff, admin; "
    "adding and removing rows: admin.",
)


def _service(request: web.Request) -> InventoryService:
    return InventoryService(request.app[DB])


@routes.route(
    "GET",
    "/api/inventory",
    summary="List stock",
    roles=ALL_ROLES,
    query=InventoryQuery,
    response=InventoryList,
)
async def list_inventory(request: web.Request, query: InventoryQuery) -> InventoryList:
    """`low=true`: rows at or below their `low_stock` threshold."""
    items, total = await _service(request).page(query)
    return InventoryList(items=items, total=total)


@routes.route(
    "GET",
    "/api/inventory/{inventory_id}",
    summary="One stock row",
    roles=ALL_ROLES,
    params=InventoryPath,
    response=InventoryOut,
)
async def get_inventory(request: web.Request, params: InventoryPath) -> InventoryOut:
    """One stock row: what it counts, how many, its threshold, and for an ingredient the menu
    items that use it."""
    return await _service(request).get(params.inventory_id)


@routes.route(
    "POST",
    "/api/inventory",
    summary="Count a menu item or an ingredient",
    roles=ADMINS,
    body=InventoryIn,
    response=InventoryOut,
    status=201,
    errors=(409,),
)
async def create_inventory(request: web.Request, body: InventoryIn) -> InventoryOut:
    """Either `menu_item_id` (a ready-made item: one portion per order line) or `ingredient`
    with `used_by` (how much one portion of each menu item uses)."""
    out = await _service(request).create(body)
    moved = await live.stock_changes_of(request.app[DB], inventory_ids=[out.id])
    items = [c for c in moved if c.kind == "menu_item"]  # their `stock` is counted now
    await live.publish(request, [*live.changes("inventory", "created", [out]), *items])
    return out


@routes.route(
    "PATCH",
    "/api/inventory/{inventory_id}",
    summary="Restock, count or re-threshold",
    roles=WRITERS,
    params=InventoryPath,
    body=InventoryPatch,
    response=InventoryOut,
    errors=(409,),
)
async def update_inventory(
    request: web.Request, params: InventoryPath, body: InventoryPatch
) -> InventoryOut:
    """`adjust` adds (or with a negative number removes) stock atomically, safe while orders
    take stock; `stock` sets the count after a stocktake. A change below zero is a 409."""
    out = await _service(request).update(params.inventory_id, body)
    await live.push_stock(request, inventory_ids=[out.id])
    return out


@routes.route(
    "DELETE",
    "/api/inventory/{inventory_id}",
    summary="Stop counting",
    roles=ADMINS,
    params=InventoryPath,
    status=204,
)
async def delete_inventory(request: web.Request, params: InventoryPath) -> None:
    """The menu items it counted are no longer counted (`stock` null)."""
    service = _service(request)
    last = await service.get(params.inventory_id)
    await service.delete(params.inventory_id)
    counted = {u.menu_item_id for u in last.used_by}
    if last.menu_item_id is not None:
        counted.add(last.menu_item_id)
    async with request.app[DB]() as s:
        items = await menu_items(s, counted) if counted else []
    await live.publish(
        request,
        [
            *live.changes("inventory", "deleted", [last]),
            *live.changes("menu_item", "updated", items),
        ],
    )
