"""Quality reviews: a supervisor's score of one consented call recording, per the review form
(`reviews.criteria`). One review per recording and reviewer; it goes with the recording when the
retention purge removes it (the operator's personal data, like the recording itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ivr.schema.base import Base, UtcDateTime


class QualityReview(Base):
    __tablename__ = "quality_reviews"
    __table_args__ = (
        UniqueConstraint("recording_id", "reviewer", name="uq_quality_reviews_recording_reviewer"),
        Index("ix_quality_reviews_operator_at", "operator_id", "reviewed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))  # whose call it was
    reviewer: Mapped[str] = mapped_column(String(64))  # the console login of the supervisor
    # The form as it was scored: [{"key", "label", "weight", "score"}], so a later change of the
    # form leaves past reviews as they were given.
    scores: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)  # weighted, 0-100
    comment: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime] = mapped_column(UtcDateTime)
