"""service notices: a supervisor's notice said after the welcome until a set time

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_notices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("ended_by", sa.String(64)),
    )
    op.create_index("ix_service_notices_span", "service_notices", ["starts_at", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_service_notices_span", "service_notices")
    op.drop_table("service_notices")
