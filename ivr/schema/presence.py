"""Operator time: every change of an operator's state, as the distributor made it.

The charter's supervisors answer for how the line's hours are spent; the report per operator and
day (`ivr.stats.operator_time`) is read from these rows and the tickets' timelines. Personal data
of the operator (art. 4 L. 300/1970: kept for the stated purpose only), purged with the rest
(`privacy.operator_history_days`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ivr.schema.base import Base, UtcDateTime


class OperatorStateChange(Base):
    __tablename__ = "operator_states"
    __table_args__ = (Index("ix_operator_states_login_at", "login", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(32))
    # logged_out, available, offered (ringing), busy (talking), wrap_up, paused
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))  # a pause's reason
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
