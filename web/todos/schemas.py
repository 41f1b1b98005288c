"""Request and answer models of /api/todos."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from web.http.schemas import INT32_MAX, AwareDatetime, Offset, Query, Request, RowId, Username, doc

# ---- todos ----------------------------------------------------------------------

Title = Annotated[str, Meta(min_length=1, max_length=200)]
Notes = Annotated[str, Meta(max_length=4000)]


class TodoIn(Request):
    title: Annotated[Title, doc("what to do")]
    notes: Annotated[Notes, doc("more about it")] = ""
    assignee: Username | None = None
    due_at: Annotated[AwareDatetime | None, doc("by when")] = None
    done: Annotated[bool, doc("already done")] = False


class TodoPatch(Request):
    title: Annotated[Title | UnsetType, doc("what to do")] = UNSET
    notes: Annotated[Notes | UnsetType, doc("more about it")] = UNSET
    assignee: Username | UnsetType | None = UNSET
    due_at: Annotated[AwareDatetime | UnsetType | None, doc("by when (null: no date)")] = UNSET
    done: Annotated[bool | UnsetType, doc("ticked off")] = UNSET
    # when given, the update fails with 409 if the todo changed since that version
    version: Annotated[
        Annotated[int, Meta(ge=1, le=INT32_MAX)] | UnsetType,
        doc("the version you changed: if another change came first, a 409 with the current todo"),
    ] = UNSET


class TodoOut(Struct, kw_only=True):
    id: Annotated[int, doc("the todo's id")]
    title: Annotated[str, doc("what to do")]
    notes: Annotated[str, doc("more about it")]
    done: Annotated[bool, doc("ticked off")]
    assignee: Annotated[str | None, doc("who should (a username; null: anyone)")]
    due_at: Annotated[datetime | None, doc("by when (null: whenever)")]
    created_by: Annotated[str, doc("who wrote it")]
    created_at: Annotated[datetime, doc("when")]
    updated_at: Annotated[datetime, doc("its last change")]
    version: Annotated[
        int, doc("increases with each change: send it back in a PATCH to catch concurrent edits")
    ]


class TodoPath(Query):
    todo_id: Annotated[RowId, doc("the todo")]


class TodosQuery(Query):
    done: Annotated[bool | None, doc("only done (true) or open (false) todos")] = None
    assignee: Username | None = None
    limit: Annotated[int, Meta(ge=1, le=1000), doc("todos per page at most")] = 500
    offset: Offset = 0


class TodoList(Struct, kw_only=True):
    items: Annotated[list[TodoOut], doc("this page")]
    total: Annotated[int, doc("todos that match, in all")]
