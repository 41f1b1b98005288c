"""Request and answer models of the chat rooms admins manage (/api/chat/rooms)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from web.http.schemas import Query, Request, RoleName

RoomName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$",
        description="the room's id in `/ws/chat/{room}`; lowercase letters, digits, _ -",
        examples=["bar"],
    ),
]
Title = Annotated[str, Meta(max_length=100, description="what people see", examples=["Bar"])]
Roles = Annotated[
    list[RoleName],
    Meta(min_length=1, max_length=3, description="roles that may", examples=[["admin", "staff"]]),
]


class RoomIn(Request):
    name: RoomName
    title: Title = ""
    read_roles: Roles = msgspec.field(default_factory=lambda: ["admin", "staff", "viewer"])
    write_roles: Roles = msgspec.field(default_factory=lambda: ["admin", "staff"])


class RoomPatch(Request):
    title: Title | UnsetType = UNSET
    read_roles: Roles | UnsetType = UNSET
    write_roles: Roles | UnsetType = UNSET
    archived: (
        Annotated[bool, Meta(description="true: closed (its sockets end with 4004); false: open")]
        | UnsetType
    ) = UNSET


class RoomPath(Query):
    name: RoomName


class RoomsQuery(Query):
    archived: Annotated[
        bool, Meta(description="true (admins): the archived rooms added through the API instead")
    ] = False


class RoomOut(Struct, kw_only=True):
    name: Annotated[str, Meta(description="join it at `/ws/chat/{name}`")]
    title: Annotated[str, Meta(description="what people see")]
    can_post: Annotated[bool, Meta(description="your role may post there")]
    max_chars: Annotated[int, Meta(description="the longest message it takes (chat.max_chars)")]
    source: Annotated[
        Literal["config", "api"], Meta(description="from `[[chat.rooms]]` or added through the API")
    ] = "config"
    archived: Annotated[bool, Meta(description="closed by an admin")] = False


class RoomList(Struct, kw_only=True):
    items: Annotated[list[RoomOut], Meta(description="the config's in its order, then the others")]


class RoomAdminOut(Struct, kw_only=True):
    name: Annotated[str, Meta(description="the room's id")]
    title: Annotated[str, Meta(description="what people see")]
    read_roles: Annotated[list[str], Meta(description="roles that may read")]
    write_roles: Annotated[list[str], Meta(description="roles that may post")]
    archived: Annotated[bool, Meta(description="closed by an admin")]
    created_by: Annotated[str, Meta(description="the admin who added it")]
    created_at: Annotated[datetime, Meta(description="when")]
    updated_at: Annotated[datetime, Meta(description="last change")]
