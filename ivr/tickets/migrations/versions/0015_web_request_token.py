"""web request token: the form's one-time token kept with the request, unique

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("web_requests") as batch:
        batch.add_column(sa.Column("form_token", sa.String(64)))
        batch.create_unique_constraint("uq_web_requests_form_token", ["form_token"])


def downgrade() -> None:
    with op.batch_alter_table("web_requests") as batch:
        batch.drop_constraint("uq_web_requests_form_token", type_="unique")
        batch.drop_column("form_token")
