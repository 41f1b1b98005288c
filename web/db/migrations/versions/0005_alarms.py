"""alarms derived from rd:events, their history, and run-time settings

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("active_key", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("latched", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("robot", sa.String(64), nullable=False, server_default=""),
        sa.Column("order_id", sa.String(48), nullable=False, server_default=""),
        sa.Column("detail", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("count", sa.Integer(), nullable=False, server_default="1"),
        _when("raised_at"),
        _when("last_at"),
        _when("cleared_at", nullable=True),
        _when("acked_at", nullable=True),
        sa.Column("acked_by", sa.String(32), nullable=False, server_default=""),
        sa.Column("ack_note", sa.String(500), nullable=False, server_default=""),
        _when("escalated_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
        sa.UniqueConstraint("active_key", name=op.f("uq_alarms_active_key")),
        sa.CheckConstraint(
            "severity IN ('critical', 'major', 'minor')", name=op.f("ck_alarms_severity")
        ),
    )
    op.create_index(op.f("ix_alarms_key"), "alarms", ["key"])
    op.create_index(op.f("ix_alarms_robot"), "alarms", ["robot"])
    op.create_index("ix_alarms_raised_at", "alarms", ["raised_at"])
    op.create_table(
        "alarm_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("eid", sa.String(64), nullable=True),
        sa.Column("stream_id", sa.String(48), nullable=False, server_default=""),
        sa.Column("by", sa.String(64), nullable=False, server_default=""),
        sa.Column("detail", sa.Text(), nullable=False, server_default="{}"),
        _when("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_events")),
        sa.ForeignKeyConstraint(
            ["alarm_id"],
            ["alarms.id"],
            ondelete="CASCADE",
            name=op.f("fk_alarm_events_alarm_id_alarms"),
        ),
        sa.UniqueConstraint("eid", "alarm_id", name="uq_alarm_events_eid"),
    )
    op.create_index(op.f("ix_alarm_events_alarm_id"), "alarm_events", ["alarm_id"])
    op.create_index(op.f("ix_alarm_events_eid"), "alarm_events", ["eid"])
    op.create_table(
        "runtime_settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(32), nullable=False, server_default=""),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_runtime_settings")),
    )


def downgrade() -> None:
    op.drop_table("runtime_settings")
    op.drop_table("alarm_events")
    op.drop_table("alarms")
