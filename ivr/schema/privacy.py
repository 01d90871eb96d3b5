"""Tables of the retention policy: legal holds, the purge log, files still to delete, and the
anonymous survey counts that outlive the answers.

A hold is its own table rather than columns on `tickets`, so holds keep their history (who put
and lifted each one, and why) and the ticket's own shape, read column by column elsewhere,
stays as it is.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.schema.base import Base, UtcDateTime


class LegalHold(Base):
    """A ticket kept out of every purge (litigation, a data-subject request, an inquiry) until
    released. Active while `released_at` is null; at most one active hold per ticket."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(500))
    held_by: Mapped[str] = mapped_column(String(64))
    held_at: Mapped[datetime] = mapped_column(UtcDateTime)
    released_by: Mapped[str | None] = mapped_column(String(64))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_legal_holds_ticket", "ticket_id", "released_at"),)


class PurgeRun(Base):
    """One purge: when, why (job or command), and how many items of each kind went. Counts and
    cut-off dates only: the log of a privacy purge must not itself keep personal data."""

    __tablename__ = "purge_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    trigger: Mapped[str] = mapped_column(String(16))  # job, command
    by: Mapped[str | None] = mapped_column(String(64))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)  # kind -> items purged
    cutoffs: Mapped[dict[str, Any]] = mapped_column(JSON)  # kind -> ISO time; older went
    files_deleted: Mapped[int] = mapped_column(default=0)
    files_failed: Mapped[int] = mapped_column(default=0)


class PurgeFile(Base):
    """A file whose row was already cleared: written in the same transaction, deleted after the
    commit, and kept here until the deletion succeeds (a failure is retried by the next run)."""

    __tablename__ = "purge_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("purge_runs.id"))
    kind: Mapped[str] = mapped_column(String(24))
    path: Mapped[str] = mapped_column(String(512))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_try_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SurveyCount(Base):
    """How many times an answer was given, per local day, topic, operator and question: what is
    left of survey answers past their retention, enough for every statistic and for no person."""

    __tablename__ = "survey_answer_counts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    local_day: Mapped[date | None] = mapped_column(Date)
    topic: Mapped[str | None] = mapped_column(String(32))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    question: Mapped[str] = mapped_column(String(32))
    answer: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_survey_answer_counts_day", "local_day"),)
