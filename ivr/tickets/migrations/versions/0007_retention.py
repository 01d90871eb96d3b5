"""retention: legal holds, purge log, files pending deletion, anonymous survey counts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("held_by", sa.String(64), nullable=False),
        sa.Column("held_at", UtcDateTime(), nullable=False),
        sa.Column("released_by", sa.String(64)),
        sa.Column("released_at", UtcDateTime()),
    )
    op.create_index("ix_legal_holds_ticket", "legal_holds", ["ticket_id", "released_at"])
    op.create_table(
        "purge_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime()),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("by", sa.String(64)),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("cutoffs", sa.JSON(), nullable=False),
        sa.Column("files_deleted", sa.Integer(), nullable=False),
        sa.Column("files_failed", sa.Integer(), nullable=False),
    )
    op.create_table(
        "purge_files",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("purge_runs.id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_try_at", UtcDateTime()),
    )
    op.create_table(
        "survey_answer_counts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("local_day", sa.Date()),
        sa.Column("topic", sa.String(32)),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("operators.id")),
        sa.Column("question", sa.String(32), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_survey_answer_counts_day", "survey_answer_counts", ["local_day"])


def downgrade() -> None:
    op.drop_index("ix_survey_answer_counts_day", "survey_answer_counts")
    op.drop_table("survey_answer_counts")
    op.drop_table("purge_files")
    op.drop_table("purge_runs")
    op.drop_index("ix_legal_holds_ticket", "legal_holds")
    op.drop_table("legal_holds")
