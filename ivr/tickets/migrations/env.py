"""Alembic environment: the engine is handed over by `ivr.tickets.db`, never read from an ini file,
so the database password stays out of files and logs. The tables are the schema package's, all of
them (`ivr.schema`)."""

from __future__ import annotations

from typing import Any

from alembic import context

from ivr.schema import Base, migration_only

config = context.config
engine = config.attributes["engine"]


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = getattr(getattr(obj, "table", None), "name", None)
    return not migration_only(name, type_, table)


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
