"""restaurant domain: floor tables, menu, inventory, robots registry, orders, outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STATUS = "status IN ('placed', 'cooking', 'ready', 'delivering', 'delivered', 'cancelled')"


def _times(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(n, sa.DateTime(timezone=True), nullable=False) for n in names]


def upgrade() -> None:
    op.create_table(
        "floor_tables",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False, server_default="4"),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_times("created_at", "updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_floor_tables")),
        sa.UniqueConstraint("name", name=op.f("uq_floor_tables_name")),
        sa.CheckConstraint("seats > 0", name=op.f("ck_floor_tables_seats")),
    )
    op.create_table(
        "menu_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False, server_default=""),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("price_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="KRW"),
        sa.Column("robot_cooked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("recipe", sa.String(64), nullable=True),
        sa.Column("available", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_times("created_at", "updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_menu_items")),
        sa.UniqueConstraint("name", name=op.f("uq_menu_items_name")),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_menu_items_price")),
        sa.CheckConstraint(
            "NOT robot_cooked OR recipe IS NOT NULL", name=op.f("ck_menu_items_recipe")
        ),
    )
    op.create_index(op.f("ix_menu_items_category"), "menu_items", ["category"])
    op.create_table(
        "inventory",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("menu_item_id", sa.Integer(), nullable=True),
        sa.Column("ingredient", sa.String(64), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("low_stock", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("unit", sa.String(16), nullable=False, server_default="portion"),
        *_times("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory")),
        sa.ForeignKeyConstraint(
            ["menu_item_id"],
            ["menu_items.id"],
            name=op.f("fk_inventory_menu_item_id_menu_items"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("menu_item_id", name=op.f("uq_inventory_menu_item_id")),
        sa.UniqueConstraint("ingredient", name=op.f("uq_inventory_ingredient")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_inventory_stock")),
        sa.CheckConstraint("low_stock >= 0", name=op.f("ck_inventory_low_stock")),
        sa.CheckConstraint(
            "(menu_item_id IS NULL) <> (ingredient IS NULL)",
            name=op.f("ck_inventory_item_or_ingredient"),
        ),
    )
    op.create_table(
        "menu_ingredients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("menu_item_id", sa.Integer(), nullable=False),
        sa.Column("inventory_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_menu_ingredients")),
        sa.ForeignKeyConstraint(
            ["menu_item_id"],
            ["menu_items.id"],
            name=op.f("fk_menu_ingredients_menu_item_id_menu_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inventory_id"],
            ["inventory.id"],
            name=op.f("fk_menu_ingredients_inventory_id_inventory"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("menu_item_id", "inventory_id", name="uq_menu_ingredients_pair"),
        sa.CheckConstraint("amount > 0", name=op.f("ck_menu_ingredients_amount")),
    )
    op.create_index(op.f("ix_menu_ingredients_menu_item_id"), "menu_ingredients", ["menu_item_id"])
    op.create_table(
        "robots",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False, server_default=""),
        sa.Column("network", sa.String(128), nullable=False, server_default=""),
        sa.Column("source", sa.String(8), nullable=False, server_default="api"),
        sa.Column("key_sealed", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False, server_default=""),
        *_times("created_at", "updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robots")),
        sa.CheckConstraint("kind IN ('serving', 'cooking')", name=op.f("ck_robots_kind")),
        sa.CheckConstraint("source IN ('config', 'api')", name=op.f("ck_robots_source")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("robot", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_digest", sa.String(64), nullable=False, server_default=""),
        *_times("created_at", "updated_at"),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.ForeignKeyConstraint(
            ["table_id"], ["floor_tables.id"], name=op.f("fk_orders_table_id_floor_tables")
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_orders_idempotency_key")),
        sa.CheckConstraint(_STATUS, name=op.f("ck_orders_status")),
        sa.CheckConstraint("total_minor >= 0", name=op.f("ck_orders_total")),
    )
    op.create_index(op.f("ix_orders_table_id"), "orders", ["table_id"])
    op.create_index(op.f("ix_orders_status"), "orders", ["status"])
    op.create_index("ix_orders_created_at", "orders", ["created_at"])
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.String(48), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("menu_item_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("recipe", sa.String(64), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_minor", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_lines_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["menu_item_id"], ["menu_items.id"], name=op.f("fk_order_lines_menu_item_id_menu_items")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity")),
        sa.CheckConstraint("unit_price_minor >= 0", name=op.f("ck_order_lines_price")),
    )
    op.create_index(op.f("ix_order_lines_order_id"), "order_lines", ["order_id"])
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.String(48), nullable=False),
        sa.Column("eid", sa.String(64), nullable=True),
        sa.Column("stream_id", sa.String(48), nullable=False, server_default=""),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("previous", sa.String(16), nullable=True),
        sa.Column("robot", sa.String(64), nullable=False, server_default=""),
        sa.Column("detail", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("source", sa.String(64), nullable=False, server_default=""),
        *_times("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_events_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("eid", name=op.f("uq_order_events_eid")),
    )
    op.create_index(op.f("ix_order_events_order_id"), "order_events", ["order_id"])
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("id", sa.String(48), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False, server_default=""),
        *_times("created_at"),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stream_id", sa.String(48), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
        sa.UniqueConstraint("id", name=op.f("uq_outbox_id")),
    )
    op.create_index(op.f("ix_outbox_sent_at"), "outbox", ["sent_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("order_events")
    op.drop_table("order_lines")
    op.drop_table("orders")
    op.drop_table("robots")
    op.drop_table("menu_ingredients")
    op.drop_table("inventory")
    op.drop_index(op.f("ix_menu_items_category"), table_name="menu_items")
    op.drop_table("menu_items")
    op.drop_table("floor_tables")
