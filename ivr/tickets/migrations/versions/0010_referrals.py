"""referrals: the directory of offices the line refers citizens to, and the referrals made

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referral_offices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region", sa.String(64)),
        sa.Column("province", sa.String(2)),
        sa.Column("address", sa.String(300)),
        sa.Column("hours", sa.Text()),
        sa.Column("phone", sa.String(64)),
        sa.Column("email", sa.String(254)),
        sa.Column("web", sa.String(300)),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_referral_offices_province", "referral_offices", ["province"])
    op.create_index("ix_referral_offices_region", "referral_offices", ["region"])
    op.create_table(
        "referral_office_comuni",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("office_id", sa.Integer(), sa.ForeignKey("referral_offices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
    )
    op.create_index("ix_referral_office_comuni_office_id", "referral_office_comuni", ["office_id"])
    op.create_index("ix_referral_office_comuni_key", "referral_office_comuni", ["key"])
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("office_id", sa.Integer(), sa.ForeignKey("referral_offices.id", ondelete="SET NULL")),
        sa.Column("office_kind", sa.String(24), nullable=False),
        sa.Column("office_code", sa.String(32), nullable=False),
        sa.Column("office_name", sa.String(200), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("operators.id")),
        sa.Column("by_login", sa.String(64)),
        sa.Column("note", sa.Text()),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("emailed_to", sa.String(254)),
        sa.Column("emailed_at", UtcDateTime()),
    )
    op.create_index("ix_referrals_ticket_id", "referrals", ["ticket_id"])
    op.create_index("ix_referrals_at", "referrals", ["at"])
    op.create_index("ix_referrals_office_code", "referrals", ["office_code"])


def downgrade() -> None:
    op.drop_table("referrals")
    op.drop_table("referral_office_comuni")
    op.drop_table("referral_offices")
