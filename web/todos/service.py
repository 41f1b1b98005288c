"""Staff todos: SQL is the truth; every committed change is also XADDed to rd:todos.

The change feed lets every web process push the change to its /ws/todos
clients (and lets a reconnecting client resume with ``since``). The XADD
happens after the commit: if Redis is down then, the change is safe in SQL
and live clients see it at their next snapshot; the failure is logged.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import msgspec
import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from robodine.redisio.keys import KEYS
from web.db.models import Todo
from web.db.session import transaction
from web.http.problems import Problem, not_found
from web.todos.schemas import TodoIn, TodoOut, TodoPatch, TodosQuery

log = structlog.get_logger("web.todos")


def _utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone(UTC)


def todo_out(t: Todo) -> TodoOut:
    return TodoOut(
        id=t.id,
        title=t.title,
        notes=t.notes,
        done=t.done,
        assignee=t.assignee,
        due_at=t.due_at,
        created_by=t.created_by,
        created_at=t.created_at,
        updated_at=t.updated_at,
        version=t.version,
    )


class TodoService:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], redis: Redis, *, maxlen: int, src: str
    ) -> None:
        self.db, self.redis, self.maxlen, self.src = db, redis, maxlen, src

    async def list(self, q: TodosQuery) -> tuple[list[TodoOut], int]:
        stmt = select(Todo)
        count = select(func.count()).select_from(Todo)
        if q.done is not None:
            stmt, count = stmt.where(Todo.done == q.done), count.where(Todo.done == q.done)
        if q.assignee is not None:
            stmt = stmt.where(Todo.assignee == q.assignee)
            count = count.where(Todo.assignee == q.assignee)
        async with self.db() as s:
            rows = (await s.scalars(stmt.order_by(Todo.id).limit(q.limit).offset(q.offset))).all()
            total = (await s.execute(count)).scalar_one()
        return [todo_out(t) for t in rows], int(total)

    async def get(self, todo_id: int) -> TodoOut:
        async with self.db() as s:
            t = await s.get(Todo, todo_id)
        if t is None:
            raise not_found("todo", str(todo_id))
        return todo_out(t)

    async def create(self, body: TodoIn, by: str) -> TodoOut:
        async with transaction(self.db) as s:
            t = Todo(
                title=body.title,
                notes=body.notes,
                assignee=body.assignee,
                due_at=_utc(body.due_at),
                done=body.done,
                created_by=by,
                version=1,
            )
            s.add(t)
            await s.flush()
            out = todo_out(t)
        await self._publish("created", out, by)
        return out

    async def update(self, todo_id: int, patch: TodoPatch, by: str) -> TodoOut:
        changes = {
            k: v
            for k, v in msgspec.structs.asdict(patch).items()
            if v is not msgspec.UNSET and k != "version"
        }
        async with transaction(self.db) as s:
            t = await s.get(Todo, todo_id, with_for_update=True)
            if t is None:
                raise not_found("todo", str(todo_id))
            if patch.version is not msgspec.UNSET and patch.version != t.version:
                raise Problem(
                    409,
                    "conflict",
                    f"todo {todo_id} is at version {t.version}, not {patch.version}; "
                    "reload and try again",
                    field="version",
                    extra={"current": msgspec.to_builtins(todo_out(t))},
                )
            if not changes:
                return todo_out(t)
            for k, v in changes.items():
                setattr(t, k, _utc(v) if isinstance(v, datetime) else v)
            t.version += 1
            await s.flush()
            await s.refresh(t)
            out = todo_out(t)
        await self._publish("updated", out, by)
        return out

    async def delete(self, todo_id: int, by: str) -> None:
        async with transaction(self.db) as s:
            t = await s.get(Todo, todo_id, with_for_update=True)
            if t is None:
                raise not_found("todo", str(todo_id))
            out = todo_out(t)
            await s.delete(t)
        await self._publish("deleted", out, by)

    async def _publish(self, op: str, todo: TodoOut, by: str) -> None:
        fields: dict[FieldT, EncodableT] = {
            "op": op,
            "todo": orjson.dumps(msgspec.to_builtins(todo)).decode(),
            "by": by,
            "ts": time.time(),
            "src": self.src,
        }
        try:
            await self.redis.xadd(KEYS.todos, fields, maxlen=self.maxlen, approximate=True)
        except RedisError as exc:
            log.error("todo_push_failed", op=op, todo=todo.id, error=str(exc))
