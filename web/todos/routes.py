"""Staff todos over REST; every change is pushed live on /ws/todos."""

from __future__ import annotations

from aiohttp import web

from web.http.api import Routes
from web.keys import DB, REDIS, SETTINGS, USER
from web.security import ALL_ROLES, WRITERS
from web.todos.schemas import TodoIn, TodoList, TodoOut, TodoPatch, TodoPath, TodosQuery
from web.todos.service import TodoService

routes = Routes("todos", "Staff tasks. Reading needs a login; writing needs staff or admin.")


def _service(request: web.Request) -> TodoService:
    app = request.app
    s = app[SETTINGS].web
    return TodoService(app[DB], app[REDIS], maxlen=s.todos_maxlen, src=s.name)


@routes.route(
    "GET",
    "/api/todos",
    summary="List todos",
    roles=ALL_ROLES,
    query=TodosQuery,
    response=TodoList,
    errors=(401, 422),
)
async def list_todos(request: web.Request, query: TodosQuery) -> TodoList:
    """Todos by id; filter by `done` and `assignee`, page with `limit` and `offset`. The
    `todos` feed pushes every change."""
    items, total = await _service(request).list(query)
    return TodoList(items=items, total=total)


@routes.route(
    "POST",
    "/api/todos",
    summary="Create a todo",
    roles=WRITERS,
    body=TodoIn,
    response=TodoOut,
    status=201,
    errors=(400, 401, 403, 413, 415, 422),
)
async def create_todo(request: web.Request, body: TodoIn) -> TodoOut:
    """Answers the todo with `version` 1; every process's `/ws/todos` clients see it."""
    return await _service(request).create(body, request[USER].username)


@routes.route(
    "GET",
    "/api/todos/{todo_id}",
    summary="One todo",
    roles=ALL_ROLES,
    params=TodoPath,
    response=TodoOut,
    errors=(401, 404),
)
async def get_todo(request: web.Request, params: TodoPath) -> TodoOut:
    """One todo with its current `version`."""
    return await _service(request).get(params.todo_id)


@routes.route(
    "PATCH",
    "/api/todos/{todo_id}",
    summary="Change a todo",
    roles=WRITERS,
    params=TodoPath,
    body=TodoPatch,
    response=TodoOut,
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
async def update_todo(request: web.Request, params: TodoPath, body: TodoPatch) -> TodoOut:
    """Only the fields sent change. With `version`, a concurrent change makes it a 409."""
    return await _service(request).update(params.todo_id, body, request[USER].username)


@routes.route(
    "DELETE",
    "/api/todos/{todo_id}",
    summary="Delete a todo",
    roles=WRITERS,
    params=TodoPath,
    status=204,
    errors=(401, 403, 404),
)
async def delete_todo(request: web.Request, params: TodoPath) -> None:
    """Gone for good; the `todos` feed says so (`op` deleted, with its last state)."""
    await _service(request).delete(params.todo_id, request[USER].username)
