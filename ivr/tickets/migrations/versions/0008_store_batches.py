"""store batches: the token of each committed write batch, so an outbox replay applies it once

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_batches",
        sa.Column("token", sa.String(32), primary_key=True),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_store_batches_at", "store_batches", ["at"])


def downgrade() -> None:
    op.drop_table("store_batches")
