"""`robodine demo-data`: a small Korean restaurant to try the system with.

Tables come from ``[floor] tables`` (config/example.toml has 12), the menu
is Korean (names in Korean with English, prices in won: KRW has no minor
unit, so ``price_minor`` is whole won), most dishes are cooked by robots
(each with a recipe id), stock has low-stock thresholds, the config file's
robots are recorded as config-provisioned (no key in SQL: the file holds
it), and there is an ``admin`` user. Idempotent: only what is missing is
added, so a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from config.settings import Point
from web.db.models import User
from web.db.restaurant import FloorTable, InventoryItem, MenuIngredient, MenuItem, RobotRow
from web.db.session import transaction

ADMIN: Final = "admin"
SEATS: Final = (2, 4, 4, 6)

# name, English name, category, price in won, recipe (None: staff prepares it), description
MENU: Final = (
    ("비빔밥", "Bibimbap", "mains", 11000, "bibimbap", "rice, vegetables, beef, gochujang"),
    ("불고기", "Bulgogi", "mains", 15000, "bulgogi", "marinated grilled beef"),
    ("김치찌개", "Kimchi stew", "mains", 10000, "kimchi-jjigae", "kimchi, tofu, pork"),
    (
        "된장찌개",
        "Soybean paste stew",
        "mains",
        9500,
        "doenjang-jjigae",
        "doenjang, tofu",
    ),
    ("떡볶이", "Tteokbokki", "snacks", 7000, "tteokbokki", "rice cakes in spicy sauce"),
    ("김치전", "Kimchi pancake", "snacks", 9000, "kimchi-jeon", "crisp kimchi pancake"),
    ("잡채", "Japchae", "sides", 8000, "japchae", "glass noodles with vegetables"),
    ("호떡", "Hotteok", "desserts", 4000, "hotteok", "sweet filled pancake"),
    ("공기밥", "Steamed rice", "sides", 1000, None, ""),
    ("식혜", "Sikhye", "drinks", 3000, None, "sweet rice punch"),
    ("보리차", "Barley tea", "drinks", 2000, None, "free refills"),
    ("콜라", "Cola", "drinks", 2500, None, ""),
)
# ready-made items counted per portion: name, stock, low-stock threshold
ITEM_STOCK: Final = (("공기밥", 80, 10), ("식혜", 30, 5), ("콜라", 48, 12), ("호떡", 20, 4))
# ingredient, unit, stock, threshold, {menu item: amount per portion}
INGREDIENTS: Final = (
    ("beef", "100g", 40, 8, {"불고기": 2, "비빔밥": 1}),
    ("kimchi", "portion", 50, 10, {"김치찌개": 1, "김치전": 1}),
    ("tofu", "block", 20, 5, {"김치찌개": 1, "된장찌개": 1}),
    ("rice-cake", "portion", 30, 5, {"떡볶이": 1}),
    ("glass-noodles", "portion", 25, 5, {"잡채": 1}),
)


@dataclass
class DemoReport:
    tables: int = 0
    menu: int = 0
    stock: int = 0
    robots: int = 0
    admin_added: bool = False
    skipped: list[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        return self.tables + self.menu + self.stock + self.robots + int(self.admin_added)


def floor_tables(settings: Settings) -> list[Point]:
    """``[floor] tables``, or 12 tables laid out on the floor when none are configured."""
    if settings.floor.tables:
        return list(settings.floor.tables)
    f = settings.floor
    cols, rows = 4, 3
    return [
        Point(
            name=f"T{r * cols + c + 1}",
            x=round(f.width * (0.3 + 0.6 * c / (cols - 1)), 2),
            y=round(f.height * (0.2 + 0.6 * r / (rows - 1)), 2),
        )
        for r in range(rows)
        for c in range(cols)
    ]


async def is_empty(db: async_sessionmaker[AsyncSession]) -> bool:
    async with db() as s:
        for model in (User, FloorTable, MenuItem):
            if await s.scalar(select(func.count()).select_from(model)):
                return False
    return True


async def has_admin(db: async_sessionmaker[AsyncSession]) -> bool:
    async with db() as s:
        return await s.scalar(select(User.id).where(User.username == ADMIN)) is not None


async def load_demo(db: async_sessionmaker[AsyncSession], settings: Settings) -> DemoReport:
    """Everything but the admin user (web/cli.py adds it: the password needs care)."""
    report = DemoReport()
    async with transaction(db) as s:
        names = set(await s.scalars(select(FloorTable.name)))
        for i, p in enumerate(floor_tables(settings)):
            if p.name not in names:
                s.add(FloorTable(name=p.name, x=p.x, y=p.y, seats=SEATS[i % len(SEATS)]))
                report.tables += 1
        items = {m.name: m for m in await s.scalars(select(MenuItem))}
        for name, name_en, category, price, recipe, description in MENU:
            if name in items:
                continue
            m = MenuItem(
                name=name,
                name_en=name_en,
                category=category,
                price_minor=price,
                currency="KRW",
                robot_cooked=recipe is not None,
                recipe=recipe,
                description=description,
            )
            s.add(m)
            items[name] = m
            report.menu += 1
        await s.flush()
        counted = set(await s.scalars(select(InventoryItem.menu_item_id)))
        for name, stock, low in ITEM_STOCK:
            if items[name].id not in counted:
                s.add(InventoryItem(menu_item_id=items[name].id, stock=stock, low_stock=low))
                report.stock += 1
        known = set(await s.scalars(select(InventoryItem.ingredient)))
        for ingredient, unit, stock, low, uses in INGREDIENTS:
            if ingredient in known:
                continue
            row = InventoryItem(ingredient=ingredient, unit=unit, stock=stock, low_stock=low)
            s.add(row)
            await s.flush()
            for item, amount in uses.items():
                s.add(
                    MenuIngredient(menu_item_id=items[item].id, inventory_id=row.id, amount=amount)
                )
            report.stock += 1
        robots = {r.id: r for r in await s.scalars(select(RobotRow))}
        for r in settings.robots:
            if r.id in robots:
                if robots[r.id].source != "config":
                    report.skipped.append(f"robot {r.id}: already added through the API")
                continue
            s.add(
                RobotRow(
                    id=r.id,
                    kind=str(r.kind),
                    name=r.name,
                    source="config",
                    transport=r.transport,
                    vda_manufacturer=r.vda.manufacturer if r.vda else None,
                    vda_serial=r.vda.serial if r.vda else None,
                    vda_version=r.vda.version if r.vda else None,
                )
            )
            report.robots += 1
    return report
