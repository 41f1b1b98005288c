"""Views by robot kind: cooking robots with the cooking queue, serving robots with deliveries.

The queues come from the gateway's dispatcher state, the hash rd:dispatch
(order id -> the open order with its tasks, docs/orders.md), read loosely:
unknown fields are ignored and an unreadable entry is skipped, so the
dispatcher can grow its state without breaking this view.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import msgspec
import structlog
from msgspec import Struct
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from robodine.redisio.keys import KEYS
from web.db.restaurant import MenuItem
from web.http.schemas import doc
from web.robots.schemas import RobotOut

log = structlog.get_logger("web.kinds")


class _Task(Struct, kw_only=True):
    id: str
    kind: str
    args: dict[str, Any] = {}
    status: str = "pending"
    robot: str = ""
    attempts: int = 0


class _Order(Struct, kw_only=True):
    id: str
    table: str = ""
    status: str = ""
    tasks: list[_Task] = []
    placed: float = 0.0


class CookTask(Struct, kw_only=True):
    order: Annotated[str, doc("the order's id")]
    task: Annotated[str, doc("the task's id (`<order>:c<n>`)")]
    table: Annotated[str, doc("the order's table")]
    recipe: Annotated[str, doc("what the cooking robot is asked to cook")]
    item: Annotated[str, doc("the dish (menu item name)")]
    quantity: Annotated[int, doc("portions")]
    status: Annotated[
        str, doc("`pending` (in the queue) or `assigned` (a robot cooks it)", "assigned")
    ]
    robot: Annotated[str, doc("the cooking robot (empty while pending)")]
    attempts: Annotated[int, doc("robots it was given to so far (more than 1: one dropped out)")]
    placed: Annotated[float, doc("when the order was placed, epoch seconds")]


class Delivery(Struct, kw_only=True):
    order: Annotated[str, doc("the order's id")]
    task: Annotated[str, doc("the task's id (`<order>:d`)")]
    table: Annotated[str, doc("where it goes")]
    x: Annotated[float | None, doc("the table's position, metres")]
    y: Annotated[float | None, doc("the table's position, metres")]
    status: Annotated[str, doc("`pending` or `assigned`", "pending")]
    ready: Annotated[bool, doc("every dish is cooked: a robot may take it now")]
    robot: Annotated[str, doc("the serving robot (empty while pending)")]
    attempts: Annotated[int, doc("robots it was given to so far")]
    placed: Annotated[float, doc("when the order was placed, epoch seconds")]


class Recipe(Struct, kw_only=True):
    recipe: Annotated[str, doc("the recipe id")]
    menu_items: Annotated[list[str], doc("names of the menu items cooked with it")]


class CookbotEntry(Struct, kw_only=True):
    robot: Annotated[RobotOut, doc("the cooking robot")]
    task: Annotated[CookTask | None, doc("what it cooks now (null: nothing)")]


class AlbabotEntry(Struct, kw_only=True):
    robot: Annotated[RobotOut, doc("the serving robot")]
    task: Annotated[Delivery | None, doc("what it carries now (null: nothing)")]


class CookbotView(Struct, kw_only=True):
    robots: Annotated[list[CookbotEntry], doc("every cooking robot")]
    queue: Annotated[
        list[CookTask], doc("dishes waiting for a free cooking robot, oldest order first")
    ]
    recipes: Annotated[
        list[Recipe], doc("what the cooking robots are asked to cook (the robot-cooked menu)")
    ]


class AlbabotView(Struct, kw_only=True):
    robots: Annotated[list[AlbabotEntry], doc("every serving robot")]
    queue: Annotated[list[Delivery], doc("deliveries without a robot yet, oldest order first")]


async def open_orders(redis: Redis) -> list[_Order]:
    out = []
    for oid, raw in (await redis.hgetall(KEYS.dispatch)).items():
        try:
            out.append(msgspec.json.decode(raw, type=_Order))
        except msgspec.DecodeError as exc:
            log.warning("dispatch_entry_unreadable", order=oid, error=str(exc))
    out.sort(key=lambda o: (o.placed, o.id))
    return out


def _cook(order: _Order, t: _Task) -> CookTask:
    return CookTask(
        order=order.id,
        task=t.id,
        table=order.table,
        recipe=str(t.args.get("recipe") or ""),
        item=str(t.args.get("item") or ""),
        quantity=int(t.args.get("quantity") or 1),
        status=t.status,
        robot=t.robot,
        attempts=t.attempts,
        placed=order.placed,
    )


def _delivery(order: _Order, t: _Task) -> Delivery:
    cooks = [c for c in order.tasks if c.kind == "cook"]
    x, y = t.args.get("x"), t.args.get("y")
    return Delivery(
        order=order.id,
        task=t.id,
        table=str(t.args.get("table") or order.table),
        x=float(x) if x is not None else None,
        y=float(y) if y is not None else None,
        status=t.status,
        ready=all(c.status == "done" for c in cooks),
        robot=t.robot,
        attempts=t.attempts,
        placed=order.placed,
    )


async def recipes(db: async_sessionmaker[AsyncSession]) -> list[Recipe]:
    async with db() as s:
        rows = await s.execute(
            select(MenuItem.recipe, MenuItem.name)
            .where(MenuItem.robot_cooked.is_(True), MenuItem.recipe.is_not(None))
            .order_by(MenuItem.recipe, MenuItem.name)
        )
        by: dict[str, list[str]] = defaultdict(list)
        for recipe, name in rows:
            if recipe:
                by[recipe].append(name)
    return [Recipe(recipe=r, menu_items=names) for r, names in by.items()]


T = TypeVar("T")


def _split(
    orders: list[_Order], kind: str, make: Callable[[_Order, Any], T]
) -> tuple[dict[str, T], list[T]]:
    """A kind's tasks: the one each robot holds now, and the queue still waiting for a robot."""
    current: dict[str, T] = {}
    queue: list[T] = []
    for o in orders:
        for t in o.tasks:
            if t.kind != kind:
                continue
            if t.status == "assigned" and t.robot:
                current[t.robot] = make(o, t)
            elif t.status == "pending":
                queue.append(make(o, t))
    return current, queue


def cookbot_view(robots: list[RobotOut], orders: list[_Order], menu: list[Recipe]) -> CookbotView:
    current, queue = _split(orders, "cook", _cook)
    return CookbotView(
        robots=[
            CookbotEntry(robot=r, task=current.get(r.id)) for r in robots if r.kind == "cooking"
        ],
        queue=queue,
        recipes=menu,
    )


def albabot_view(robots: list[RobotOut], orders: list[_Order]) -> AlbabotView:
    current, queue = _split(orders, "deliver", _delivery)
    return AlbabotView(
        robots=[
            AlbabotEntry(robot=r, task=current.get(r.id)) for r in robots if r.kind == "serving"
        ],
        queue=queue,
    )
