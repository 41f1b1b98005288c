"""``restaurant``: every table, menu item and stock row (snapshot from SQL), then each change
from rd:restaurant: prices, availability, tables, stock levels, as they are committed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec
import orjson
from msgspec import Meta, Struct

from robodine.redisio.keys import KEYS
from robodine.redisio.replies import Entry
from robodine.redisio.streamid import StreamId
from web.feeds.frames import Frame, Snapshot, frame
from web.feeds.subscription import Delivery, Filter
from web.feeds.topic import Start, Topic, TopicContext, log, resume_or_snapshot
from web.http.schemas import Query, doc
from web.restaurant.floor import all_tables
from web.restaurant.inventory import inventory_rows
from web.restaurant.live import Kind
from web.restaurant.menu import menu_items
from web.restaurant.schemas import InventoryOut, MenuItemOut, TableOut

_OP = Annotated[
    Literal["created", "updated", "deleted"],
    Meta(description="what happened to it; `deleted` carries its last state"),
]
_ID = Annotated[str, Meta(description="the rd:restaurant stream id: resume with `since`")]
_BY = Annotated[str, Meta(description="who changed it (a username, an integration, or an order)")]


class TableFrame(Struct, tag_field="type", tag="table", kw_only=True):
    """A guest table changed (added, moved, renamed, (de)activated, removed)."""

    id: _ID
    op: _OP
    by: _BY
    item: Annotated[TableOut, doc("the table as `GET /api/tables/{table_id}` answers it")]


class MenuItemFrame(Struct, tag_field="type", tag="menu_item", kw_only=True):
    """A menu item changed: price, availability, name, photo, or its `stock` (portions)."""

    id: _ID
    op: _OP
    by: _BY
    item: Annotated[
        MenuItemOut, doc("the item as `GET /api/menu/{item_id}` answers it (with its `stock`)")
    ]


class InventoryFrame(Struct, tag_field="type", tag="inventory", kw_only=True):
    """A stock row changed: counted, restocked, taken by an order, given back by a cancel."""

    id: _ID
    op: _OP
    by: _BY
    item: Annotated[InventoryOut, doc("the row as `GET /api/inventory/{inventory_id}` answers it")]


class TableEntry(Struct, tag_field="kind", tag="table", kw_only=True):
    item: Annotated[TableOut, doc("a table")]


class MenuItemEntry(Struct, tag_field="kind", tag="menu_item", kw_only=True):
    item: Annotated[MenuItemOut, doc("a menu item")]


class InventoryEntry(Struct, tag_field="kind", tag="inventory", kw_only=True):
    item: Annotated[InventoryOut, doc("a stock row")]


RestaurantEntry = TableEntry | MenuItemEntry | InventoryEntry


class RestaurantSnapshot(Snapshot[RestaurantEntry]):
    """Every table, menu item and stock row (those of the kinds asked for)."""


_FRAMES: dict[str, type[Struct]] = {
    "table": TableFrame,
    "menu_item": MenuItemFrame,
    "inventory": InventoryFrame,
}


class RestaurantQuery(Query):
    kind: Annotated[
        list[Kind],
        Meta(description="only these kinds (repeat or commas); none: all three"),
    ] = []


class RestaurantTopic(Topic):
    name = "restaurant"
    stream = KEYS.named("restaurant")
    delivery = Delivery.RELIABLE
    summary = (
        "Tables, menu items (prices, availability, portions in stock) and stock rows: all of "
        "them first, then every committed change, from any web process."
    )
    params = RestaurantQuery
    frame_types = TableFrame | MenuItemFrame | InventoryFrame | RestaurantSnapshot

    def make_filter(self, params: Any) -> Filter:
        return Filter.make(types=params.kind)

    async def start(self, ctx: TopicContext, flt: Filter, since: StreamId | None) -> Start:
        info, resumable = await resume_or_snapshot(ctx, self.stream, since)
        if resumable:
            assert since is not None
            return Start(since, None, resumed=True)
        # The cursor is read before SQL: a change committed in between is in the snapshot
        # *and* replayed; frames carry the whole row, so applying one twice is harmless.
        wanted = flt.types or frozenset(_FRAMES)
        items: list[RestaurantEntry] = []
        async with ctx.db() as s:
            if "table" in wanted:
                items += [TableEntry(item=t) for t in await all_tables(s)]
            if "menu_item" in wanted:
                items += [MenuItemEntry(item=m) for m in await menu_items(s)]
            if "inventory" in wanted:
                items += [InventoryEntry(item=r) for r in await inventory_rows(s)]
        snap = RestaurantSnapshot(
            topic=self.name, id=str(info.last), reset=since is not None, items=items
        )
        return Start(info.last, frame(snap, id=info.last), resumed=False)

    async def frames(self, ctx: TopicContext, entries: Sequence[Entry]) -> list[Frame]:
        out = []
        for sid, fields in entries:
            try:
                kind = fields["kind"]
                f = msgspec.convert(
                    {
                        "id": sid,
                        "op": fields["op"],
                        "by": fields.get("by", ""),
                        "item": orjson.loads(fields["item"]),
                    },
                    _FRAMES[kind],
                    strict=False,
                )
                out.append(frame(f, id=StreamId.parse(sid), type=kind))
            except (KeyError, ValueError, msgspec.ValidationError) as exc:
                log.warning("stream_entry_invalid", stream=self.stream, id=sid, error=str(exc))
        return out
