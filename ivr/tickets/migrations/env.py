"""Alembic environment: the engine is handed over by `ivr.tickets.db`, never read from an ini file,
so the database password stays out of files and logs."""

from __future__ import annotations

from alembic import context

import ivr.acd.callback_models  # queued callbacks and missed calls
import ivr.console.models  # the console's tables join the metadata
import ivr.knowledge.models  # so do the knowledge base's
import ivr.referrals.models  # noqa: F401  (and the referral directory's)
from ivr.tickets.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
