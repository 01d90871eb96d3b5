"""The missed-calls work list: calls that reached nobody and left nothing to act on.

A call is missed when it ends without an operator and without a message an operator will call
back: abandoned in the queue, refused by the daily cap, nobody logged in, or the line closed;
a message with nothing said and no number is no message. Supervisors filter the list, give a
call to an operator (it then sits among the operator's callbacks on the desk, called back with
the desk's usual workflow) and mark it done. The number is caller data: shown masked on the
list, purged with the rest (ivr.privacy.kinds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ivr.phonemask import mask_number
from ivr.schema.callbacks import MissedCall
from ivr.schema.tickets import Ticket, Voicemail
from ivr.tickets.repository import Repository
from ivr.tickets.status import QueueResult, TicketStatus
from ivr.tickets.writer import Fenced, StoreUnavailable

log = logging.getLogger(__name__)

REASONS = ("abandoned", "cap", "no_operators", "closed")
_BY_QUEUE_RESULT = {
    QueueResult.ABANDONED: "abandoned",
    QueueResult.MAX_WAIT: "abandoned",
    QueueResult.CALLER_CHOICE: "abandoned",
    QueueResult.CAP: "cap",
    QueueResult.NO_OPERATORS: "no_operators",
}


class MissedError(ValueError):
    pass


@dataclass(frozen=True)
class MissedView:
    id: int
    ticket_id: int
    number: str | None
    reason: str
    at: datetime
    day: date
    assigned_to: str | None
    done_at: datetime | None
    done_by: str | None
    status: str | None = None  # the ticket's callback status (assigned, called_back...)

    @property
    def masked(self) -> str:
        return mask(self.number)


mask = mask_number  # enough to tell two calls apart, not enough to dial (ivr.phonemask)


def missed_reason(ticket: Ticket, message: Voicemail | None) -> str | None:
    """Why this ended call is a missed one, or None when it is not."""
    if message is not None and not (message.empty and message.callback_number is None):
        return None  # a message to call back on: the voicemail workflow has it
    if ticket.queue_result is not None:
        try:
            return _BY_QUEUE_RESULT.get(QueueResult(ticket.queue_result))
        except ValueError:
            return None
    if ticket.line_state not in (None, "open"):
        return "closed"
    return None


def _note(session: Session, ticket: Ticket | None) -> str | None:
    """List an ended call when it was missed (once); returns the reason, None when not listed."""
    if ticket is None or ticket.channel != "phone" or ticket.open:
        return None
    message = session.scalar(select(Voicemail).where(Voicemail.ticket_id == ticket.id))
    reason = missed_reason(ticket, message)
    exists = session.scalar(select(MissedCall.id).where(MissedCall.ticket_id == ticket.id))
    if reason is None or exists is not None:
        return None
    number = ticket.caller_number if ticket.caller_number not in (None, "", "anonymous") else None
    at = ticket.ended_at or ticket.started_at
    day = ticket.local_day or at.date()
    session.add(MissedCall(ticket_id=ticket.id, number=number, reason=reason, at=at, local_day=day))
    return reason


def _view(r: MissedCall, status: str | None = None) -> MissedView:
    return MissedView(
        r.id, r.ticket_id, r.number, r.reason, r.at, r.local_day, r.assigned_to, r.done_at, r.done_by, status
    )


class MissedCalls(Repository):
    refusals = (MissedError,)

    async def note_ended(self, ticket_id: int) -> str | None:
        """Look at a call that just ended; list it when it was missed. Returns the reason; None
        as well while the database is away: the sweep lists it once it is back."""
        try:
            return await self._write(lambda session: _note(session, session.get(Ticket, self._real(ticket_id))))
        except Fenced:  # (a StoreUnavailable too) this engine may not write any more
            raise
        except StoreUnavailable as exc:
            log.warning("ticket %s: missed-call check left to the sweep, database unavailable (%s)", ticket_id, exc)
            return None

    async def sweep(self, since: datetime, limit: int = 500) -> int:
        """List the missed calls ended since `since` that are not listed yet: a note written at a
        call's end fails while the database is away (the soak's outages lost them for good).
        Returns how many were listed."""

        def op(session: Session) -> int:
            listed = select(MissedCall.id).where(MissedCall.ticket_id == Ticket.id).exists()
            message = (
                select(Voicemail.id)
                .where(Voicemail.ticket_id == Ticket.id)
                .where(or_(~Voicemail.empty, Voicemail.callback_number.is_not(None)))
                .exists()
            )
            # Only calls the rule may list: answered calls and messages are never listed, and a
            # busy day's thousand of them filled the limit and hid the missed call behind (full run 3).
            query = (
                select(Ticket)
                .where(Ticket.channel == "phone", Ticket.ended_at >= since, ~Ticket.open, ~listed, ~message)
                .where(
                    or_(
                        Ticket.queue_result.in_([str(r) for r in _BY_QUEUE_RESULT]),
                        and_(
                            Ticket.queue_result.is_(None), Ticket.line_state.is_not(None), Ticket.line_state != "open"
                        ),
                    )
                )
                .order_by(Ticket.id)
                .limit(limit)
            )
            return sum(_note(session, ticket) is not None for ticket in session.scalars(query).all())

        return await self._write(op)

    async def listing(
        self, *, reason: str | None = None, day: date | None = None, done: bool = False, limit: int = 200
    ) -> list[MissedView]:
        def fn(session: Session) -> list[MissedView]:
            query = (
                select(MissedCall, Ticket.status)
                .join(Ticket, Ticket.id == MissedCall.ticket_id)
                .order_by(MissedCall.at.desc())
                .limit(limit)
            )
            query = query.where(MissedCall.done_at.is_not(None) if done else MissedCall.done_at.is_(None))
            if reason:
                query = query.where(MissedCall.reason == reason)
            if day:
                query = query.where(MissedCall.local_day == day)
            return [_view(r, status) for r, status in session.execute(query)]

        return await self._read(fn)

    async def counts(self) -> dict[str, int]:
        """Open missed calls by reason."""

        def fn(session: Session) -> dict[str, int]:
            rows = session.execute(
                select(MissedCall.reason, func.count()).where(MissedCall.done_at.is_(None)).group_by(MissedCall.reason)
            )
            return {reason: int(n) for reason, n in rows}

        return await self._read(fn)

    async def assign(self, missed_id: int, login: str) -> MissedView:
        """Give the call to an operator: it joins their callbacks on the desk."""

        def op(session: Session) -> MissedView:
            row = session.get(MissedCall, missed_id)
            if row is None:
                raise MissedError("chiamata persa non trovata")
            if row.done_at is not None:
                raise MissedError("chiamata persa già chiusa")
            if row.number is None:
                raise MissedError("numero nascosto o cancellato: non si può richiamare")
            ticket = session.get(Ticket, row.ticket_id)
            if ticket is None:
                raise MissedError("pratica non trovata")
            row.assigned_to = login
            ticket.assigned_to = login
            if ticket.status not in (TicketStatus.CALLED_BACK, TicketStatus.CLOSED):
                ticket.status = TicketStatus.ASSIGNED
            return _view(row)

        return await self._write(op)

    async def done(self, missed_id: int, login: str, at: datetime) -> MissedView:
        def op(session: Session) -> MissedView:
            row = session.get(MissedCall, missed_id)
            if row is None:
                raise MissedError("chiamata persa non trovata")
            if row.done_at is None:
                row.done_at, row.done_by = at, login
                ticket = session.get(Ticket, row.ticket_id)
                if ticket is not None and ticket.status == TicketStatus.ASSIGNED and ticket.level == 1:
                    ticket.status = TicketStatus.CLOSED
            return _view(row)

        return await self._write(op)

    async def for_ticket(self, ticket_id: int) -> MissedView | None:
        def fn(session: Session) -> MissedView | None:
            row = session.scalar(select(MissedCall).where(MissedCall.ticket_id == ticket_id))
            return _view(row) if row is not None else None

        return await self._read(fn)
