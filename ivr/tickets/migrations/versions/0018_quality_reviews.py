"""quality reviews: a supervisor's score of a consented call recording

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recording_id", sa.Integer(), sa.ForeignKey("recordings.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("operators.id")),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("reviewed_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("recording_id", "reviewer", name="uq_quality_reviews_recording_reviewer"),
    )
    op.create_index("ix_quality_reviews_ticket_id", "quality_reviews", ["ticket_id"])
    op.create_index("ix_quality_reviews_operator_at", "quality_reviews", ["operator_id", "reviewed_at"])


def downgrade() -> None:
    op.drop_index("ix_quality_reviews_operator_at", "quality_reviews")
    op.drop_index("ix_quality_reviews_ticket_id", "quality_reviews")
    op.drop_table("quality_reviews")
