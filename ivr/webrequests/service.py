"""Web requests in the ticket store: one ticket (channel web) per request, due in 48 hours.

The ticket holds what statistics and the commitment need (topic, calendar keys, due time,
status); the citizen's own words and contacts live in `web_requests`, next to it, so reports
can never pick them up by accident.

The two levels of the charter: a request the knowledge base answers gets its reply within 48
hours (first level); one that needs further work is passed to the second level, and the
citizen is answered by e-mail within `sla.web_second_days` (10) calendar days of that moment.
The escalation sends the citizen a notice ("presa in carico"), which is their answer within the
48 hours: the first-level commitment is kept in `first_due`/`first_met_at` and counted as met
at the escalation (late if that came after the 48 hours), while `callback_due`, `sla_kind`
(`web_second`) and `sla_met_at` now carry the 10-day commitment, flagged by the SLA job like any
other and met by the e-mail reply.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.schema.tickets import Channel, Ticket, TicketEvent, WebRequest
from ivr.tickets import events, sla
from ivr.tickets.events import EventKind
from ivr.tickets.periods import local_keys
from ivr.tickets.repository import Repository
from ivr.tickets.sla import WEB_REPLY, WEB_SECOND
from ivr.tickets.status import TicketStatus
from ivr.webrequests.form import RequestForm

STATUSES = tuple(s.value for s in (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.CLOSED))
LEVELS = (1, 2)


class RequestError(Exception):
    pass


class AlreadyFiled(RequestError):
    """The form's token came with a request filed already (the same form sent again)."""

    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"this form filed request #{ticket_id} already")
        self.ticket_id = ticket_id


class MailFate(enum.StrEnum):
    """An e-mail's last word on the request's timeline."""

    SENT = "sent"
    NOT_SENT = "not_sent"  # failed, or held back by a mail cap: the citizen must be told otherwise
    # The send began and no outcome was written: still under way (seconds), or the engine stopped
    # or lost the line between the send and its record. The server may have taken it.
    PERHAPS = "perhaps"


def mail_fate(detail: dict[str, Any] | None) -> MailFate:
    d = detail or {}
    if d.get("sending"):
        return MailFate.PERHAPS
    return MailFate.SENT if d.get("sent") is True else MailFate.NOT_SENT


@dataclass(frozen=True)
class Filed:
    """A request as its form filed it: what the citizen was told (its number, the reply's due
    time, whether the receipt went) and what the form said."""

    ticket_id: int
    due: datetime
    form: RequestForm
    receipt: dict[str, Any] | None  # the receipt's fate on the timeline; None: not written yet


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
    level: int = 1
    escalated_at: datetime | None = None
    first_due: datetime | None = None  # the 48 hours, once the request is at the second level
    # Whether the reply's and the escalation notice's e-mails went (None: no such e-mail). One
    # who sent a reply and saw no answer (their browser gave up while the database was slow)
    # reads here whether the citizen was reached, instead of guessing.
    reply_mailed: MailFate | None = None
    notice_mailed: MailFate | None = None

    @property
    def in_time(self) -> bool | None:
        return None if self.replied_at is None else self.replied_at <= self.due


def receive(
    session: Session, form: RequestForm, now: datetime, *, tz: ZoneInfo, reply_hours: float, mailing: bool = False
) -> int:
    """Register a request; returns its ticket number (what the citizen is told). A form whose
    token filed a request already is refused (AlreadyFiled), before anything is written.
    `mailing`: a receipt is sent next (its intent is written with the request)."""
    if form.token is not None:
        earlier = session.scalar(select(WebRequest.ticket_id).where(WebRequest.form_token == form.token))
        if earlier is not None:
            raise AlreadyFiled(earlier)
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
            form_token=form.token,
        )
    )
    session.add(
        TicketEvent(ticket_id=ticket.id, at=now, kind=EventKind.WEB_REQUEST_RECEIVED, detail={"topic": form.topic})
    )
    if mailing:
        _sending(session, ticket.id, now, EventKind.MAIL_RECEIPT)
    return ticket.id


def reply(
    session: Session,
    ticket_id: int,
    text: str,
    by: str | None,
    now: datetime,
    *,
    article: tuple[int, str] | None = None,
) -> RequestView:
    """The answer to the citizen: stored, the commitment of its level met, the ticket closed.

    `article` (id, title): the reply was built from that knowledge-base article, which makes it
    a first-level answer when the request is still at the first level."""
    text = text.strip()
    if len(text) < 2:
        raise RequestError("the reply is empty")
    request, ticket = _pair(session, ticket_id)
    if request.replied_at is not None:
        raise RequestError(f"request #{ticket_id} was answered already on {request.replied_at:%Y-%m-%d %H:%M}")
    request.reply, request.replied_at, request.replied_by = text, now, by
    ticket.status = TicketStatus.CLOSED
    sla.meet(session, ticket, now)
    ticket.sla_flag = None
    article_id = None
    if article is not None:
        article_id = article[0]
        used = events.article_used(article[0], article[1], by)
        session.add(TicketEvent(ticket_id=ticket_id, at=now, kind=used.kind, detail=used.detail))
        ticket.kb_article_id = article_id  # a first-level answer from the knowledge base
    done = events.web_reply(by, ticket.level, article_id)
    session.add(TicketEvent(ticket_id=ticket_id, at=now, kind=done.kind, detail=done.detail))
    _sending(session, ticket_id, now, EventKind.MAIL_REPLY)
    session.flush()
    return _view(request, ticket)


def escalate(session: Session, ticket_id: int, note: str, by: str | None, now: datetime, *, days: float) -> RequestView:
    """To the second level: an e-mail answer due `days` calendar days from now; the 48 hours
    counted as met now by the notice the channel e-mails next (late if they have passed)."""
    note = note.strip()
    if len(note) < 2:
        raise RequestError("say why the request needs the second level (the note is empty)")
    request, ticket = _pair(session, ticket_id)
    if request.replied_at is not None:
        raise RequestError(f"request #{ticket_id} is answered already")
    if ticket.level >= 2:
        raise RequestError(f"request #{ticket_id} is at the second level already")
    first_due = ticket.callback_due
    assert first_due is not None
    ticket.first_due, ticket.first_met_at, ticket.escalated_at = first_due, now, now
    ticket.level, ticket.sla_kind, ticket.sla_met_at, ticket.sla_flag = 2, WEB_SECOND, None, None
    ticket.callback_due = now + timedelta(days=days)
    if ticket.status != TicketStatus.ASSIGNED:
        ticket.status = TicketStatus.NEW
    event = events.web_escalated(by, ticket.callback_due.isoformat(), now <= first_due)
    session.add(TicketEvent(ticket_id=ticket_id, at=now, kind=event.kind, detail=event.detail, note=note))
    _sending(session, ticket_id, now, EventKind.MAIL_ESCALATION)
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
    found = _view(*_pair(session, ticket_id))
    mailed = _mailed(session, found.ticket_id)
    return replace(
        found, reply_mailed=mailed.get(EventKind.MAIL_REPLY), notice_mailed=mailed.get(EventKind.MAIL_ESCALATION)
    )


def by_token(session: Session, token: str) -> Filed | None:
    """The request a form's token filed, if any."""
    row = session.execute(
        select(WebRequest, Ticket).join(Ticket, Ticket.id == WebRequest.ticket_id).where(WebRequest.form_token == token)
    ).first()
    if row is None:
        return None
    request, ticket = row[0], row[1]
    due = ticket.first_due or ticket.callback_due  # the first reply's, as the citizen was told
    assert due is not None
    form = RequestForm(
        request.name, request.email, request.phone, ticket.topic or "", request.subject, request.message, token
    )
    receipts = session.scalars(
        select(TicketEvent.detail)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.MAIL_RECEIPT)
        .order_by(TicketEvent.at, TicketEvent.id)
    ).all()
    return Filed(ticket.id, due, form, dict(receipts[-1] or {}) if receipts else None)


def _mailed(session: Session, ticket_id: int) -> dict[str, MailFate]:
    """The last word on each of the request's e-mails to the citizen, from its timeline."""
    rows = session.execute(
        select(TicketEvent.kind, TicketEvent.detail)
        .where(
            TicketEvent.ticket_id == ticket_id,
            TicketEvent.kind.in_((EventKind.MAIL_REPLY, EventKind.MAIL_ESCALATION)),
        )
        .order_by(TicketEvent.at, TicketEvent.id)
    )
    return {kind: mail_fate(detail) for kind, detail in rows}


def listing(
    session: Session, *, status: str | None = None, level: int | None = None, limit: int = 50, offset: int = 0
) -> list[RequestView]:
    """The soonest due first: the order they should be answered in."""
    query = select(WebRequest, Ticket).join(Ticket, Ticket.id == WebRequest.ticket_id)
    if status:
        query = query.where(Ticket.status == status)
    if level is not None:
        query = query.where(Ticket.level == level)
    query = query.order_by(Ticket.callback_due, Ticket.id).limit(limit).offset(offset)
    return [_view(row[0], row[1]) for row in session.execute(query).all()]


def _sending(session: Session, ticket_id: int, at: datetime, kind: EventKind) -> None:
    """The step's e-mail goes out next (the channel sends it once this is committed)."""
    sending = events.mail_sending(kind)
    session.add(TicketEvent(ticket_id=ticket_id, at=at, kind=sending.kind, detail=sending.detail))


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
        level=ticket.level,
        escalated_at=ticket.escalated_at,
        first_due=ticket.first_due,
    )


class WebRequests(Repository):
    """Web requests on the ticket store's readers and writer: the channel, the console and the
    `ivr requests` commands all go through it. A refused step (already answered, an empty reply)
    is raised here without failing the batch it rode in with."""

    refusals = (RequestError,)

    async def receive(
        self, form: RequestForm, now: datetime, *, tz: ZoneInfo, reply_hours: float, mailing: bool = False
    ) -> int:
        return await self._write(
            lambda session: receive(session, form, now, tz=tz, reply_hours=reply_hours, mailing=mailing)
        )

    async def reply(
        self, ticket_id: int, text: str, by: str | None, now: datetime, *, article: tuple[int, str] | None = None
    ) -> RequestView:
        return await self._write(lambda session: reply(session, ticket_id, text, by, now, article=article))

    async def escalate(self, ticket_id: int, note: str, by: str | None, now: datetime, *, days: float) -> RequestView:
        return await self._write(lambda session: escalate(session, ticket_id, note, by, now, days=days))

    async def assign(self, ticket_id: int, operator: str, now: datetime, by: str | None = None) -> None:
        await self._write(lambda session: assign(session, ticket_id, operator, now, by=by))

    async def view(self, ticket_id: int) -> RequestView:
        return await self._read(lambda session: view(session, ticket_id))

    async def by_token(self, token: str) -> Filed | None:
        return await self._read(lambda session: by_token(session, token))

    async def listing(
        self, *, status: str | None = None, level: int | None = None, limit: int = 50, offset: int = 0
    ) -> list[RequestView]:
        return await self._read(
            lambda session: listing(session, status=status, level=level, limit=limit, offset=offset)
        )
