"""/api/inventory: stock per ready-made item or per ingredient, with low-stock thresholds."""

from __future__ import annotations

from aiohttp import web

from web.http.api import Routes
from web.keys import DB
from web.restaurant.inventory import InventoryService
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
    return await _service(request).create(body)


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
    return await _service(request).update(params.inventory_id, body)


@routes.route(
    "DELETE",
    "/api/inventory/{inventory_id}",
    summary="Stop counting",
    roles=ADMINS,
    params=InventoryPath,
    status=204,
)
async def delete_inventory(request: web.Request, params: InventoryPath) -> None:
    await _service(request).delete(params.inventory_id)
