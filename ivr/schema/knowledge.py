"""The knowledge base's tables: the current articles and every version ever saved.

The article row also keeps its text as index terms (`ivr.knowledge.analysis`), so the SQLite
FTS5 table and PostgreSQL's generated tsvector are built from exactly what queries are turned
into. Articles are archived, never deleted: a ticket may name the one it was answered with.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ivr.schema.base import Base, UtcDateTime


class KbArticle(Base):
    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)  # the file name in imports and exports
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(32))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{label, url}]
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    author: Mapped[str] = mapped_column(String(128))
    review_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(default=1)
    gulpease: Mapped[float | None] = mapped_column(Float)
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    terms_title: Mapped[str] = mapped_column(Text, default="")
    terms_keywords: Mapped[str] = mapped_column(Text, default="")
    terms_body: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_kb_articles_topic", "topic"), Index("ix_kb_articles_review_on", "review_on"))


class KbArticleVersion(Base):
    """One saved version of an article, the current one included, as it was saved."""

    __tablename__ = "kb_article_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id"), index=True)
    version: Mapped[int] = mapped_column()
    slug: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(32))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    author: Mapped[str] = mapped_column(String(128))
    review_on: Mapped[date | None] = mapped_column(Date)
    gulpease: Mapped[float | None] = mapped_column(Float)
    archived: Mapped[bool] = mapped_column(default=False)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    saved_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("article_id", "version", name="uq_kb_article_versions"),)
