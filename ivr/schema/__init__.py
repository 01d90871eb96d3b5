"""Every table of the store, owned here, low in the layers (see ARCHITECTURE.md). Importing the
package registers them all on `Base.metadata`: the migrations and the schema test need nothing else.

Some objects are the migrations' own and have no model: the knowledge base's full-text search
(SQLite's FTS5 tables, PostgreSQL's generated `search_vector` column and its index).
"""

from __future__ import annotations

from ivr.schema import callbacks, console, knowledge, presence, privacy, referrals, reviews, tickets
from ivr.schema.base import Base

__all__ = ["MIGRATION_ONLY_COLUMNS", "MIGRATION_ONLY_INDEXES", "Base", "callbacks", "console", "knowledge",
           "migration_only", "presence", "privacy", "referrals", "reviews", "tickets"]  # fmt: skip

MIGRATION_ONLY_TABLE_PREFIX = "kb_fts"  # SQLite's FTS5 table and its shadow tables
MIGRATION_ONLY_COLUMNS = frozenset({("kb_articles", "search_vector")})  # PostgreSQL's tsvector
MIGRATION_ONLY_INDEXES = frozenset({"ix_kb_articles_search"})


def migration_only(name: str | None, type_: str, table: str | None = None) -> bool:
    """Is this database object one the migrations made without a model (autogenerate must
    neither drop it nor report it)?"""
    if name is None:
        return False
    if type_ == "table":
        return name.startswith(MIGRATION_ONLY_TABLE_PREFIX)
    if type_ == "column":
        return (table, name) in MIGRATION_ONLY_COLUMNS
    if type_ == "index":
        return name in MIGRATION_ONLY_INDEXES
    return False
