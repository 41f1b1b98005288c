"""media and jobs: uploads, the floor-plan image, menu photos, jobs, outbound webhooks

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_JOB_STATUS = "status IN ('queued', 'running', 'cancelling', 'completed', 'failed', 'cancelled')"
_DELIVERY_STATUS = "status IN ('pending', 'delivered', 'failed', 'skipped')"


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("store", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False, server_default="upload"),
        sa.Column("created_by", sa.String(32), nullable=False, server_default=""),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_uploads_size")),
    )
    op.create_index(op.f("ix_uploads_sha256"), "uploads", ["sha256"])
    op.create_index(op.f("ix_uploads_created_at"), "uploads", ["created_at"])
    op.create_table(
        "floor_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.String(32), nullable=True),
        sa.Column("updated_by", sa.String(32), nullable=False, server_default=""),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_floor_plan")),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["uploads.id"],
            ondelete="SET NULL",
            name=op.f("fk_floor_plan_upload_id_uploads"),
        ),
    )
    # A plain ADD COLUMN with the reference inline on SQLite: a batch (copy and drop)
    # of menu_items would fire the ON DELETE CASCADE of its inventory rows.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE menu_items ADD COLUMN photo_upload_id VARCHAR(32) "
            "REFERENCES uploads (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("menu_items", sa.Column("photo_upload_id", sa.String(32), nullable=True))
        op.create_foreign_key(
            op.f("fk_menu_items_photo_upload_id_uploads"),
            "menu_items",
            "uploads",
            ["photo_upload_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False, server_default="0"),
        sa.Column("message", sa.String(200), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(32), nullable=False, server_default=""),
        _when("created_at"),
        _when("started_at", nullable=True),
        _when("finished_at", nullable=True),
        sa.Column("last_event", sa.String(48), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.CheckConstraint(_JOB_STATUS, name=op.f("ck_jobs_status")),
    )
    op.create_index(op.f("ix_jobs_kind"), "jobs", ["kind"])
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"])
    op.create_index(op.f("ix_jobs_created_at"), "jobs", ["created_at"])
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("description", sa.String(200), nullable=False, server_default=""),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("disabled_reason", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(32), nullable=False, server_default=""),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        _when("created_at"),
        _when("updated_at"),
        _when("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            ondelete="CASCADE",
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
        ),
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries"),
        sa.CheckConstraint(_DELIVERY_STATUS, name=op.f("ck_webhook_deliveries_status")),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_endpoint_id"), "webhook_deliveries", ["endpoint_id"]
    )
    op.create_index(op.f("ix_webhook_deliveries_created_at"), "webhook_deliveries", ["created_at"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_table("jobs")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE menu_items DROP COLUMN photo_upload_id")  # SQLite >= 3.35
    else:
        op.drop_constraint(
            op.f("fk_menu_items_photo_upload_id_uploads"), "menu_items", type_="foreignkey"
        )
        op.drop_column("menu_items", "photo_upload_id")
    op.drop_table("floor_plan")
    op.drop_table("uploads")
