"""Web requests (the charter's second channel) and the commitments job, on SQLite and PostgreSQL,
with a real SMTP server receiving the citizens' e-mails."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from sqlalchemy import select

from ivr.asterisk.instance import free_port
from ivr.clock import ShiftedClock
from ivr.schema.tickets import Ticket, TicketEvent, WebRequest
from ivr.tickets.config import SlaSettings
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.sla import compliance, flag
from ivr.tickets.store import NewCall, SqlTicketStore
from ivr.voicemail import messages
from ivr.webrequests import http, service
from ivr.webrequests.channel import WebRequestChannel
from ivr.webrequests.config import MailSettings, WebRequestSettings
from ivr.webrequests.form import FormErrors, parse
from ivr.webrequests.mail import SmtpMailer

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ROME)  # a Monday morning
GOOD = {
    "name": "Maria Rossi",
    "email": "maria.rossi@example.org",
    "phone": "333 1234567",
    "topic": "citizens",
    "subject": "Iscrizione al centro per l'impiego",
    "message": "Vorrei sapere come iscrivermi al centro per l'impiego della mia città.",
    "privacy": "on",
}


# --- the form ----------------------------------------------------------------------------------


def test_a_good_request_is_parsed() -> None:
    form = parse(GOOD)
    assert (form.name, form.email, form.phone, form.topic) == (
        "Maria Rossi",
        "maria.rossi@example.org",
        "3331234567",
        "citizens",
    )


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": ""}, "name", "obbligatorio"),
        ({"name": "x" * 129}, "name", "al massimo 128"),
        ({"email": "maria@"}, "email", "non valido"),
        ({"email": "a b@example.org"}, "email", "non valido"),
        ({"phone": "12ab"}, "phone", "solo cifre"),
        ({"topic": "aliens"}, "topic", "scegliere"),
        ({"subject": "ok"}, "subject", "almeno 3"),
        ({"message": "breve"}, "message", "almeno 10"),
        ({"privacy": None}, "privacy", "informativa"),
        ({"website": "http://spam.example"}, "website", "non accettata"),
    ],
)
def test_each_wrong_field_is_named(change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(FormErrors) as caught:
        parse({**GOOD, **change})
    assert set(caught.value.errors) == {field}
    assert words.lower() in caught.value.errors[field].lower()


def test_every_problem_at_once_and_control_characters_dropped() -> None:
    with pytest.raises(FormErrors) as caught:
        parse({"name": "A", "email": 3, "topic": None, "message": "\x00" * 40})
    assert set(caught.value.errors) == {"name", "email", "topic", "subject", "message", "privacy"}


# --- a real SMTP server --------------------------------------------------------------------------


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
class Desk:
    channel: WebRequestChannel
    store: SqlTicketStore
    clock: ShiftedClock
    url: str


@pytest.fixture
async def desk(db_url: str, inbox: Inbox) -> AsyncIterator[Desk]:
    db = make_engine(db_url)
    upgrade(db)
    store = SqlTicketStore(db, tz=ROME)
    clock = ShiftedClock(NOW)
    mail = MailSettings(host="127.0.0.1", port=inbox.port, tls="none", sender="NUL <noreply@nul.example>")
    channel = WebRequestChannel(
        store,
        SmtpMailer(mail),
        clock,
        WebRequestSettings(per_address=3, window_s=600),
        SlaSettings(),
        tz=ROME,
        service_name="Numero per il lavoro",
    )
    yield Desk(channel, store, clock, db_url)
    await store.stop()
    db.dispose()


async def test_a_request_becomes_a_web_ticket_due_in_48_hours(desk: Desk, inbox: Inbox) -> None:
    received = await desk.channel.submit(GOOD, "192.0.2.10")
    assert received.receipt_sent
    assert abs((received.due - NOW).total_seconds() - 48 * 3600) < 5
    ticket = await desk.store.get(received.ticket_id)
    assert ticket is not None
    assert (ticket.channel, ticket.sla_kind, ticket.status, ticket.topic) == ("web", "web_reply", "new", "citizens")
    assert ticket.local_day == date(2026, 3, 2) and ticket.local_week == date(2026, 3, 2)
    assert ticket.caller_number == "3331234567" and not ticket.open
    assert [(e.kind, e.detail) for e in ticket.events][1:] == [  # the receipt's intent, then its outcome
        ("mail_receipt", {"sent": None, "sending": True}),
        ("mail_receipt", {"sent": True}),
    ]
    (receipt,) = inbox.mails
    assert receipt["To"] == "maria.rossi@example.org"
    assert f"n. {received.ticket_id}" in receipt["Subject"]
    assert "04/03/2026" in receipt.get_payload()  # the due date, in Rome time

    view, sent = await desk.channel.answer(received.ticket_id, "Può iscriversi online dal portale regionale.", "anna")
    assert sent and view.in_time and view.status == "closed"
    reply = inbox.mails[-1]
    assert "portale regionale" in reply.get_payload() and reply["To"] == "maria.rossi@example.org"
    ticket = await desk.store.get(received.ticket_id)
    assert ticket is not None and ticket.sla_met_at is not None and ticket.status == "closed"
    with pytest.raises(service.RequestError, match="answered already"):
        await desk.channel.answer(received.ticket_id, "di nuovo", "anna")


async def test_mail_down_keeps_the_request_and_says_so(db_url: str) -> None:
    db = make_engine(db_url)
    upgrade(db)
    store = SqlTicketStore(db, tz=ROME)
    dead = MailSettings(host="127.0.0.1", port=free_port(), timeout_s=2)  # nobody listens there
    channel = WebRequestChannel(
        store, SmtpMailer(dead), ShiftedClock(NOW), WebRequestSettings(), SlaSettings(), tz=ROME, service_name="NUL"
    )
    received = await channel.submit(GOOD, "192.0.2.11")
    assert not received.receipt_sent
    ticket = await store.get(received.ticket_id)
    assert ticket is not None
    assert ticket.events[-1].kind == "mail_receipt" and ticket.events[-1].detail == {"sent": False}
    view = await store.run_read(lambda s: service.view(s, received.ticket_id))
    assert view.message == GOOD["message"] and view.email == GOOD["email"]
    await store.stop()
    db.dispose()


# --- over HTTP -------------------------------------------------------------------------------------


@pytest.fixture
async def client(desk: Desk) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application(client_max_size=64 * 1024)
    app.add_routes(http.routes(desk.channel, did="800000039"))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_html_form_shows_errors_keeps_input_and_confirms(client: TestClient[Any, Any], desk: Desk) -> None:
    page = await client.get(http.FORM_PATH)
    assert page.status == 200
    html = await page.text()
    for name in ("name", "email", "phone", "topic", "subject", "message", "privacy"):
        assert f'name="{name}"' in html
    assert 'lang="it"' in html and "48 ore" in html

    bad = await client.post(http.FORM_PATH, data={**GOOD, "email": "maria@", "message": "<b>ciao</b> breve"})
    assert bad.status == 400
    html = await bad.text()
    assert "E-mail: indirizzo non valido" in html and 'value="Maria Rossi"' in html
    assert "<b>ciao</b>" not in html and "&lt;b&gt;ciao&lt;/b&gt;" in html  # what was typed comes back escaped

    ok = await client.post(http.FORM_PATH, data=GOOD)
    assert ok.status == 201
    html = await ok.text()
    assert "ricevuta" in html
    number = int(html.split("Richiesta n. <strong>")[1].split("<")[0])
    ticket = await desk.store.get(number)
    assert ticket is not None and ticket.channel == "web"


async def test_json_api_and_abuse_guard(client: TestClient[Any, Any]) -> None:
    created = await client.post(http.API_PATH, json=GOOD)
    assert created.status == 201
    body = await created.json()
    assert isinstance(body["ticket"], int) and body["due"].startswith("2026-03-04")

    wrong = await client.post(http.API_PATH, json={**GOOD, "topic": "x", "privacy": False})
    assert wrong.status == 400
    assert set((await wrong.json())["fields"]) == {"topic", "privacy"}
    not_json = await client.post(http.API_PATH, data=b"not json", headers={"Content-Type": "application/json"})
    assert not_json.status == 400
    assert (await client.post(http.API_PATH, data=b"not json")).status == 415  # JSON only: no cross-site form
    assert (await client.post(http.API_PATH, json=["a list"])).status == 400
    too_big = await client.post(http.API_PATH, json={**GOOD, "message": "x" * 70_000})
    assert too_big.status == 413

    # Three accepted per address and window (this desk's setting): the fourth is refused.
    await client.post(http.API_PATH, json=GOOD)
    await client.post(http.API_PATH, json=GOOD)
    refused = await client.post(http.API_PATH, json=GOOD)
    assert refused.status == 429


# --- commitments ---------------------------------------------------------------------------------


async def _phone_ticket(store: SqlTicketStore, started: datetime, uid: str) -> int:
    ticket_id = await store.open_call(NewCall(uid, started, "3330000000", None, "800000039"))
    await store.file_outcome(ticket_id, "escalated", note=None, operator_id=None, at=started)
    return ticket_id


async def test_flags_near_and_overdue_once_and_measures_compliance(desk: Desk) -> None:
    store = desk.store
    day = timedelta(days=1)
    # Phone second level: due 10 days after the call.
    late_unanswered = await _phone_ticket(store, NOW - 11 * day, "p1")
    near_phone = await _phone_ticket(store, NOW - 9 * day, "p2")  # due tomorrow: within 48 h
    answered_in_time = await _phone_ticket(store, NOW - 12 * day, "p3")
    answered_late = await _phone_ticket(store, NOW - 13 * day, "p4")
    fresh_phone = await _phone_ticket(store, NOW - day, "p5")
    await store.run_write(lambda s: messages.callback_result(s, answered_in_time, "answered", NOW - 5 * day, "x", None))
    await store.run_write(lambda s: messages.callback_result(s, answered_late, "no_answer", NOW - 4 * day, "x", None))
    await store.run_write(lambda s: messages.callback_result(s, answered_late, "answered", NOW - 2 * day, "x", None))
    # Web: due 48 hours after arrival.
    desk.clock.set(NOW - 3 * day)
    web_late = (await desk.channel.submit(GOOD, "192.0.2.1")).ticket_id
    desk.clock.set(NOW - timedelta(hours=40))
    web_near = (await desk.channel.submit(GOOD, "192.0.2.2")).ticket_id
    desk.clock.set(NOW - timedelta(hours=30))
    web_answered = (await desk.channel.submit(GOOD, "192.0.2.3")).ticket_id
    desk.clock.set(NOW - timedelta(hours=20))
    await desk.channel.answer(web_answered, "Risposta.", "anna")

    settings = SlaSettings()
    first = await store.run_write(lambda s: flag(s, NOW, settings))
    assert sorted(first.overdue) == sorted([late_unanswered, web_late])
    assert sorted(first.near) == sorted([near_phone, web_near])
    again = await store.run_write(lambda s: flag(s, NOW, settings))
    assert again.near == [] and again.overdue == []  # each ticket is flagged once
    later = await store.run_write(lambda s: flag(s, NOW + 2 * day, settings))
    assert sorted(later.overdue) == sorted([near_phone, web_near])  # near has become overdue

    def events(session: Any, ticket_id: int) -> list[str]:
        query = select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind.like("sla_%"))
        return list(session.scalars(query))

    assert await store.run_read(lambda s: events(s, near_phone)) == ["sla_near", "sla_overdue"]
    assert await store.run_read(lambda s: events(s, answered_in_time)) == []
    assert await store.run_read(lambda s: events(s, fresh_phone)) == []

    result = await store.run_read(lambda s: compliance(s, date(2026, 2, 1), date(2026, 3, 31), NOW, settings))
    by_kind = {c.kind: c for c in result}
    phone, web_ = by_kind["phone_callback"], by_kind["web_reply"]
    assert (phone.in_time, phone.late, phone.pending) == (1, 2, 2)
    assert (web_.in_time, web_.late, web_.pending) == (1, 1, 1)
    assert phone.rate == pytest.approx(1 / 3) and phone.met is False and phone.target == 0.8
    assert web_.rate == pytest.approx(0.5) and web_.met is False and web_.target == 0.9


async def test_an_answer_given_late_before_the_check_saw_it_is_overdue_on_the_timeline(desk: Desk) -> None:
    """Full run 3: two web requests were answered 3 days late, right after the line came back
    (the soak jumps over days); the check job had not run since the due time, so nothing on
    either ticket said the 48 hours were missed. A late answer says so itself, once."""
    received = await desk.channel.submit(GOOD, "192.0.2.20")
    desk.clock.set(NOW + timedelta(days=3))
    view, _ = await desk.channel.answer(received.ticket_id, "Risposta tardiva.", "anna")
    assert not view.in_time
    ticket = await desk.store.get(received.ticket_id)
    assert ticket is not None
    assert [e.kind for e in ticket.events if e.kind.startswith("sla_")] == ["sla_overdue"]
    in_time = (await desk.channel.submit(GOOD, "192.0.2.21")).ticket_id
    await desk.channel.answer(in_time, "Risposta.", "anna")
    ticket = await desk.store.get(in_time)
    assert ticket is not None and not [e.kind for e in ticket.events if e.kind.startswith("sla_")]


async def test_resolved_at_first_level_has_no_commitment(desk: Desk) -> None:
    ticket_id = await desk.store.open_call(NewCall("r1", NOW, "3331112222", None, "800000039"))
    await desk.store.file_outcome(ticket_id, "resolved", note="risolto", operator_id=None, at=NOW)
    ticket = await desk.store.get(ticket_id)
    assert ticket is not None and ticket.sla_kind is None and ticket.callback_due is None

    def count(session: Any) -> int:
        return len(session.scalars(select(WebRequest)).all()) + len(
            session.scalars(select(Ticket).where(Ticket.sla_kind.is_not(None))).all()
        )

    assert await desk.store.run_read(count) == 0


def test_requests_cli_lists_shows_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from ivr.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("IVR_DATABASE__URL", url)
    monkeypatch.setenv("IVR_SECRETS_FILE", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("IVR_CLOCK__START", NOW.isoformat())

    async def seed() -> int:
        db = make_engine(url)
        upgrade(db)
        store = SqlTicketStore(db, tz=ROME)
        channel = WebRequestChannel(
            store,
            SmtpMailer(MailSettings()),
            ShiftedClock(NOW - timedelta(days=3)),
            WebRequestSettings(),
            SlaSettings(),
            tz=ROME,
            service_name="NUL",
        )
        received = await channel.submit(GOOD, "192.0.2.9")
        await store.stop()
        db.dispose()
        return received.ticket_id

    number = asyncio.run(seed())
    assert main(["requests", "list"]) == 0
    assert f"#{number}" in capsys.readouterr().out
    assert main(["requests", "show", str(number)]) == 0
    assert "maria.rossi@example.org" in capsys.readouterr().out
    assert main(["sla", "check"]) == 0
    assert "1 past due" in capsys.readouterr().out
    assert main(["requests", "reply", str(number), "--text", "Ecco la risposta.", "--by", "anna"]) == 0
    out = capsys.readouterr().out
    assert "answered late" in out and "NOT e-mailed" in out
    assert main(["sla", "report", "--from", "2026-02-25", "--to", "2026-03-02"]) == 0
    assert "web_reply" in capsys.readouterr().out
    assert main(["requests", "reply", "999", "--text", "nessuno"]) == 1
    assert "no web request #999" in capsys.readouterr().err
