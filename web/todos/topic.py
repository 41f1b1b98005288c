"""``todos``: every todo (snapshot from SQL), then each change from the rd:todos feed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import msgspec
import orjson
from msgspec import Struct

from robodine.redisio.keys import KEYS
from robodine.redisio.replies import Entry
from robodine.redisio.streamid import StreamId
from web.feeds.frames import Frame, Snapshot, frame
from web.feeds.subscription import Delivery, Filter
from web.feeds.topic import Start, Topic, TopicContext, log, resume_or_snapshot
from web.http.schemas import doc
from web.todos.schemas import TodoOut, TodosQuery
from web.todos.service import TodoService


class TodoFrame(Struct, tag_field="type", tag="todo", kw_only=True):
    id: Annotated[str, doc("the rd:todos id: resume with `since`")]
    op: Annotated[Literal["created", "updated", "deleted"], doc("what happened to it")]
    todo: Annotated[TodoOut, doc("the todo as the REST API answers it (deleted: its last state)")]
    by: Annotated[str, doc("who changed it")]


class TodosTopic(Topic):
    name = "todos"
    stream = KEYS.named("todos")
    delivery = Delivery.RELIABLE
    summary = (
        "Staff todos: all of them first, then every create/update/delete as it is "
        "committed, from any web process."
    )
    frame_types = TodoFrame | Snapshot[TodoOut]

    async def start(self, ctx: TopicContext, flt: Filter, since: StreamId | None) -> Start:
        info, resumable = await resume_or_snapshot(ctx, self.stream, since)
        if resumable:
            assert since is not None
            return Start(since, None, resumed=True)
        # The cursor is read before SQL: a change committed in between is in the
        # snapshot *and* replayed; frames carry the whole todo, so that is harmless.
        service = TodoService(ctx.db, ctx.redis, maxlen=1, src="")
        items, _ = await service.list(TodosQuery(limit=1000))
        snap = Snapshot[TodoOut](
            topic=self.name, id=str(info.last), reset=since is not None, items=items
        )
        return Start(info.last, frame(snap, id=info.last), resumed=False)

    async def frames(self, ctx: TopicContext, entries: Sequence[Entry]) -> list[Frame]:
        out = []
        for sid, fields in entries:
            try:
                f = msgspec.convert(
                    {
                        "id": sid,
                        "op": fields["op"],
                        "by": fields.get("by", ""),
                        "todo": orjson.loads(fields["todo"]),
                    },
                    TodoFrame,
                    strict=False,
                )
                out.append(frame(f, id=StreamId.parse(sid)))
            except (KeyError, ValueError, msgspec.ValidationError) as exc:
                log.warning("stream_entry_invalid", stream=self.stream, id=sid, error=str(exc))
        return out
