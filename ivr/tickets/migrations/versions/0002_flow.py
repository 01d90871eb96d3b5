"""call flow: topic, line state, consent evidence; run-time closures

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("topic", sa.String(32)))
        batch.add_column(sa.Column("line_state", sa.String(16)))
        batch.add_column(sa.Column("closure_id", sa.String(64)))
        batch.add_column(sa.Column("campaign", sa.String(64)))
        batch.add_column(sa.Column("consent", sa.String(12)))
        batch.add_column(sa.Column("consent_at", UtcDateTime()))
        batch.add_column(sa.Column("consent_prompt", sa.String(128)))
    op.create_table(
        "closures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime()),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64)),
    )
    op.create_index("ix_closures_span", "closures", ["starts_at", "ends_at"])


def downgrade() -> None:
    op.drop_table("closures")
    with op.batch_alter_table("tickets") as batch:
        for column in ("consent_prompt", "consent_at", "consent", "campaign", "closure_id", "line_state", "topic"):
            batch.drop_column(column)
