"""Chat rooms added through the API, in SQL; the config's `[[chat.rooms]]` stay the defaults.

A room's ``name`` is its id (its stream is ``rd:chat:{name}``) and never
changes; renaming a room changes its ``title``. Archiving closes it and keeps
its messages; reopening it (``archived: false``) brings them back.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import ChatRoom
from web.chat.schemas import RoomAdminOut, RoomIn, RoomPatch
from web.db.integrations import ChatRoomRow
from web.db.session import transaction
from web.http.problems import Problem, not_found


def _roles(raw: str) -> list[str]:
    return [r for r in raw.split(",") if r]


def room_out(row: ChatRoomRow) -> RoomAdminOut:
    return RoomAdminOut(
        name=row.name,
        title=row.title,
        read_roles=_roles(row.read_roles),
        write_roles=_roles(row.write_roles),
        archived=row.archived,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def as_room(row: ChatRoomRow) -> ChatRoom:
    return ChatRoom(
        name=row.name,
        title=row.title,
        read_roles=_roles(row.read_roles),
        write_roles=_roles(row.write_roles),
    )


class RoomService:
    def __init__(self, db: async_sessionmaker[AsyncSession], config_rooms: frozenset[str]) -> None:
        self.db, self.config_rooms = db, config_rooms

    def _not_config(self, name: str) -> None:
        if name in self.config_rooms:
            raise Problem(
                409,
                "conflict",
                f"room {name!r} is one of the config file's [[chat.rooms]]; change it there",
                field="name",
            )

    async def open_rooms(self) -> list[ChatRoom]:
        async with self.db() as s:
            rows = await s.scalars(
                select(ChatRoomRow)
                .where(ChatRoomRow.archived.is_(False))
                .order_by(ChatRoomRow.name)
            )
            return [as_room(r) for r in rows]

    async def list(self, *, archived: bool) -> list[RoomAdminOut]:
        async with self.db() as s:
            rows = await s.scalars(
                select(ChatRoomRow)
                .where(ChatRoomRow.archived.is_(archived))
                .order_by(ChatRoomRow.name)
            )
            return [room_out(r) for r in rows]

    async def create(self, body: RoomIn, by: str) -> RoomAdminOut:
        self._not_config(body.name)
        try:
            async with transaction(self.db) as s:
                row = ChatRoomRow(
                    name=body.name,
                    title=body.title,
                    read_roles=",".join(sorted(set(body.read_roles))),
                    write_roles=",".join(sorted(set(body.write_roles))),
                    archived=False,
                    created_by=by,
                )
                s.add(row)
                await s.flush()
                return room_out(row)
        except IntegrityError:
            raise Problem(409, "conflict", f"room {body.name!r} exists", field="name") from None

    async def update(self, name: str, patch: RoomPatch) -> RoomAdminOut:
        self._not_config(name)
        changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
        async with transaction(self.db) as s:
            row = await s.scalar(
                select(ChatRoomRow).where(ChatRoomRow.name == name).with_for_update()
            )
            if row is None:
                raise not_found("chat room", name)
            for key, value in changes.items():
                setattr(row, key, ",".join(sorted(set(value))) if key.endswith("_roles") else value)
            await s.flush()
            await s.refresh(row)
            return room_out(row)
