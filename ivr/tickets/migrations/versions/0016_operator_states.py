"""operator states: every change of an operator's state, for the time report per operator and day

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_states",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("login", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_operator_states_login_at", "operator_states", ["login", "at"])
    op.create_index("ix_operator_states_at", "operator_states", ["at"])


def downgrade() -> None:
    op.drop_index("ix_operator_states_at", "operator_states")
    op.drop_index("ix_operator_states_login_at", "operator_states")
    op.drop_table("operator_states")
