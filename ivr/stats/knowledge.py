"""First-level resolution per topic: of the calls an operator answered, how many were answered
at the first level (resolved, or referred to the office whose answer it is), and how many of
those with a knowledge-base article.

One aggregate over `tickets` grouped by topic, on the local-day key written with each ticket,
the same on SQLite and PostgreSQL (the charter's first level: "risposta immediata ... quando la
risposta è presente nella base di conoscenza").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ivr.schema.tickets import Channel, Ticket
from ivr.tickets.status import FIRST_LEVEL_ANSWERS

T = TypeVar("T")
Reader = Callable[[Callable[[Session], T]], Awaitable[T]]


@dataclass(frozen=True)
class FirstLevel:
    topic: str | None  # None: calls that chose no topic
    answered: int
    first_level: int
    with_article: int
    total: bool = False

    @property
    def rate(self) -> float | None:
        return None if not self.answered else self.first_level / self.answered

    @property
    def article_share(self) -> float | None:
        return None if not self.first_level else self.with_article / self.first_level


def first_level_by_topic(session: Session, start: date, end: date) -> list[FirstLevel]:
    """Rows per topic (by name), then the total; phone calls whose local day is in [start, end]."""
    answered = Ticket.operator_answered_at.is_not(None)
    first = and_(answered, Ticket.level == 1, Ticket.status.in_(sorted(FIRST_LEVEL_ANSWERS)))
    q = (
        select(
            Ticket.topic,
            func.count().filter(answered),
            func.count().filter(first),
            func.count().filter(and_(first, Ticket.kb_article_id.is_not(None))),
        )
        .where(Ticket.channel == Channel.PHONE, Ticket.local_day >= start, Ticket.local_day <= end)
        .group_by(Ticket.topic)
    )
    rows = [FirstLevel(t, int(a), int(f), int(k)) for t, a, f, k in session.execute(q) if a]
    rows.sort(key=lambda r: r.topic or "")
    total = FirstLevel(
        None,
        sum(r.answered for r in rows),
        sum(r.first_level for r in rows),
        sum(r.with_article for r in rows),
        total=True,
    )
    return [*rows, total]


async def first_level(read: Reader[list[FirstLevel]], start: date, end: date) -> list[FirstLevel]:
    return await read(lambda session: first_level_by_topic(session, start, end))
