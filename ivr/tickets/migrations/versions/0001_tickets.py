"""tickets and their event timeline

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("call_uid", sa.String(64), nullable=True, unique=True),
        sa.Column("did", sa.String(32)),
        sa.Column("caller_number", sa.String(64)),
        sa.Column("caller_name", sa.String(128)),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("answered_at", UtcDateTime()),
        sa.Column("ended_at", UtcDateTime()),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("last_state", sa.String(32)),
        sa.Column("outcome", sa.String(24)),
        sa.Column("end_reason", sa.String(64)),
        sa.Column("destination", sa.String(64)),
    )
    op.create_index("ix_tickets_started_at", "tickets", ["started_at"])
    op.create_index("ix_tickets_open", "tickets", ["open"])
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("detail", sa.JSON()),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("ticket_events")
    op.drop_table("tickets")
