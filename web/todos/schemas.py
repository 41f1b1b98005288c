"""Request and answer models of /api/todos."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from web.http.schemas import INT32_MAX, AwareDatetime, Offset, Query, Request, RowId, Username

# ---- todos ----------------------------------------------------------------------

Title = Annotated[str, Meta(min_length=1, max_length=200)]
Notes = Annotated[str, Meta(max_length=4000)]


class TodoIn(Request):
    title: Title
    notes: Notes = ""
    assignee: Username | None = None
    due_at: AwareDatetime | None = None
    done: bool = False


class TodoPatch(Request):
    title: Title | UnsetType = UNSET
    notes: Notes | UnsetType = UNSET
    assignee: Username | UnsetType | None = UNSET
    due_at: AwareDatetime | UnsetType | None = UNSET
    done: bool | UnsetType = UNSET
    # when given, the update fails with 409 if the todo changed since that version
    version: Annotated[int, Meta(ge=1, le=INT32_MAX)] | UnsetType = UNSET


class TodoOut(Struct, kw_only=True):
    id: int
    title: str
    notes: str
    done: bool
    assignee: str | None
    due_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int


class TodoPath(Query):
    todo_id: RowId


class TodosQuery(Query):
    done: bool | None = None
    assignee: Username | None = None
    limit: Annotated[int, Meta(ge=1, le=1000)] = 500
    offset: Offset = 0


class TodoList(Struct, kw_only=True):
    items: list[TodoOut]
    total: int
