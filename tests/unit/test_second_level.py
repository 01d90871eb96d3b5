"""The second level for web requests: escalation gives a 10-day e-mail commitment, the SLA job
flags it near and then past due on a test clock, and the e-mail reply (a real SMTP server)
closes it; on SQLite and PostgreSQL."""

from __future__ import annotations

import email
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from ivr.asterisk.instance import free_port
from ivr.clock import ShiftedClock
from ivr.tickets.config import SlaSettings
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.sla import compliance, flag
from ivr.tickets.store import SqlTicketStore
from ivr.webrequests import service
from ivr.webrequests.channel import WebRequestChannel
from ivr.webrequests.config import MailSettings, WebRequestSettings
from ivr.webrequests.mail import SmtpMailer

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ROME)  # a Monday morning
REQUEST = {
    "name": "Luca Bianchi",
    "email": "luca.bianchi@example.org",
    "topic": "citizens",
    "subject": "NASpI dopo le dimissioni",
    "message": "Mi sono dimesso per giusta causa a gennaio: ho diritto alla NASpI? Non trovo la risposta.",
    "privacy": "on",
}


@dataclass
class Inbox:
    port: int
    mails: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Line:
    channel: WebRequestChannel
    store: SqlTicketStore
    clock: ShiftedClock
    sla: SlaSettings


@pytest.fixture
async def line(db_url: str, inbox: Inbox) -> AsyncIterator[Line]:
    db = make_engine(db_url)
    upgrade(db)
    store = SqlTicketStore(db, tz=ROME)
    clock = ShiftedClock(NOW)
    sla = SlaSettings()
    mail = MailSettings(host="127.0.0.1", port=inbox.port, tls="none", sender="NUL <noreply@nul.example>")
    channel = WebRequestChannel(
        store, SmtpMailer(mail), clock, WebRequestSettings(), sla, tz=ROME, service_name="Numero per il lavoro"
    )
    yield Line(channel, store, clock, sla)
    await store.stop()
    db.dispose()


def _text(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def _flag(line: Line) -> tuple[list[int], list[int]]:
    now = line.clock.now()
    found = await line.store.run_write(lambda s: flag(s, now, line.sla))
    return found.near, found.overdue


async def test_escalation_gives_a_ten_day_email_commitment_flagged_then_answered(line: Line, inbox: Inbox) -> None:
    received = await line.channel.submit(REQUEST, "192.0.2.20")
    line.clock.set(NOW + timedelta(hours=20))  # within the 48 hours
    view, sent = await line.channel.escalate(received.ticket_id, "serve il parere dell'ufficio NASpI", "sara")
    escalated_at = NOW + timedelta(hours=20)
    assert sent and view.level == 2
    assert abs((view.due - (escalated_at + timedelta(days=10))).total_seconds()) < 5
    notice = inbox.mails[-1]
    assert notice["To"] == REQUEST["email"] and "presa in carico" in notice["Subject"]
    assert "13/03/2026" in _text(notice)  # escalated 03/03 06:00 Rome time, + 10 calendar days
    ticket = await line.store.get(received.ticket_id)
    assert ticket is not None
    assert (ticket.level, ticket.sla_kind, ticket.sla_met_at, ticket.status) == (2, "web_second", None, "new")
    assert ticket.first_met_at is not None and ticket.first_due is not None
    assert ticket.first_met_at <= ticket.first_due  # the notice met the 48 hours
    # The notice's intent is written with the escalation, its outcome after the send.
    timeline = [(e.kind, e.detail) for e in ticket.events]
    assert timeline[-3:] == [
        ("web_escalated", timeline[-3][1]),
        ("mail_escalation", {"sent": None, "sending": True}),
        ("mail_escalation", {"sent": True}),
    ]
    with pytest.raises(service.RequestError, match="second level already"):
        await line.channel.escalate(received.ticket_id, "di nuovo", "sara")

    # Day 3: the 48-hour margin of the first level would have flagged it; the 10-day one does not yet.
    line.clock.set(NOW + timedelta(days=3))
    assert await _flag(line) == ([], [])
    # 47 hours before the 10-day due time: near (sla.near_web_second_hours = 48), once.
    line.clock.set(view.due - timedelta(hours=47))
    assert await _flag(line) == ([received.ticket_id], [])
    assert await _flag(line) == ([], [])
    # Past it: overdue, once.
    line.clock.set(view.due + timedelta(minutes=1))
    assert await _flag(line) == ([], [received.ticket_id])
    assert await _flag(line) == ([], [])

    answered, sent = await line.channel.answer(
        received.ticket_id, "Sì: le dimissioni per giusta causa danno diritto alla NASpI.", "sara"
    )
    assert sent and answered.status == "closed" and not answered.in_time
    reply = inbox.mails[-1]
    assert "giusta causa" in _text(reply) and reply["To"] == REQUEST["email"]
    ticket = await line.store.get(received.ticket_id)
    assert ticket is not None and ticket.sla_met_at is not None and ticket.sla_flag is None
    reply_event = [e for e in ticket.events if e.kind == "web_reply"][-1]
    assert reply_event.detail == {"by": "sara", "level": 2, "article": None}
    now = line.clock.now()
    rows = await line.store.run_read(lambda s: compliance(s, NOW.date(), NOW.date(), now, line.sla))
    second = next(c for c in rows if c.kind == "web_second")
    assert (second.in_time, second.late, second.pending, second.target) == (0, 1, 0, 0.8)


async def test_escalation_after_48_hours_misses_the_first_level_and_needs_a_note(line: Line) -> None:
    received = await line.channel.submit(REQUEST, "192.0.2.21")
    with pytest.raises(service.RequestError, match="note is empty"):
        await line.channel.escalate(received.ticket_id, "  ", "sara")
    line.clock.set(NOW + timedelta(hours=50))
    await line.channel.escalate(received.ticket_id, "serve un approfondimento", "sara")
    ticket = await line.store.get(received.ticket_id)
    assert ticket is not None and ticket.first_met_at is not None and ticket.first_due is not None
    assert ticket.first_met_at > ticket.first_due
    escalated = next(e for e in ticket.events if e.kind == "web_escalated")
    assert escalated.detail is not None and escalated.detail["first_in_time"] is False


async def test_a_reply_from_an_article_is_a_first_level_answer_marked_with_it(line: Line) -> None:
    received = await line.channel.submit(REQUEST, "192.0.2.22")
    view, _sent = await line.channel.answer(
        received.ticket_id, "Può chiedere la NASpI online.", "anna", article=(7, "NASpI: come si chiede")
    )
    assert view.level == 1 and view.in_time
    ticket = await line.store.get(received.ticket_id)
    assert ticket is not None
    used = next(e for e in ticket.events if e.kind == "article_used")
    assert used.detail == {"article": 7, "title": "NASpI: come si chiede", "by": "anna"}
    listed = await line.store.run_read(lambda s: service.listing(s, level=1))
    assert [r.ticket_id for r in listed] == [received.ticket_id]
    assert await line.store.run_read(lambda s: service.listing(s, level=2)) == []
