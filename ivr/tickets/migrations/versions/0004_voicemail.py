"""voicemail: messages, callback attempts, web copies of recordings, callback assignee

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("assigned_to", sa.String(32)))
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("web_path", sa.String(512)))
    op.create_table(
        "voicemails",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, unique=True
        ),
        sa.Column("box", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("asterisk_name", sa.String(96), nullable=False),
        sa.Column("recording_id", sa.Integer(), sa.ForeignKey("recordings.id")),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("speech_s", sa.Float(), nullable=False),
        sa.Column("empty", sa.Boolean(), nullable=False),
        sa.Column("ended_by", sa.String(16)),
        sa.Column("callback_number", sa.String(32)),
        sa.Column("callback_source", sa.String(24), nullable=False),
        sa.Column("transcript_status", sa.String(12), nullable=False),
        sa.Column("transcript", sa.Text()),
        sa.Column("transcript_words", sa.JSON()),
        sa.Column("transcript_error", sa.Text()),
        sa.Column("transcript_attempts", sa.Integer(), nullable=False),
        sa.Column("transcribed_at", UtcDateTime()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_voicemails_box", "voicemails", ["box"])
    op.create_index("ix_voicemails_transcript_status", "voicemails", ["transcript_status"])
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("operator", sa.String(32)),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_callback_attempts_ticket_id", "callback_attempts", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("callback_attempts")
    op.drop_table("voicemails")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("web_path")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("assigned_to")
