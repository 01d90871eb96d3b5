"""The schema package owns every table, and the migrations make exactly those tables: autogenerate
over a database upgraded to head finds nothing to do, on SQLite and on PostgreSQL. (Before the
package, the migrations' environment imported the models feature by feature and missed some:
autogenerate would have proposed dropping the privacy tables.)"""

from __future__ import annotations

import ast
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ivr.schema import Base, migration_only
from ivr.tickets.db import make_engine, upgrade


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    table = getattr(getattr(obj, "table", None), "name", None)
    return not migration_only(name, type_, table)


def test_the_migrations_make_exactly_the_tables_of_the_schema_package(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": _include})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_the_schema_package_alone_registers_every_table() -> None:
    """In a fresh interpreter: no feature module needs importing first."""
    code = "import ivr.schema as s; print(sorted(s.Base.metadata.tables))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    tables = set(ast.literal_eval(out))  # a printed list of names
    assert {"tickets", "queued_callbacks", "missed_calls", "console_users", "kb_articles", "referrals"} <= tables
    assert {"legal_holds", "purge_runs"} <= tables  # the privacy tables env.py used to miss
