"""service commitments, survey and web requests: calendar keys and durations for statistics

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime
from ivr.tickets.periods import local_keys

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("local_day", sa.Date()))
        batch.add_column(sa.Column("local_week", sa.Date()))
        batch.add_column(sa.Column("local_month", sa.Date()))
        batch.add_column(sa.Column("wait_s", sa.Float()))
        batch.add_column(sa.Column("handle_s", sa.Float()))
        batch.add_column(sa.Column("survey_status", sa.String(16)))
        batch.add_column(sa.Column("sla_kind", sa.String(16)))
        batch.add_column(sa.Column("sla_met_at", UtcDateTime()))
        batch.add_column(sa.Column("sla_flag", sa.String(8)))
    op.create_index("ix_tickets_local_day", "tickets", ["local_day"])
    op.create_index("ix_tickets_sla", "tickets", ["sla_kind", "callback_due"])
    _backfill()
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("operators.id")),
        sa.Column("question", sa.String(32), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_survey_answers_ticket_id", "survey_answers", ["ticket_id"])
    op.create_index("ix_survey_answers_operator_id", "survey_answers", ["operator_id"])
    op.create_table(
        "web_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, unique=True
        ),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("phone", sa.String(32)),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("reply", sa.Text()),
        sa.Column("replied_at", UtcDateTime()),
        sa.Column("replied_by", sa.String(32)),
    )


def _backfill() -> None:
    """Tickets written before this revision get their calendar keys, durations and commitment."""
    tickets = sa.table(
        "tickets",
        sa.column("id", sa.Integer()),
        sa.column("started_at", UtcDateTime()),
        sa.column("queued_at", UtcDateTime()),
        sa.column("operator_answered_at", UtcDateTime()),
        sa.column("operator_ended_at", UtcDateTime()),
        sa.column("level", sa.Integer()),
        sa.column("callback_due", UtcDateTime()),
        sa.column("local_day", sa.Date()),
        sa.column("local_week", sa.Date()),
        sa.column("local_month", sa.Date()),
        sa.column("wait_s", sa.Float()),
        sa.column("handle_s", sa.Float()),
        sa.column("sla_kind", sa.String(16)),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            tickets.c.id,
            tickets.c.started_at,
            tickets.c.queued_at,
            tickets.c.operator_answered_at,
            tickets.c.operator_ended_at,
            tickets.c.callback_due,
        )
    ).all()
    for row in rows:
        values: dict[str, object] = dict(local_keys(row.started_at))
        if row.queued_at is not None and row.operator_answered_at is not None:
            values["wait_s"] = (row.operator_answered_at - row.queued_at).total_seconds()
        if row.operator_answered_at is not None and row.operator_ended_at is not None:
            values["handle_s"] = (row.operator_ended_at - row.operator_answered_at).total_seconds()
        if row.callback_due is not None:
            values["sla_kind"] = "phone_callback"
        conn.execute(sa.update(tickets).where(tickets.c.id == row.id).values(**values))


def downgrade() -> None:
    op.drop_table("web_requests")
    op.drop_table("survey_answers")
    op.drop_index("ix_tickets_sla", "tickets")
    op.drop_index("ix_tickets_local_day", "tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in (
            "sla_flag", "sla_met_at", "sla_kind", "survey_status", "handle_s", "wait_s",
            "local_month", "local_week", "local_day",
        ):  # fmt: skip
            batch.drop_column(column)
