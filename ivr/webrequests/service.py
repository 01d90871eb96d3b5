"""Web requests in the ticket store: one ticket (channel web) per request, due in 48 hours.

The ticket holds what statistics and the commitment need (topic, calendar keys, due time,
status); the citizen's own words and contacts live in `web_requests`, next to it, so reports
can never pick them up by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.tickets.events import EventKind
from ivr.tickets.models import Channel, Ticket, TicketEvent, WebRequest
from ivr.tickets.periods import local_keys
from ivr.tickets.sla import WEB_REPLY
from ivr.tickets.status import TicketStatus
from ivr.webrequests.form import RequestForm

STATUSES = tuple(s.value for s in (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.CLOSED))


class RequestError(Exception):
    pass


@dataclass(frozen=True)
class RequestView:
    ticket_id: int
    received_at: datetime
    due: datetime
    status: str
    topic: str
    name: str
    email: str
    phone: str | None
    subject: str
    message: str
    assigned_to: str | None
    reply: str | None
    replied_at: datetime | None
    replied_by: str | None
    sla_flag: str | None

    @property
    def in_time(self) -> bool | None:
        return None if self.replied_at is None else self.replied_at <= self.due


def receive(session: Session, form: RequestForm, now: datetime, *, tz: ZoneInfo, reply_hours: float) -> int:
    """Register a request; returns its ticket number (what the citizen is told)."""
    ticket = Ticket(
        channel=Channel.WEB,
        caller_number=form.phone,  # lets an operator see this citizen's calls and requests together
        started_at=now,
        ended_at=now,
        open=False,
        outcome="web_request",
        topic=form.topic,
        level=1,
        status=TicketStatus.NEW,
        sla_kind=WEB_REPLY,
        callback_due=now + timedelta(hours=reply_hours),
        **local_keys(now, tz),
    )
    session.add(ticket)
    session.flush()
    session.add(
        WebRequest(
            ticket_id=ticket.id,
            name=form.name,
            email=form.email,
            phone=form.phone,
            subject=form.subject,
            message=form.message,
            received_at=now,
        )
    )
    session.add(
        TicketEvent(ticket_id=ticket.id, at=now, kind=EventKind.WEB_REQUEST_RECEIVED, detail={"topic": form.topic})
    )
    return ticket.id


def reply(session: Session, ticket_id: int, text: str, by: str | None, now: datetime) -> RequestView:
    """The answer to the citizen: stored, the commitment met, the ticket closed."""
    text = text.strip()
    if len(text) < 2:
        raise RequestError("the reply is empty")
    request, ticket = _pair(session, ticket_id)
    if request.replied_at is not None:
        raise RequestError(f"request #{ticket_id} was answered already on {request.replied_at:%Y-%m-%d %H:%M}")
    request.reply, request.replied_at, request.replied_by = text, now, by
    ticket.status, ticket.sla_flag = TicketStatus.CLOSED, None
    if ticket.sla_met_at is None:
        ticket.sla_met_at = now
    session.add(TicketEvent(ticket_id=ticket_id, at=now, kind=EventKind.WEB_REPLY, detail={"by": by}))
    session.flush()
    return _view(request, ticket)


def assign(session: Session, ticket_id: int, operator: str, now: datetime, by: str | None = None) -> None:
    request, ticket = _pair(session, ticket_id)
    if request.replied_at is not None:
        raise RequestError(f"request #{ticket_id} is answered already")
    ticket.assigned_to, ticket.status = operator, TicketStatus.ASSIGNED
    session.add(
        TicketEvent(
            ticket_id=ticket_id, at=now, kind=EventKind.REQUEST_ASSIGNED, detail={"operator": operator, "by": by}
        )
    )


def view(session: Session, ticket_id: int) -> RequestView:
    return _view(*_pair(session, ticket_id))


def listing(session: Session, *, status: str | None = None, limit: int = 50) -> list[RequestView]:
    """Oldest first among those waiting: the order they should be answered in."""
    query = select(WebRequest, Ticket).join(Ticket, Ticket.id == WebRequest.ticket_id)
    if status:
        query = query.where(Ticket.status == status)
    query = query.order_by(Ticket.callback_due, Ticket.id).limit(limit)
    return [_view(row[0], row[1]) for row in session.execute(query).all()]


def _pair(session: Session, ticket_id: int) -> tuple[WebRequest, Ticket]:
    row = session.execute(
        select(WebRequest, Ticket).join(Ticket, Ticket.id == WebRequest.ticket_id).where(Ticket.id == ticket_id)
    ).first()
    if row is None:
        raise RequestError(f"no web request #{ticket_id}")
    return row[0], row[1]


def _view(request: WebRequest, ticket: Ticket) -> RequestView:
    assert ticket.callback_due is not None
    return RequestView(
        ticket_id=ticket.id,
        received_at=request.received_at,
        due=ticket.callback_due,
        status=ticket.status or "new",
        topic=ticket.topic or "",
        name=request.name,
        email=request.email,
        phone=request.phone,
        subject=request.subject,
        message=request.message,
        assigned_to=ticket.assigned_to,
        reply=request.reply,
        replied_at=request.replied_at,
        replied_by=request.replied_by,
        sla_flag=ticket.sla_flag,
    )
