"""engine lease: one active engine per line, with a fencing token

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(200)),
        sa.Column("since", UtcDateTime()),
        sa.Column("expires_at", UtcDateTime()),
    )


def downgrade() -> None:
    op.drop_table("engine_leases")
