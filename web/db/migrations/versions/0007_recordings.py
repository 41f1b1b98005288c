"""recordings: the index of camera segments in the media store

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("robot", sa.String(64), nullable=False),
        sa.Column("camera", sa.String(32), nullable=False),
        _when("started_at"),
        _when("ended_at"),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("incident", sa.String(40), nullable=False, server_default=""),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("store", sa.String(8), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.CheckConstraint("bytes >= 0 AND frames >= 0", name=op.f("ck_recordings_sizes")),
        sa.CheckConstraint(
            "reason IN ('continuous', 'request', 'incident')", name=op.f("ck_recordings_reason")
        ),
    )
    op.create_index(op.f("ix_recordings_started_at"), "recordings", ["started_at"])
    op.create_index(op.f("ix_recordings_ended_at"), "recordings", ["ended_at"])
    op.create_index(op.f("ix_recordings_sha256"), "recordings", ["sha256"])
    op.create_index(
        "ix_recordings_robot_camera_started", "recordings", ["robot", "camera", "started_at"]
    )


def downgrade() -> None:
    op.drop_table("recordings")
