"""Quality reviews on the ticket store: what can be reviewed, a review kept (one per recording and
reviewer, given again it replaces the reviewer's own), each operator's reviews, the report per
operator over a period."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.reviews.config import ReviewSettings
from ivr.reviews.scoring import ReviewError, marks, score
from ivr.schema.reviews import QualityReview
from ivr.schema.tickets import Operator, Recording, Ticket
from ivr.tickets.repository import Database, Repository


@dataclass(frozen=True)
class Reviewable:
    recording_id: int
    ticket_id: int
    operator: str | None  # login
    recorded_at: datetime
    duration_s: float
    reviews: int
    mine: bool  # reviewed by the one asking


@dataclass(frozen=True)
class Review:
    id: int
    recording_id: int
    ticket_id: int
    operator: str | None
    reviewer: str
    scores: list[dict[str, Any]]
    score: float
    comment: str | None
    reviewed_at: datetime


@dataclass(frozen=True)
class OperatorResult:
    operator: str
    reviews: int
    score: float  # mean of the reviews' scores
    by_criterion: dict[str, float]  # label -> mean mark


def _review(r: QualityReview, login: str | None) -> Review:
    return Review(r.id, r.recording_id, r.ticket_id, login, r.reviewer, list(r.scores), r.score, r.comment,
                  r.reviewed_at)  # fmt: skip


class QualityReviews(Repository):
    refusals: ClassVar[tuple[type[Exception], ...]] = (ReviewError,)

    def __init__(self, db: Database, settings: ReviewSettings) -> None:
        super().__init__(db)
        self.settings = settings

    async def reviewable(self, asking: str, *, limit: int = 100, operator: str | None = None) -> list[Reviewable]:
        """Call recordings, the newest first, with how many reviews each has and whether `asking`
        gave one (recordings exist only of calls whose caller consented)."""

        def fn(session: Session) -> list[Reviewable]:
            counts = (
                select(QualityReview.recording_id, func.count().label("n"))
                .group_by(QualityReview.recording_id)
                .subquery()
            )
            mine = select(QualityReview.recording_id).where(QualityReview.reviewer == asking)
            query = (
                select(Recording, Ticket.id, Operator.login, func.coalesce(counts.c.n, 0), Recording.id.in_(mine))
                .join(Ticket, Ticket.id == Recording.ticket_id)
                .outerjoin(Operator, Operator.id == Ticket.operator_id)
                .outerjoin(counts, counts.c.recording_id == Recording.id)
                .where(Recording.kind == "call", Ticket.consent == "accepted")
                .order_by(Recording.created_at.desc())
                .limit(limit)
            )
            if operator is not None:
                query = query.where(Operator.login == operator)
            return [
                Reviewable(rec.id, tid, login, rec.created_at, rec.duration_s, int(n), bool(own))
                for rec, tid, login, n, own in session.execute(query)
            ]

        return await self._read(fn)

    async def recording(self, recording_id: int) -> tuple[Ticket, Recording, str | None] | None:
        """The consented call recording to review, its ticket and operator's login; None if there
        is no such recording (or it is a message, or of a call without consent)."""

        def fn(session: Session) -> tuple[Ticket, Recording, str | None] | None:
            return _reviewable(session, recording_id)

        return await self._read(fn)

    async def save(
        self, recording_id: int, reviewer: str, given: Mapping[str, Any], comment: str | None, at: datetime
    ) -> Review:
        """Keep `reviewer`'s review of the recording (replacing their earlier one)."""
        scored = marks(self.settings.criteria, given, self.settings.scale)
        value = score(scored, self.settings.scale)

        def op(session: Session) -> Review:
            found = _reviewable(session, recording_id)
            if found is None:
                raise ReviewError("nessuna registrazione di una chiamata con consenso con questo numero")
            ticket, _rec, login = found
            row = session.scalars(
                select(QualityReview).where(
                    QualityReview.recording_id == recording_id, QualityReview.reviewer == reviewer
                )
            ).first()
            if row is None:
                row = QualityReview(recording_id=recording_id, reviewer=reviewer)
                session.add(row)
            row.ticket_id, row.operator_id = ticket.id, ticket.operator_id
            row.scores, row.score, row.comment, row.reviewed_at = scored, value, comment, at
            session.flush()
            return _review(row, login)

        return await self._write(op)

    async def of_recording(self, recording_id: int) -> list[Review]:
        return await self._read(lambda s: _reviews(s, QualityReview.recording_id == recording_id))

    async def of_operator(self, login: str, limit: int = 100) -> list[Review]:
        """An operator's own reviews, the newest first: theirs to read."""
        return await self._read(lambda s: _reviews(s, Operator.login == login, limit=limit))

    async def report(self, first: date, last: date, tz: ZoneInfo) -> list[OperatorResult]:
        """Per operator, the reviews given on the local days `first`..`last`."""
        start = datetime.combine(first, time(), tz)
        end = datetime.combine(last + timedelta(days=1), time(), tz)

        def fn(session: Session) -> list[OperatorResult]:
            cut = (QualityReview.reviewed_at >= start) & (QualityReview.reviewed_at < end)
            found = _reviews(session, cut, limit=None)
            by: dict[str, list[Review]] = defaultdict(list)
            for r in found:
                by[r.operator or "—"].append(r)
            results = []
            for login, reviews in sorted(by.items()):
                marks_of: dict[str, list[int]] = defaultdict(list)
                for r in reviews:
                    for s in r.scores:
                        marks_of[str(s["label"])].append(int(s["score"]))
                mean = round(sum(r.score for r in reviews) / len(reviews), 1)
                crit = {label: round(sum(v) / len(v), 2) for label, v in marks_of.items()}
                results.append(OperatorResult(login, len(reviews), mean, crit))
            return results

        return await self._read(fn)


def _reviewable(session: Session, recording_id: int) -> tuple[Ticket, Recording, str | None] | None:
    rec = session.get(Recording, recording_id)
    if rec is None or rec.kind != "call":
        return None
    ticket = session.get(Ticket, rec.ticket_id)
    if ticket is None or ticket.consent != "accepted":
        return None
    login = session.scalar(select(Operator.login).where(Operator.id == ticket.operator_id))
    return ticket, rec, login


def _reviews(session: Session, where: Any, *, limit: int | None = 100) -> list[Review]:
    query = (
        select(QualityReview, Operator.login)
        .outerjoin(Operator, Operator.id == QualityReview.operator_id)
        .where(where)
        .order_by(QualityReview.reviewed_at.desc(), QualityReview.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [_review(r, login) for r, login in session.execute(query)]
