"""Queued callbacks and languages in a date range: how many callers were offered a callback,
how many asked for one, how many were called back and how long they waited for it, and the
calls per language. SQL aggregates on the local day keys; nothing about the caller is read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.schema.callbacks import QueuedCallback
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.stats.report import Reader
from ivr.tickets.events import EventKind

DEFAULT_LANGUAGE = "it"


@dataclass(frozen=True)
class CallbackFigures:
    offered: int = 0  # callers who heard the offer
    accepted: int = 0  # asked for it (a queued callback)
    completed: int = 0  # called back and connected with an operator
    unreachable: int = 0
    escalated: int = 0  # not done by closing: passed to the second level
    pending: int = 0
    mean_to_callback_s: float | None = None  # from the request to the conversation, completed ones
    languages: dict[str, int] = field(default_factory=dict)  # calls per language


def _figures(start: date, end: date) -> Callable[[Session], CallbackFigures]:
    def fn(session: Session) -> CallbackFigures:
        offered = session.scalar(
            select(func.count(func.distinct(TicketEvent.ticket_id)))
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(TicketEvent.kind == EventKind.CALLBACK_OFFERED, Ticket.local_day.between(start, end))
        )
        states = dict(
            session.execute(
                select(QueuedCallback.state, func.count())
                .where(QueuedCallback.local_day.between(start, end))
                .group_by(QueuedCallback.state)
            ).all()
        )
        done = session.execute(
            select(QueuedCallback.accepted_at, QueuedCallback.connected_at).where(
                QueuedCallback.local_day.between(start, end), QueuedCallback.connected_at.is_not(None)
            )
        ).all()
        waits = [(connected - accepted).total_seconds() for accepted, connected in done if connected is not None]
        # Grouped by the column and folded here: a COALESCE with its default as a bound parameter
        # in both SELECT and GROUP BY is two expressions to PostgreSQL, which refused the query.
        languages: dict[str, int] = {}
        for language, n in session.execute(
            select(Ticket.language, func.count())
            .where(Ticket.channel == "phone", Ticket.local_day.between(start, end))
            .group_by(Ticket.language)
        ).all():
            code = language or DEFAULT_LANGUAGE
            languages[code] = languages.get(code, 0) + int(n)
        return CallbackFigures(
            offered=int(offered or 0),
            accepted=sum(int(n) for n in states.values()),
            completed=int(states.get("completed", 0)),
            unreachable=int(states.get("unreachable", 0)),
            escalated=int(states.get("escalated", 0)),
            pending=int(states.get("waiting", 0)) + int(states.get("calling", 0)),
            mean_to_callback_s=round(sum(waits) / len(waits), 1) if waits else None,
            languages={str(k): int(v) for k, v in languages.items()},
        )

    return fn


async def callback_figures(read: Reader, start: date, end: date) -> CallbackFigures:
    return await read(_figures(start, end))
