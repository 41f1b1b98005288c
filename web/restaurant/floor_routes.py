"""/api/tables: the guest tables and where they are on the floor plan."""

from __future__ import annotations

from aiohttp import web

from web.http.api import Routes
from web.keys import DB, SETTINGS
from web.restaurant import live
from web.restaurant.floor import TableService
from web.restaurant.schemas import TableIn, TableList, TableOut, TablePatch, TablePath, TablesQuery
from web.security import ADMINS, ALL_ROLES

routes = Routes("tables", "Guest tables (name, seats, position on the floor plan). Writes: admin.")


def _service(request: web.Request) -> TableService:
    return TableService(request.app[DB], request.app[SETTINGS].floor)


@routes.route(
    "GET",
    "/api/tables",
    summary="List tables",
    roles=ALL_ROLES,
    query=TablesQuery,
    response=TableList,
)
async def list_tables(request: web.Request, query: TablesQuery) -> TableList:
    """Tables with their position on the floor plan; filter by `active` and `min_seats`, sort,
    page with `limit` and `offset`."""
    items, total = await _service(request).page(query)
    return TableList(items=items, total=total)


@routes.route(
    "GET",
    "/api/tables/{table_id}",
    summary="One table",
    roles=ALL_ROLES,
    params=TablePath,
    response=TableOut,
)
async def get_table(request: web.Request, params: TablePath) -> TableOut:
    """One table: name, seats, position, whether it takes orders."""
    return await _service(request).get(params.table_id)


@routes.route(
    "POST",
    "/api/tables",
    summary="Add a table",
    roles=ADMINS,
    body=TableIn,
    response=TableOut,
    status=201,
    errors=(409,),
)
async def create_table(request: web.Request, body: TableIn) -> TableOut:
    """`x`, `y` are metres on the floor plan and must lie within `[floor]` width and height."""
    out = await _service(request).create(body)
    await live.publish(request, live.changes("table", "created", [out]))
    return out


@routes.route(
    "PATCH",
    "/api/tables/{table_id}",
    summary="Change a table",
    roles=ADMINS,
    params=TablePath,
    body=TablePatch,
    response=TableOut,
    errors=(409,),
)
async def update_table(request: web.Request, params: TablePath, body: TablePatch) -> TableOut:
    """Only the fields sent change; the `restaurant` feed pushes the table to every client."""
    out = await _service(request).update(params.table_id, body)
    await live.publish(request, live.changes("table", "updated", [out]))
    return out


@routes.route(
    "DELETE",
    "/api/tables/{table_id}",
    summary="Remove a table",
    roles=ADMINS,
    params=TablePath,
    status=204,
    errors=(409,),
)
async def delete_table(request: web.Request, params: TablePath) -> None:
    """A table that has orders cannot be removed (409): deactivate it instead."""
    service = _service(request)
    last = await service.get(params.table_id)
    await service.delete(params.table_id)
    await live.publish(request, live.changes("table", "deleted", [last]))
