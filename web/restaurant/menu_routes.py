"""/api/menu: what can be ordered, at what price, and which robot recipe cooks it."""

from __future__ import annotations

from aiohttp import web

from web.http.api import Routes
from web.keys import DB
from web.restaurant import live
from web.restaurant.menu import MenuService
from web.restaurant.schemas import (
    MenuItemIn,
    MenuItemOut,
    MenuItemPatch,
    MenuList,
    MenuPath,
    MenuQuery,
)
from web.security import ADMINS, ALL_ROLES

routes = Routes(
    "menu",
    "Menu items. Prices are integers in the currency's minor unit (`price_minor`). Writes: admin.",
)


def _service(request: web.Request) -> MenuService:
    return MenuService(request.app[DB])


@routes.route(
    "GET",
    "/api/menu",
    summary="List menu items",
    roles=ALL_ROLES,
    query=MenuQuery,
    response=MenuList,
)
async def list_menu(request: web.Request, query: MenuQuery) -> MenuList:
    """`stock` is how many portions the inventory allows (null when not counted)."""
    items, total, categories = await _service(request).page(query)
    return MenuList(items=items, total=total, categories=categories)


@routes.route(
    "GET",
    "/api/menu/{item_id}",
    summary="One menu item",
    roles=ALL_ROLES,
    params=MenuPath,
    response=MenuItemOut,
)
async def get_menu_item(request: web.Request, params: MenuPath) -> MenuItemOut:
    """One item with its price, availability and `stock` (portions the inventory allows, null
    when not counted)."""
    return await _service(request).get(params.item_id)


@routes.route(
    "POST",
    "/api/menu",
    summary="Add a menu item",
    roles=ADMINS,
    body=MenuItemIn,
    response=MenuItemOut,
    status=201,
    errors=(409,),
)
async def create_menu_item(request: web.Request, body: MenuItemIn) -> MenuItemOut:
    """A robot-cooked item (`robot_cooked`) needs the `recipe` id its cooking robots know."""
    out = await _service(request).create(body)
    await live.publish(request, live.changes("menu_item", "created", [out]))
    return out


@routes.route(
    "PATCH",
    "/api/menu/{item_id}",
    summary="Change a menu item (price, availability, ...)",
    roles=ADMINS,
    params=MenuPath,
    body=MenuItemPatch,
    response=MenuItemOut,
    errors=(409,),
)
async def update_menu_item(
    request: web.Request, params: MenuPath, body: MenuItemPatch
) -> MenuItemOut:
    """Orders already placed keep the name and price they were placed with. The `restaurant`
    feed pushes the item to every client (a second dashboard shows the new price at once)."""
    out = await _service(request).update(params.item_id, body)
    await live.publish(request, live.changes("menu_item", "updated", [out]))
    return out


@routes.route(
    "DELETE",
    "/api/menu/{item_id}",
    summary="Remove a menu item",
    roles=ADMINS,
    params=MenuPath,
    status=204,
    errors=(409,),
)
async def delete_menu_item(request: web.Request, params: MenuPath) -> None:
    """An item that was ever ordered cannot be removed (409): mark it unavailable instead."""
    service = _service(request)
    last = await service.get(params.item_id)
    await service.delete(params.item_id)
    await live.publish(request, live.changes("menu_item", "deleted", [last]))
