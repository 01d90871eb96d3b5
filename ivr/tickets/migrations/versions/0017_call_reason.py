"""call reason: why the citizen called, chosen by the operator from `reasons.options`

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("call_reason", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("call_reason")
