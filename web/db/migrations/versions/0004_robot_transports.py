"""robots added through the API carry a transport and a VDA 5050 identity

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A batch (copy and swap on SQLite): no table refers to robots, so nothing cascades.
    with op.batch_alter_table("robots") as b:
        b.add_column(sa.Column("transport", sa.String(8), nullable=False, server_default="tcp"))
        b.add_column(sa.Column("vda_manufacturer", sa.String(100), nullable=True))
        b.add_column(sa.Column("vda_serial", sa.String(100), nullable=True))
        b.add_column(sa.Column("vda_version", sa.String(16), nullable=True))
        b.create_check_constraint(
            op.f("ck_robots_transport"), "transport IN ('tcp', 'mqtt', 'vda5050')"
        )
        b.create_check_constraint(
            op.f("ck_robots_vda"),
            "(transport = 'vda5050') = (vda_manufacturer IS NOT NULL AND vda_serial IS NOT NULL)",
        )
        b.create_unique_constraint("uq_robots_vda", ["vda_manufacturer", "vda_serial"])


def downgrade() -> None:
    with op.batch_alter_table("robots") as b:
        b.drop_constraint("uq_robots_vda", type_="unique")
        b.drop_constraint(op.f("ck_robots_vda"), type_="check")
        b.drop_constraint(op.f("ck_robots_transport"), type_="check")
        b.drop_column("vda_version")
        b.drop_column("vda_serial")
        b.drop_column("vda_manufacturer")
        b.drop_column("transport")
