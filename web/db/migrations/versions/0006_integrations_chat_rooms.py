"""integrations (API keys with a role and a scope) and chat rooms added through the API

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("robots", sa.Text(), nullable=True),
        sa.Column("routes", sa.Text(), nullable=True),
        sa.Column("rate_per_min", sa.Integer(), nullable=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        _when("revoked_at", nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False),
        _when("created_at"),
        _when("last_used_at", nullable=True),
        sa.Column("last_used_address", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("name", name=op.f("uq_integrations_name")),
        sa.UniqueConstraint("prefix", name=op.f("uq_integrations_prefix")),
        sa.CheckConstraint(
            "role IN ('admin', 'staff', 'viewer')", name=op.f("ck_integrations_role")
        ),
    )
    op.create_table(
        "chat_rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("title", sa.String(100), nullable=False, server_default=""),
        sa.Column("read_roles", sa.String(64), nullable=False),
        sa.Column("write_roles", sa.String(64), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_by", sa.String(64), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_rooms")),
        sa.UniqueConstraint("name", name=op.f("uq_chat_rooms_name")),
    )


def downgrade() -> None:
    op.drop_table("chat_rooms")
    op.drop_table("integrations")
