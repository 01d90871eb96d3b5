"""knowledge base: articles, their versions, the full-text index; the article a call was answered with

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.schema.base import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Title above keywords above body: weights A, B, C of ts_rank, and bm25's column weights.
_VECTOR = (
    "setweight(to_tsvector('italian', coalesce(terms_title, '')), 'A') || "
    "setweight(to_tsvector('italian', coalesce(terms_keywords, '')), 'B') || "
    "setweight(to_tsvector('italian', coalesce(terms_body, '')), 'C')"
)


def _article_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("slug", sa.String(80), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date()),
        sa.Column("valid_to", sa.Date()),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("review_on", sa.Date()),
        sa.Column("gulpease", sa.Float()),
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
    ]


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        *_article_columns(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64)),
        sa.Column("terms_title", sa.Text(), nullable=False, server_default=""),
        sa.Column("terms_keywords", sa.Text(), nullable=False, server_default=""),
        sa.Column("terms_body", sa.Text(), nullable=False, server_default=""),
        sa.UniqueConstraint("slug", name="uq_kb_articles_slug"),
    )
    op.create_index("ix_kb_articles_topic", "kb_articles", ["topic"])
    op.create_index("ix_kb_articles_review_on", "kb_articles", ["review_on"])
    op.create_table(
        "kb_article_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.Integer(), sa.ForeignKey("kb_articles.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_article_columns(),
        sa.Column("saved_at", UtcDateTime(), nullable=False),
        sa.Column("saved_by", sa.String(64)),
        sa.UniqueConstraint("article_id", "version", name="uq_kb_article_versions"),
    )
    op.create_index("ix_kb_article_versions_article_id", "kb_article_versions", ["article_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE kb_articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({_VECTOR}) STORED")
        op.execute("CREATE INDEX ix_kb_articles_search ON kb_articles USING gin (search_vector)")
    else:
        # Rowid = article id; kept by the repository in the same transaction as the article.
        op.execute(
            "CREATE VIRTUAL TABLE kb_fts USING fts5(title, keywords, body, tokenize = 'unicode61 remove_diacritics 2')"
        )
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("kb_article_id", sa.Integer()))
    op.create_index("ix_tickets_kb_article_id", "tickets", ["kb_article_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_kb_article_id", "tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("kb_article_id")
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE kb_fts")
    op.drop_table("kb_article_versions")
    op.drop_table("kb_articles")
