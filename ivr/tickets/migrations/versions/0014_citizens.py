"""citizens: queued callbacks that keep the caller's place, the missed-calls work list, the call's language

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queued_callbacks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.String(32)),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("topic", sa.String(32)),
        sa.Column("language", sa.String(8)),
        sa.Column("arrived_at", UtcDateTime(), nullable=False),
        sa.Column("accepted_at", UtcDateTime(), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime()),
        sa.Column("operator", sa.String(32)),
        sa.Column("connected_at", UtcDateTime()),
        sa.Column("ended_at", UtcDateTime()),
        sa.UniqueConstraint("ticket_id"),
    )
    op.create_index("ix_queued_callbacks_state", "queued_callbacks", ["state"])
    op.create_index("ix_queued_callbacks_day", "queued_callbacks", ["local_day"])
    op.create_table(
        "missed_calls",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.String(64)),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("assigned_to", sa.String(32)),
        sa.Column("done_at", UtcDateTime()),
        sa.Column("done_by", sa.String(32)),
        sa.UniqueConstraint("ticket_id"),
    )
    op.create_index("ix_missed_calls_day", "missed_calls", ["local_day"])
    op.create_index("ix_missed_calls_done", "missed_calls", ["done_at"])
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("language", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("language")
    op.drop_table("missed_calls")
    op.drop_table("queued_callbacks")
