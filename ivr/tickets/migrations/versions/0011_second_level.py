"""second level: the citizen's contact for the answer, and the first-level commitment kept on escalation

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("escalated_at", UtcDateTime()))
        batch.add_column(sa.Column("first_due", UtcDateTime()))
        batch.add_column(sa.Column("first_met_at", UtcDateTime()))
        batch.add_column(sa.Column("contact_name", sa.String(128)))
        batch.add_column(sa.Column("contact_email", sa.String(254)))
        batch.add_column(sa.Column("contact_phone", sa.String(32)))
        batch.add_column(sa.Column("answer_by", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for name in ("answer_by", "contact_phone", "contact_email", "contact_name", "first_met_at", "first_due"):
            batch.drop_column(name)
        batch.drop_column("escalated_at")
