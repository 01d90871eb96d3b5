"""What the console's pages read from the store, beyond what the feature packages offer: named
queries of `TicketQueries`, a repository on the ticket store's reader pool (ivr.tickets.repository).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ivr.schema.tickets import Recording, Ticket, TicketEvent, Voicemail
from ivr.tickets.events import EventKind
from ivr.tickets.repository import Repository
from ivr.tickets.store import TicketView

CALLBACK_OPEN = ("new", "assigned", "called_back")


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    sla: str | None = None  # near, overdue, met, open
    kind: str | None = None  # phone_callback, web_reply, web_second
    channel: str | None = None
    level: int | None = None
    assigned: str | None = None
    caller: str | None = None
    operator_id: int | None = None
    day: date | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class CallbackItem:
    ticket: TicketView
    number: str | None
    message_id: int | None


class TicketQueries(Repository):
    """The console's ticket reads; read-only, so every method runs on the store's readers."""

    async def tickets(self, f: TicketFilter) -> tuple[list[TicketView], int]:
        """A page of tickets, newest first, and how many match in all."""

        def fn(session: Session) -> tuple[list[TicketView], int]:
            query = select(Ticket)
            if f.status:
                query = query.where(Ticket.status == f.status)
            if f.sla in ("near", "overdue"):
                query = query.where(Ticket.sla_flag == f.sla, Ticket.sla_met_at.is_(None))
            elif f.sla == "met":
                query = query.where(Ticket.sla_met_at.is_not(None))
            elif f.sla == "open":  # work to do: a call still going on has not settled its number yet
                query = query.where(Ticket.sla_kind.is_not(None), Ticket.sla_met_at.is_(None), ~Ticket.open)
            if f.kind:
                query = query.where(Ticket.sla_kind == f.kind)
            if f.channel:
                query = query.where(Ticket.channel == f.channel)
            if f.level is not None:
                query = query.where(Ticket.level == f.level)
            if f.assigned:
                query = query.where(Ticket.assigned_to == f.assigned)
            if f.caller:
                query = query.where(Ticket.caller_number.like(f"%{_escape(f.caller)}%", escape="\\"))
            if f.operator_id is not None:
                query = query.where(Ticket.operator_id == f.operator_id)
            if f.day is not None:
                query = query.where(Ticket.local_day == f.day)
            total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = session.scalars(query.order_by(Ticket.id.desc()).limit(f.limit).offset(f.offset))
            return [TicketView.of(r, with_events=False) for r in rows], total

        return await self._read(fn)

    async def to_file(self, operator_id: int, limit: int = 20) -> list[TicketView]:
        """Calls this operator took whose outcome is not filed yet (newest first).

        Not a call they passed to another topic's queue (blind transfer) while it waits there: its
        outcome is for whoever answers it next, who becomes the ticket's operator. Offered to both,
        it was filed twice (full run 6, ticket 5944: the first operator filed it in the seconds
        before the second answered). If the caller leaves before anyone answers, the call comes
        back to the one who transferred it, the last who spoke with them."""

        def last(kind: str) -> Any:
            return (
                select(func.max(TicketEvent.at))
                .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == kind)
                .correlate(Ticket)
                .scalar_subquery()
            )

        transferred, answered = last(EventKind.TRANSFERRED), last(EventKind.OPERATOR_ANSWERED)

        def fn(session: Session) -> list[TicketView]:
            rows = session.scalars(
                select(Ticket)
                .where(
                    Ticket.operator_id == operator_id,
                    Ticket.operator_answered_at.is_not(None),
                    Ticket.status.is_(None),
                    or_(~Ticket.open, transferred.is_(None), transferred < answered),
                )
                .order_by(Ticket.id.desc())
                .limit(limit)
            )
            return [TicketView.of(r, with_events=False) for r in rows]

        return await self._read(fn)

    async def callbacks_of(self, login: str) -> list[CallbackItem]:
        """The callbacks assigned to an operator and not closed, soonest due first."""

        def fn(session: Session) -> list[CallbackItem]:
            rows = session.execute(
                select(Ticket, func.coalesce(Ticket.contact_phone, Voicemail.callback_number), Voicemail.id)
                .outerjoin(Voicemail, Voicemail.ticket_id == Ticket.id)
                .where(Ticket.assigned_to == login, Ticket.status.in_(("assigned", "called_back")))
                .order_by(Ticket.callback_due.is_(None), Ticket.callback_due, Ticket.id)
            )
            return [
                CallbackItem(TicketView.of(t, with_events=False), number or t.caller_number, mid)
                for t, number, mid in rows
            ]

        return await self._read(fn)

    async def callback_number(self, ticket_id: int) -> str | None:
        def fn(session: Session) -> str | None:
            row = session.execute(
                select(Ticket.caller_number, Voicemail.callback_number, Ticket.contact_phone)
                .outerjoin(Voicemail, Voicemail.ticket_id == Ticket.id)
                .where(Ticket.id == ticket_id)
            ).first()
            if row is None:
                return None
            caller, given, confirmed = row  # the number the citizen confirmed at escalation first
            return confirmed or given or (caller if caller and caller != "anonymous" else None)

        return await self._read(fn)

    async def message_of_ticket(self, ticket_id: int) -> int | None:
        return await self._read(
            lambda session: session.scalar(select(Voicemail.id).where(Voicemail.ticket_id == ticket_id))
        )

    async def recordings_of(self, ticket_id: int) -> list[Recording]:
        return await self._read(
            lambda session: list(
                session.scalars(select(Recording).where(Recording.ticket_id == ticket_id).order_by(Recording.id))
            )
        )

    async def recording(self, recording_id: int) -> Recording | None:
        return await self._read(lambda session: session.get(Recording, recording_id))

    async def sla_counts(self) -> dict[str, int]:
        """Open commitments by flag, for the wallboard."""

        def fn(session: Session) -> dict[str, int]:
            rows = session.execute(
                select(Ticket.sla_flag, func.count())
                .where(
                    Ticket.sla_kind.is_not(None),
                    Ticket.sla_met_at.is_(None),
                    or_(Ticket.status != "closed", Ticket.status.is_(None)),
                )
                .group_by(Ticket.sla_flag)
            )
            return {(flag or "ok"): int(n) for flag, n in rows}

        return await self._read(fn)

    async def previous_of(self, number: str, before_id: int, limit: int = 5) -> list[TicketView]:
        def fn(session: Session) -> list[TicketView]:
            rows = session.scalars(
                select(Ticket)
                .where(Ticket.caller_number == number, Ticket.id != before_id)
                .order_by(Ticket.id.desc())
                .limit(limit)
            )
            return [TicketView.of(r, with_events=False) for r in rows]

        return await self._read(fn)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
