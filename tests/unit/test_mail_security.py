"""E-mail to citizens cannot be turned against anyone: receipts carry no text a stranger typed,
their number per hour is capped, header injection is refused, and SMTP verifies certificates and
never sends credentials in clear. A real SMTP server (aiosmtpd) receives everything, over real TLS
with a certificate made by the openssl command."""

from __future__ import annotations

import email
import logging
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ivr.asterisk.instance import free_port
from ivr.clock import ShiftedClock
from ivr.configfile import ConfigError
from ivr.settings import load_settings
from ivr.tickets.config import SlaSettings
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from ivr.webrequests import http
from ivr.webrequests.channel import WebRequestChannel
from ivr.webrequests.config import MailSettings, WebRequestSettings
from ivr.webrequests.mail import SmtpMailer

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ROME)
LURE = {
    "name": "Banca Centrale Ufficio Sicurezza",
    "email": "vittima@example.org",
    "topic": "citizens",
    "subject": "Il suo conto è bloccato: accedi a http://phish.example/login",
    "message": "Gentile cliente, confermi la password su http://phish.example/login entro oggi.",
    "privacy": "on",
}


@dataclass
class Inbox:
    mails: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append(data.login.decode())
        return AuthResult(success=data.password == b"segreta")


def smtp_server(inbox: Inbox, **options: Any) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller, port


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    controller, port = smtp_server(box)
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class Desk:
    channel: WebRequestChannel
    store: SqlTicketStore
    clock: ShiftedClock
    inbox: Inbox


async def make_desk(tmp_path: Path, inbox: tuple[Inbox, int], **mail: Any) -> AsyncIterator[Desk]:
    db = make_engine(f"sqlite:///{tmp_path / 'nul.db'}")
    upgrade(db)
    store = SqlTicketStore(db, tz=ROME)
    clock = ShiftedClock(NOW)
    box, port = inbox
    settings = MailSettings(host="127.0.0.1", port=port, tls="none", sender="NUL <noreply@nul.example>", **mail)
    channel = WebRequestChannel(
        store,
        SmtpMailer(settings),
        clock,
        WebRequestSettings(per_address=100),
        SlaSettings(),
        tz=ROME,
        service_name="Numero per il lavoro",
    )
    yield Desk(channel, store, clock, box)
    await store.stop()
    db.dispose()


@pytest.fixture
async def desk(tmp_path: Path, inbox: tuple[Inbox, int]) -> AsyncIterator[Desk]:
    async for made in make_desk(tmp_path, inbox, max_receipts_per_hour=3, max_receipts_per_recipient=100):
        yield made


# --- item: receipts ------------------------------------------------------------------------------


async def test_the_receipt_carries_none_of_the_request_text(desk: Desk) -> None:
    received = await desk.channel.submit(LURE, "192.0.2.10")
    assert received.receipt_sent
    (receipt,) = desk.inbox.mails
    payload = receipt.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    everything = f"{receipt['Subject']}\n{receipt['From']}\n{body}"
    for typed in (LURE["name"], LURE["subject"], LURE["message"], "phish.example", "Banca", "bloccato"):
        assert typed not in everything
    assert f"n. {received.ticket_id}" in receipt["Subject"] and f"n. {received.ticket_id}" in body
    assert "04/03/2026" in body  # the commitment: a reply within 48 hours


async def test_no_more_receipts_than_the_hourly_cap(desk: Desk) -> None:
    sent = []
    for i in range(5):  # different senders, different recipients: only the global cap applies
        received = await desk.channel.submit({**LURE, "email": f"r{i}@example.org"}, f"192.0.2.{20 + i}")
        sent.append(received.receipt_sent)
        ticket = await desk.store.get(received.ticket_id)
        assert ticket is not None and ticket.channel == "web"  # the request is stored either way
        last = ticket.events[-1]
        assert last.kind == "mail_receipt"
        assert last.detail == ({"sent": True} if i < 3 else {"sent": False, "held": "mail.max_receipts_per_hour"})
    assert sent == [True, True, True, False, False]
    assert len(desk.inbox.mails) == 3

    desk.clock.set(NOW + timedelta(hours=1, minutes=1))  # a new hour: receipts go out again
    assert (await desk.channel.submit(LURE, "192.0.2.30")).receipt_sent
    assert len(desk.inbox.mails) == 4


async def test_one_recipient_gets_few_receipts(tmp_path: Path, inbox: tuple[Inbox, int]) -> None:
    async for desk in make_desk(tmp_path, inbox, max_receipts_per_recipient=2):
        results = [(await desk.channel.submit(LURE, f"192.0.2.{40 + i}")).receipt_sent for i in range(3)]
        assert results == [True, True, False]  # three senders, one victim: the third is held back
        assert len(desk.inbox.mails) == 2


@pytest.fixture
async def client(desk: Desk) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application(client_max_size=64 * 1024)
    app.add_routes(http.routes(desk.channel, did="800000039"))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("email", "vittima@example.org\r\nBcc: altri@example.org"),
        ("email", "vittima@example.org\nBcc: altri@example.org"),
        ("subject", "Richiesta\r\nBcc: altri@example.org"),
        ("subject", "Richiesta\nX-Spam: no"),
        ("name", "Maria\rRossi"),
        ("name", "Maria\x0bRossi"),
    ],
)
async def test_line_breaks_in_header_fields_are_refused(
    client: TestClient[Any, Any], desk: Desk, field_name: str, value: str
) -> None:
    api = await client.post(http.API_PATH, json={**LURE, field_name: value})
    assert api.status == 400
    fields = (await api.json())["fields"]
    assert set(fields) == {field_name} and "a capo" in fields[field_name]
    form = await client.post(http.FORM_PATH, data={**LURE, field_name: value})
    assert form.status == 400 and "a capo" in await form.text()
    assert desk.inbox.mails == []


async def test_the_page_says_when_the_receipt_was_held_back(client: TestClient[Any, Any], desk: Desk) -> None:
    pages = []
    for i in range(4):  # this desk's cap is 3 receipts per hour
        response = await client.post(http.FORM_PATH, data={**LURE, "email": f"r{i}@example.org"})
        assert response.status == 201
        pages.append(await response.text())
    assert all("conferma per e-mail" in page for page in pages[:3])
    assert "non inviamo conferme" in pages[3] and "Richiesta n." in pages[3]
    assert len(desk.inbox.mails) == 3


async def test_the_mailer_itself_refuses_line_breaks_in_headers(inbox: tuple[Inbox, int]) -> None:
    """Second line of defence, for addresses stored before the form refused them."""
    box, port = inbox
    mailer = SmtpMailer(MailSettings(host="127.0.0.1", port=port, tls="none"))
    assert not await mailer.send("a@example.org\r\nBcc: b@example.org", "Oggetto", "Testo.")
    assert not await mailer.send("a@example.org", "Oggetto\nBcc: b@example.org", "Testo.")
    assert box.mails == []


async def test_the_request_text_may_have_line_breaks(desk: Desk) -> None:
    received = await desk.channel.submit({**LURE, "message": "Prima riga.\r\nSeconda riga."}, "192.0.2.50")
    assert received.receipt_sent


# --- item: SMTP over TLS -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: a private CA nobody's system trusts."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
    names = ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run([*request, *names], check=True, capture_output=True)
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


async def send(settings: MailSettings) -> bool:
    return await SmtpMailer(settings).send("maria@example.org", "Prova", "Testo di prova.")


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_certificates_are_verified(
    certificate: tuple[Path, Path], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    box = Inbox()
    tls = server_context(certificate)
    options = {"tls_context": tls, "require_starttls": True} if mode == "starttls" else {"ssl_context": tls}
    # aiosmtpd only counts STARTTLS as TLS for AUTH; with implicit TLS the whole socket is TLS.
    options |= {"authenticator": box.authenticate, "auth_require_tls": mode == "starttls"}
    controller, port = smtp_server(box, **options)
    try:
        base = {"host": "127.0.0.1", "port": port, "tls": mode, "username": "nul", "password": "segreta"}
        with caplog.at_level(logging.WARNING):
            assert not await send(MailSettings(**base))  # the system's CAs do not know this server
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
        assert box.mails == [] and box.logins == []  # nothing sent, no password given away

        assert await send(MailSettings(**base, ca_file=certificate[0]))  # the private CA, named
        assert len(box.mails) == 1 and box.logins == ["nul"]
    finally:
        controller.stop()


async def test_tls_is_the_default_and_a_server_without_starttls_gets_nothing(
    inbox: tuple[Inbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    box, port = inbox  # a plain server that does not offer STARTTLS
    settings = MailSettings(host="127.0.0.1", port=port, username="nul", password="segreta")
    assert settings.tls == "starttls"
    with caplog.at_level(logging.WARNING):
        assert not await send(settings)
    assert "STARTTLS" in caplog.text
    assert box.mails == [] and box.logins == []


def test_a_login_without_tls_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_text("mail:\n  host: smtp.example.org\n  tls: none\n  username: nul\n  password: segreta\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={"IVR_SECRETS_FILE": "/nonexistent/secrets.yaml"})
    (problem,) = err.value.problems
    assert "mail.username" in problem and "mail.tls" in problem


def test_a_missing_ca_file_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_text("mail:\n  host: smtp.example.org\n  ca_file: ca/private.pem\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={"IVR_SECRETS_FILE": "/nonexistent/secrets.yaml"})
    (problem,) = err.value.problems
    assert "mail.ca_file" in problem and str(tmp_path / "ca" / "private.pem") in problem
