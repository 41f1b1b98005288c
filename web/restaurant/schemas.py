"""Request and answer models of /api/tables, /api/menu and /api/inventory.

Prices are integers in the currency's minor unit (``price_minor``; for KRW,
which has no minor unit, whole won): a float or a string such as "12,000"
is a 422 naming the field, never rounded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from web.http.schemas import Offset, Query, Request
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
    id: int
    name: str
    seats: int
    x: float
    y: float
    active: bool


class TableIn(Request):
    name: TableName
    x: Coordinate
    y: Coordinate
    seats: Seats = 4
    active: bool = True


class TablePatch(Request):
    name: TableName | UnsetType = UNSET
    x: Coordinate | UnsetType = UNSET
    y: Coordinate | UnsetType = UNSET
    seats: Seats | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class TablePath(Query):
    table_id: Id


class TablesQuery(Query):
    active: bool | None = None
    min_seats: Seats | None = None
    sort: Literal["name", "-name", "seats", "-seats", "id"] = "id"
    limit: Limit = 500
    offset: Offset = 0


class TableList(Struct, kw_only=True):
    items: list[TableOut]
    total: int


# ---- menu -------------------------------------------------------------------------------


class MenuItemOut(Struct, kw_only=True):
    id: int
    name: str
    name_en: str
    description: str
    category: str
    price_minor: int
    currency: str
    robot_cooked: bool
    recipe: str | None
    available: bool
    stock: int | None  # portions the inventory allows; null: not counted
    low_stock: bool  # some stock it needs is at or below its threshold
    photo_upload_id: str | None = None  # an image upload shown with the item
    photo: str | None = None  # its content URL


class MenuItemIn(Request):
    name: ItemName
    category: Category
    price_minor: PriceMinor
    name_en: Annotated[str, Meta(max_length=100)] = ""
    description: Annotated[str, Meta(max_length=1000)] = ""
    currency: Currency = "KRW"
    robot_cooked: bool = False
    recipe: Recipe | None = None  # required when robot_cooked
    available: bool = True
    photo_upload_id: UploadRef | None = None  # an image from POST /api/uploads


class MenuItemPatch(Request):
    name: ItemName | UnsetType = UNSET
    name_en: Annotated[str, Meta(max_length=100)] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=1000)] | UnsetType = UNSET
    category: Category | UnsetType = UNSET
    price_minor: PriceMinor | UnsetType = UNSET
    currency: Currency | UnsetType = UNSET
    robot_cooked: bool | UnsetType = UNSET
    recipe: Recipe | UnsetType | None = UNSET
    available: bool | UnsetType = UNSET
    photo_upload_id: UploadRef | UnsetType | None = UNSET  # null removes the photo


class MenuPath(Query):
    item_id: Id


class MenuQuery(Query):
    category: list[Category] = []
    available: bool | None = None
    robot_cooked: bool | None = None
    sort: Literal["id", "name", "-name", "price", "-price", "category"] = "id"
    limit: Limit = 500
    offset: Offset = 0


class MenuList(Struct, kw_only=True):
    items: list[MenuItemOut]
    total: int
    categories: list[str]  # every category on the menu, for tabs


# ---- inventory --------------------------------------------------------------------------


class IngredientUse(Struct, forbid_unknown_fields=True, kw_only=True):
    menu_item_id: Id
    amount: Annotated[int, Meta(ge=1, le=1_000_000)] = 1  # per portion


class InventoryOut(Struct, kw_only=True):
    id: int
    name: str  # the menu item's name, or the ingredient
    menu_item_id: int | None
    ingredient: str | None
    stock: int
    low_stock: int
    unit: str
    low: bool  # stock <= low_stock
    used_by: list[IngredientUse]  # ingredients: the menu items that use them
    updated_at: datetime


class InventoryIn(Request):
    stock: Count
    menu_item_id: Id | None = None  # stock of a ready-made item (drinks) ...
    ingredient: Ingredient | None = None  # ... or of an ingredient, with the items it goes into
    low_stock: Count = 0
    unit: Unit = "portion"
    used_by: Annotated[list[IngredientUse], Meta(max_length=200)] = []


class InventoryPatch(Request):
    stock: Count | UnsetType = UNSET  # set the count (a stocktake) ...
    adjust: Annotated[int, Meta(ge=-1_000_000_000, le=1_000_000_000)] | UnsetType = (
        UNSET  # ... or add
    )
    low_stock: Count | UnsetType = UNSET
    unit: Unit | UnsetType = UNSET
    used_by: Annotated[list[IngredientUse], Meta(max_length=200)] | UnsetType = UNSET


class InventoryPath(Query):
    inventory_id: Id


class InventoryQuery(Query):
    low: bool | None = None  # only rows at or below their threshold
    kind: Literal["item", "ingredient"] | None = None
    sort: Literal["id", "name", "stock", "-stock"] = "id"
    limit: Limit = 500
    offset: Offset = 0


class InventoryList(Struct, kw_only=True):
    items: list[InventoryOut]
    total: int
