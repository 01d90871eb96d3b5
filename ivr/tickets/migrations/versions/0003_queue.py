"""operator queue: operators, daily admissions, recordings; queue and handling columns on tickets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("login", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("sip_md5", sa.String(32)),
        sa.Column("outside_number", sa.String(32)),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("presence", sa.String(16), nullable=False),
        sa.Column("pause_reason", sa.String(64)),
        sa.Column("presence_at", UtcDateTime()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "daily_admissions",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("admitted", sa.Integer(), nullable=False),
    )
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_recordings_ticket_id", "recordings", ["ticket_id"])
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("queue_result", sa.String(16)))
        batch.add_column(sa.Column("queued_at", UtcDateTime()))
        batch.add_column(sa.Column("operator_id", sa.Integer()))
        batch.add_column(sa.Column("operator_answered_at", UtcDateTime()))
        batch.add_column(sa.Column("operator_ended_at", UtcDateTime()))
        batch.add_column(sa.Column("level", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("status", sa.String(16)))
        batch.add_column(sa.Column("resolution_note", sa.Text()))
        batch.add_column(sa.Column("callback_due", UtcDateTime()))
        batch.create_foreign_key("fk_tickets_operator_id", "operators", ["operator_id"], ["id"])
        batch.create_index("ix_tickets_caller_number", ["caller_number"])
        batch.create_index("ix_tickets_operator_id", ["operator_id"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_operator_id")
        batch.drop_index("ix_tickets_caller_number")
        batch.drop_constraint("fk_tickets_operator_id", type_="foreignkey")
        for column in (
            "callback_due",
            "resolution_note",
            "status",
            "level",
            "operator_ended_at",
            "operator_answered_at",
            "operator_id",
            "queued_at",
            "queue_result",
        ):
            batch.drop_column(column)
    op.drop_table("recordings")
    op.drop_table("daily_admissions")
    op.drop_table("operators")
