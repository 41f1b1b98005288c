"""Request and answer models of /api/tables, /api/menu and /api/inventory.

Prices are integers in the currency's minor unit (``price_minor``; for KRW,
which has no minor unit, whole won): a float or a string such as "12,000"
is a 422 naming the field, never rounded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from web.http.schemas import Offset, Query, Request, doc
from web.http.schemas import RowId as Id

TableName = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$",
        description="letters, digits, space . _ -; up to 32",
    ),
]
Coordinate = Annotated[float, Meta(ge=0, le=10_000, description="metres on the floor plan")]
Seats = Annotated[int, Meta(ge=1, le=100)]
Category = Annotated[
    str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="lowercase slug, e.g. `mains`")
]
Recipe = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="the recipe id a cooking robot knows, e.g. `bibimbap`",
    ),
]
PriceMinor = Annotated[
    int,
    Meta(
        ge=0,
        le=100_000_000,
        description="integer amount in the currency's minor unit (KRW: whole won)",
    ),
]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
ItemName = Annotated[str, Meta(min_length=1, max_length=100)]
Ingredient = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Count = Annotated[int, Meta(ge=0, le=1_000_000_000)]
Unit = Annotated[str, Meta(min_length=1, max_length=16)]
Limit = Annotated[int, Meta(ge=1, le=1000)]
UploadRef = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$", description="an upload id")]

# ---- tables ---------------------------------------------------------------------------


class TableOut(Struct, kw_only=True):
    id: Annotated[int, doc("the table's id (`table_id` of an order)")]
    name: Annotated[str, doc("its name", "T3")]
    seats: Annotated[int, doc("seats at it")]
    x: Annotated[float, doc("where the serving robot goes, metres on the floor plan")]
    y: Annotated[float, doc("where the serving robot goes, metres")]
    active: Annotated[bool, doc("false: out of service (no orders)")]


class TableIn(Request):
    name: Annotated[TableName, doc("a unique name")]
    x: Annotated[Coordinate, doc("metres on the floor plan, within `[floor]` width")]
    y: Annotated[Coordinate, doc("metres, within `[floor]` height")]
    seats: Annotated[Seats, doc("seats at it")] = 4
    active: Annotated[bool, doc("false: out of service")] = True


class TablePatch(Request):
    name: Annotated[TableName | UnsetType, doc("a new unique name")] = UNSET
    x: Annotated[Coordinate | UnsetType, doc("a new position, metres")] = UNSET
    y: Annotated[Coordinate | UnsetType, doc("a new position, metres")] = UNSET
    seats: Annotated[Seats | UnsetType, doc("seats at it")] = UNSET
    active: Annotated[bool | UnsetType, doc("false: out of service")] = UNSET


class TablePath(Query):
    table_id: Annotated[Id, doc("the table")]


class TablesQuery(Query):
    active: Annotated[bool | None, doc("only active (true) or inactive (false) tables")] = None
    min_seats: Annotated[Seats | None, doc("at least this many seats")] = None
    sort: Annotated[Literal["name", "-name", "seats", "-seats", "id"], doc("order of the list")] = (
        "id"
    )
    limit: Annotated[Limit, doc("tables per page at most")] = 500
    offset: Offset = 0


class TableList(Struct, kw_only=True):
    items: Annotated[list[TableOut], doc("this page")]
    total: Annotated[int, doc("tables that match, in all")]


# ---- menu -------------------------------------------------------------------------------


class MenuItemOut(Struct, kw_only=True):
    id: Annotated[int, doc("the item's id (`menu_item_id` of an order line)")]
    name: Annotated[str, doc("its name (Korean on the demo menu)", "김치찌개")]
    name_en: Annotated[str, doc("its English name", "Kimchi stew")]
    description: Annotated[str, doc("for the menu")]
    category: Annotated[str, doc("its tab on the menu", "main")]
    price_minor: Annotated[
        int, doc("price in the currency's minor unit (KRW has none: whole won)", 9000)
    ]
    currency: Annotated[str, doc("ISO 4217", "KRW")]
    robot_cooked: Annotated[bool, doc("a cooking robot makes it (with `recipe`)")]
    recipe: Annotated[
        str | None, doc("the recipe id its cooking robot knows (null: staff prepare it)")
    ]
    available: Annotated[bool, doc("false: cannot be ordered now")]
    stock: Annotated[int | None, doc("portions the inventory allows; null: not counted")]
    low_stock: Annotated[bool, doc("some stock it needs is at or below its threshold")]
    photo_upload_id: Annotated[str | None, doc("an image upload shown with the item")] = None
    photo: Annotated[str | None, doc("the photo's content URL")] = None


class MenuItemIn(Request):
    name: Annotated[ItemName, doc("a unique name")]
    category: Annotated[Category, doc("its tab on the menu")]
    price_minor: Annotated[
        PriceMinor, doc("price in the minor unit: an integer, never a float or a string")
    ]
    name_en: Annotated[str, Meta(max_length=100), doc("its English name")] = ""
    description: Annotated[str, Meta(max_length=1000), doc("for the menu")] = ""
    currency: Annotated[Currency, doc("ISO 4217")] = "KRW"
    robot_cooked: Annotated[bool, doc("a cooking robot makes it")] = False
    recipe: Annotated[
        Recipe | None, doc("required when robot-cooked: the recipe id the robots know")
    ] = None
    available: Annotated[bool, doc("false: cannot be ordered")] = True
    photo_upload_id: Annotated[UploadRef | None, doc("an image from POST /api/uploads")] = None


class MenuItemPatch(Request):
    name: Annotated[ItemName | UnsetType, doc("a new unique name")] = UNSET
    name_en: Annotated[
        Annotated[str, Meta(max_length=100)] | UnsetType, doc("its English name")
    ] = UNSET
    description: Annotated[
        Annotated[str, Meta(max_length=1000)] | UnsetType, doc("for the menu")
    ] = UNSET
    category: Annotated[Category | UnsetType, doc("its tab")] = UNSET
    price_minor: Annotated[
        PriceMinor | UnsetType, doc("a new price (orders placed keep theirs)", 9500)
    ] = UNSET
    currency: Annotated[Currency | UnsetType, doc("ISO 4217")] = UNSET
    robot_cooked: Annotated[bool | UnsetType, doc("a cooking robot makes it")] = UNSET
    recipe: Annotated[Recipe | UnsetType | None, doc("the recipe id (null: none)")] = UNSET
    available: Annotated[bool | UnsetType, doc("false: cannot be ordered now")] = UNSET
    photo_upload_id: Annotated[
        UploadRef | UnsetType | None, doc("an image upload; null removes the photo")
    ] = UNSET


class MenuPath(Query):
    item_id: Annotated[Id, doc("the menu item")]


class MenuQuery(Query):
    category: Annotated[list[Category], doc("only these categories (repeat or commas)")] = []
    available: Annotated[
        bool | None, doc("only items that can (true) or cannot (false) be ordered")
    ] = None
    robot_cooked: Annotated[
        bool | None, doc("only robot-cooked (true) or staff-made (false) items")
    ] = None
    sort: Annotated[
        Literal["id", "name", "-name", "price", "-price", "category"], doc("order of the list")
    ] = "id"
    limit: Annotated[Limit, doc("items per page at most")] = 500
    offset: Offset = 0


class MenuList(Struct, kw_only=True):
    items: Annotated[list[MenuItemOut], doc("this page")]
    total: Annotated[int, doc("items that match, in all")]
    categories: Annotated[list[str], doc("every category on the menu, for tabs")]


# ---- inventory --------------------------------------------------------------------------


class IngredientUse(Struct, forbid_unknown_fields=True, kw_only=True):
    menu_item_id: Annotated[Id, doc("a menu item that uses the ingredient")]
    amount: Annotated[
        int, Meta(ge=1, le=1_000_000), doc("how much one portion uses (in the row's unit)")
    ] = 1


class InventoryOut(Struct, kw_only=True):
    id: Annotated[int, doc("the stock row's id")]
    name: Annotated[str, doc("the menu item's name, or the ingredient")]
    menu_item_id: Annotated[int | None, doc("the ready-made item it counts (null: an ingredient)")]
    ingredient: Annotated[str | None, doc("the ingredient it counts (null: a menu item)")]
    stock: Annotated[int, doc("how many (portions, or the unit) are there")]
    low_stock: Annotated[int, doc("the threshold: at or below it the row is low")]
    unit: Annotated[str, doc("what `stock` counts", "portion")]
    low: Annotated[bool, doc("stock is at or below low_stock")]
    used_by: Annotated[list[IngredientUse], doc("ingredients: the menu items that use them")]
    updated_at: Annotated[datetime, doc("its last change")]


class InventoryIn(Request):
    stock: Annotated[Count, doc("how many there are now")]
    menu_item_id: Annotated[Id | None, doc("stock of a ready-made item (drinks) ...")] = None
    ingredient: Annotated[
        Ingredient | None, doc("... or of an ingredient, with the items it goes into")
    ] = None
    low_stock: Annotated[Count, doc("the low-stock threshold")] = 0
    unit: Annotated[Unit, doc("what `stock` counts")] = "portion"
    used_by: Annotated[
        list[IngredientUse], Meta(max_length=200), doc("ingredients: which menu items use how much")
    ] = []


class InventoryPatch(Request):
    stock: Annotated[Count | UnsetType, doc("set the count (a stocktake) ...")] = UNSET
    adjust: Annotated[
        Annotated[int, Meta(ge=-1_000_000_000, le=1_000_000_000)] | UnsetType,
        doc("... or add (negative: remove) atomically, safe while orders take stock", 12),
    ] = UNSET
    low_stock: Annotated[Count | UnsetType, doc("a new threshold")] = UNSET
    unit: Annotated[Unit | UnsetType, doc("what `stock` counts")] = UNSET
    used_by: Annotated[
        Annotated[list[IngredientUse], Meta(max_length=200)] | UnsetType,
        doc("ingredients: which menu items use how much"),
    ] = UNSET


class InventoryPath(Query):
    inventory_id: Annotated[Id, doc("the stock row")]


class InventoryQuery(Query):
    low: Annotated[
        bool | None, doc("only rows at or below (true) or above (false) their threshold")
    ] = None
    kind: Annotated[
        Literal["item", "ingredient"] | None, doc("only menu items' or ingredients' rows")
    ] = None
    sort: Annotated[Literal["id", "name", "stock", "-stock"], doc("order of the list")] = "id"
    limit: Annotated[Limit, doc("rows per page at most")] = 500
    offset: Offset = 0


class InventoryList(Struct, kw_only=True):
    items: Annotated[list[InventoryOut], doc("this page")]
    total: Annotated[int, doc("rows that match, in all")]
