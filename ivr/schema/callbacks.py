"""Tables of the queued callbacks and of the missed-calls work list.

A queued callback is the caller's place in the queue without the caller on the line: it keeps
the time the call was admitted (`arrived_at`), so it is served after those who came earlier and
before those who came later. The row is what survives an engine restart; the distributor's
in-memory entry is rebuilt from it.

A missed call is a call that reached nobody and left no message; the supervisors work through
them. Both hold the citizen's number: caller data, purged with the rest of it (ivr.privacy.kinds).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ivr.schema.base import Base, UtcDateTime


class QueuedCallback(Base):
    __tablename__ = "queued_callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    number: Mapped[str | None] = mapped_column(String(32))  # None once purged
    source: Mapped[str] = mapped_column(String(12))  # confirmed (caller id) or typed
    topic: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime)  # admitted to the queue: the place kept
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    local_day: Mapped[date] = mapped_column(Date)  # the day it was asked for (statistics)
    # waiting, calling, completed, unreachable, escalated
    state: Mapped[str] = mapped_column(String(12), default="waiting")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    operator: Mapped[str | None] = mapped_column(String(32))  # who made the last attempt
    connected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_queued_callbacks_state", "state"), Index("ix_queued_callbacks_day", "local_day"))


class MissedCall(Base):
    __tablename__ = "missed_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    number: Mapped[str | None] = mapped_column(String(64))  # None when withheld or purged
    reason: Mapped[str] = mapped_column(String(16))  # abandoned, cap, no_operators, closed
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    local_day: Mapped[date] = mapped_column(Date)
    assigned_to: Mapped[str | None] = mapped_column(String(32))
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    done_by: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_missed_calls_day", "local_day"), Index("ix_missed_calls_done", "done_at"))
