"""The restaurant's relational data: floor tables, menu, inventory, the robots registry.

Orders live in web/db/orders.py. Prices are integers in the currency's minor
unit (KRW has none, so a price is whole won), never floats.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from web.db.models import Base, UTCDateTime, utcnow

RECIPE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class FloorTable(Base):
    """A guest table: where a serving robot goes (``x``, ``y`` on the floor plan, metres)."""

    __tablename__ = "floor_tables"
    __table_args__ = (CheckConstraint("seats > 0", name="seats"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    seats: Mapped[int] = mapped_column(Integer, default=4)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MenuItem(Base):
    __tablename__ = "menu_items"
    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="price"),
        CheckConstraint("NOT robot_cooked OR recipe IS NOT NULL", name="recipe"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    name_en: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32), index=True)
    price_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="KRW")
    robot_cooked: Mapped[bool] = mapped_column(Boolean, default=False)
    recipe: Mapped[str | None] = mapped_column(String(64), default=None)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    photo_upload_id: Mapped[str | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InventoryItem(Base):
    """Stock of one menu item (ready-made: drinks, desserts) or of one ingredient.

    Exactly one of ``menu_item_id`` and ``ingredient`` is set. A menu item
    with no stock row and no ingredients is not counted (always available).
    """

    __tablename__ = "inventory"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock"),
        CheckConstraint("low_stock >= 0", name="low_stock"),
        CheckConstraint(
            "(menu_item_id IS NULL) <> (ingredient IS NULL)", name="item_or_ingredient"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    menu_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("menu_items.id", ondelete="CASCADE"), unique=True, default=None
    )
    ingredient: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    low_stock: Mapped[int] = mapped_column(Integer, default=0)  # at or below: "low"
    unit: Mapped[str] = mapped_column(String(16), default="portion")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MenuIngredient(Base):
    """How much of an ingredient one portion of a menu item uses."""

    __tablename__ = "menu_ingredients"
    __table_args__ = (
        UniqueConstraint("menu_item_id", "inventory_id", name="uq_menu_ingredients_pair"),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    menu_item_id: Mapped[int] = mapped_column(
        ForeignKey("menu_items.id", ondelete="CASCADE"), index=True
    )
    inventory_id: Mapped[int] = mapped_column(ForeignKey("inventory.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(Integer, default=1)


class RobotRow(Base):
    """The robots registry in SQL.

    ``source`` "config": provisioned by the config file (no key here; the
    file holds it). "api": added through the API; ``key_sealed`` is its key
    sealed with AES-256-GCM under the data key (protocol.sealing), never the
    key itself, and rd:registry carries a copy for the gateway.
    """

    __tablename__ = "robots"
    __table_args__ = (
        CheckConstraint("kind IN ('serving', 'cooking')", name="kind"),
        CheckConstraint("source IN ('config', 'api')", name="source"),
        CheckConstraint("transport IN ('tcp', 'mqtt', 'vda5050')", name="transport"),
        CheckConstraint(
            "(transport = 'vda5050') = (vda_manufacturer IS NOT NULL AND vda_serial IS NOT NULL)",
            name="vda",
        ),
        UniqueConstraint("vda_manufacturer", "vda_serial", name="uq_robots_vda"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="")
    network: Mapped[str] = mapped_column(String(128), default="")  # MAC, host name, serial
    source: Mapped[str] = mapped_column(String(8), default="api")
    key_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    # How it reaches the gateway, as a config robot's `transport` and `vda` say.
    transport: Mapped[str] = mapped_column(String(8), default="tcp")
    vda_manufacturer: Mapped[str | None] = mapped_column(String(100), default=None)
    vda_serial: Mapped[str | None] = mapped_column(String(100), default=None)
    vda_version: Mapped[str | None] = mapped_column(String(16), default=None)
    created_by: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
