"""A citizen's request is filed once, however often its form is sent, on SQLite and PostgreSQL,
with a real SMTP server receiving the receipts.

Full run 6, request web-0050: after a database outage the form's post waited longer than the
browser would; the browser gave up and the citizen sent the form again. Both posts were filed:
tickets 3241 and 3275, two receipts. The form now carries a one-time token, kept with the
request (unique in the store): a post carrying a token already filed answers with that request.
Request web-0034 of the same run: five posts answered 'temporarily unavailable' used up the
address's five requests, and the sixth, once the database was back, was refused as too many.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ivr.clock import ShiftedClock
from ivr.schema.tickets import Channel, Ticket, WebRequest
from ivr.tickets.config import SlaSettings
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import SqlTicketStore
from ivr.tickets.writer import StoreUnavailable
from ivr.webrequests import http
from ivr.webrequests.channel import WebRequestChannel
from ivr.webrequests.config import MailSettings, WebRequestSettings
from ivr.webrequests.mail import SmtpMailer
from ivr.webrequests.service import WebRequests
from tests.harness.inbox import Inbox, smtp_inbox

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ROME)
TOKEN = re.compile(r'name="request_token" value="([^"]*)"')
NUMBER = re.compile(r"Richiesta n\. <strong>(\d+)</strong> ricevuta")
GOOD = {
    "name": "Maria Rossi",
    "email": "maria.rossi@example.org",
    "phone": "",
    "topic": "citizens",
    "subject": "Iscrizione al centro per l'impiego",
    "message": "Vorrei sapere come iscrivermi al centro per l'impiego della mia città.",
    "privacy": "on",
}


class Paced(WebRequests):
    """The store's filing, held at a gate (the database slow after an outage) or refused while
    `away` (the writer's StoreUnavailable, as when the database is down)."""

    def __init__(self, inner: WebRequests) -> None:
        super().__init__(inner.db)
        self.gate: asyncio.Event | None = None
        self.away = 0
        self.filing = asyncio.Event()  # a filing has begun

    async def receive(self, *args: Any, **kwargs: Any) -> Any:
        self.filing.set()
        if self.away:
            self.away -= 1
            raise StoreUnavailable("the ticket database is unavailable; try again shortly")
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()
        return await super().receive(*args, **kwargs)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as found:
        yield found


@pytest.fixture
async def line(db_url: str, inbox: tuple[Inbox, int]) -> AsyncIterator[tuple[WebRequestChannel, Paced]]:
    db = make_engine(db_url)
    upgrade(db)
    store = SqlTicketStore(db, tz=ROME)
    mail = MailSettings(host="127.0.0.1", port=inbox[1], tls="none", sender="NUL <noreply@nul.example>")
    channel = WebRequestChannel(
        store, SmtpMailer(mail), ShiftedClock(NOW), WebRequestSettings(per_address=5, window_s=600), SlaSettings(),
        tz=ROME, service_name="Numero per il lavoro",
    )  # fmt: skip
    paced = Paced(channel.requests)
    channel.requests = paced
    yield channel, paced
    await store.stop()
    db.dispose()


@pytest.fixture
async def client(line: tuple[WebRequestChannel, Paced]) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application(client_max_size=64 * 1024)
    app.add_routes(http.routes(line[0], did="800000039"))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _form(client: TestClient[Any, Any]) -> dict[str, str]:
    """What a browser sends: the fields typed in, and the form's own hidden fields."""
    page = await client.get(http.FORM_PATH)
    found = TOKEN.search(await page.text())
    return {**GOOD, **({"request_token": found.group(1)} if found else {})}


async def _requests(channel: WebRequestChannel) -> list[tuple[int, str]]:
    def read(session: Any) -> list[tuple[int, str]]:
        return [(r.ticket_id, r.email) for r in session.scalars(select(WebRequest).order_by(WebRequest.id))]

    return await channel.store.run_read(read)


def _receipts(inbox: Inbox) -> list[str]:
    return [str(m["Subject"]) for _, m in inbox.mails if str(m["Subject"]).endswith("ricevuta")]


async def test_a_form_sent_again_answers_with_the_request_already_filed(
    client: TestClient[Any, Any], line: tuple[WebRequestChannel, Paced], inbox: tuple[Inbox, int]
) -> None:
    sent = await _form(client)
    first = await client.post(http.FORM_PATH, data=sent)
    assert first.status == 201
    number = int(NUMBER.findall(await first.text())[0])
    again = await client.post(http.FORM_PATH, data=sent)  # "Invia" pressed again, the page reloaded
    page = await again.text()
    assert again.status == 200, page
    assert NUMBER.findall(page) == [str(number)] and "era già stata ricevuta" in page
    assert "le abbiamo inviato una conferma per e-mail" in page  # as the first answer said
    assert await _requests(line[0]) == [(number, GOOD["email"])]
    assert _receipts(inbox[0]) == [f"Numero per il lavoro: richiesta n. {number} ricevuta"]
    fresh = await _form(client)  # "Invia un'altra richiesta": a new form is a new request
    assert fresh["request_token"] != sent["request_token"]
    other = await client.post(http.FORM_PATH, data=fresh)
    assert other.status == 201 and len(await _requests(line[0])) == 2


async def test_a_form_sent_again_while_the_first_post_is_still_being_filed(
    client: TestClient[Any, Any], line: tuple[WebRequestChannel, Paced], inbox: tuple[Inbox, int]
) -> None:
    """Run 6's web-0050: the browser gave up on the first post, which the store had not taken
    yet, and sent the form again; the first post was then filed, and the second must not be."""
    channel, paced = line
    gate = paced.gate = asyncio.Event()
    sent = await _form(client)
    first = asyncio.create_task(client.post(http.FORM_PATH, data=sent))
    await asyncio.wait_for(paced.filing.wait(), 5)
    second = asyncio.create_task(client.post(http.FORM_PATH, data=sent))
    await asyncio.sleep(0.3)  # the second post is in, waiting on the first
    assert not second.done()
    gate.set()
    answers = [await first, await second]
    pages = [await a.text() for a in answers]
    assert [a.status for a in answers] == [201, 200], pages
    numbers = {n for page in pages for n in NUMBER.findall(page)}
    assert len(numbers) == 1
    assert await _requests(channel) == [(int(numbers.pop()), GOOD["email"])]
    assert len(_receipts(inbox[0])) == 1
    assert all("le abbiamo inviato una conferma per e-mail" in page for page in pages)


async def test_the_same_form_with_another_request_written_in_it_is_not_taken_for_the_first(
    client: TestClient[Any, Any], line: tuple[WebRequestChannel, Paced]
) -> None:
    """A citizen who goes back to the form, writes another request and sends it is told the
    form was used already, and gets it back to send as a new request."""
    sent = await _form(client)
    number = NUMBER.findall(await (await client.post(http.FORM_PATH, data=sent)).text())[0]
    changed = {**sent, "subject": "Un'altra domanda", "message": "E per il tirocinio come devo fare, invece?"}
    answer = await client.post(http.FORM_PATH, data=changed)
    page = await answer.text()
    assert answer.status == 409
    assert f"n. {number}" in page and "E per il tirocinio come devo fare, invece?" in page
    token = TOKEN.findall(page)
    assert len(token) == 1 and token[0] != sent["request_token"]
    assert len(await _requests(line[0])) == 1
    filed = await client.post(http.FORM_PATH, data={**changed, "request_token": token[0]})
    assert filed.status == 201 and len(await _requests(line[0])) == 2


async def test_posts_the_store_could_not_take_do_not_use_up_the_address(
    client: TestClient[Any, Any], line: tuple[WebRequestChannel, Paced]
) -> None:
    """Run 6's web-0034: five posts during the outage answered 503, the sixth 429."""
    channel, paced = line
    paced.away = 6
    sent = await _form(client)
    for _ in range(6):
        down = await client.post(http.FORM_PATH, data=sent)
        assert down.status == 503, await down.text()
        assert "non è stata registrata" in await down.text()
    back = await client.post(http.FORM_PATH, data=sent)
    assert back.status == 201, await back.text()
    for _ in range(3):  # the request filed counts once, however often it is sent again
        assert (await client.post(http.FORM_PATH, data=sent)).status == 200
    for n in range(4):  # four more of its own: five in all from this address
        assert (
            await client.post(http.FORM_PATH, data={**await _form(client), "subject": f"Domanda {n}"})
        ).status == 201
    assert (await client.post(http.FORM_PATH, data=await _form(client))).status == 429
    assert len(await _requests(channel)) == 5


async def test_the_json_api_takes_the_same_token(
    client: TestClient[Any, Any], line: tuple[WebRequestChannel, Paced]
) -> None:
    body = {**GOOD, "request_token": "a" * 32}
    first = await client.post(http.API_PATH, json=body)
    again = await client.post(http.API_PATH, json=body)
    assert (first.status, again.status) == (201, 200)
    filed, repeated = await first.json(), await again.json()
    assert repeated["ticket"] == filed["ticket"] and repeated["again"] is True and filed["again"] is False
    assert (await client.post(http.API_PATH, json={**body, "request_token": "x"})).status == 400
    assert len(await _requests(line[0])) == 1


async def test_the_store_keeps_a_token_for_one_request_only(line: tuple[WebRequestChannel, Paced]) -> None:
    """The last guard, in the schema: whatever path a second filing took, it cannot be stored."""
    channel = line[0]

    def two(session: Any) -> None:
        for _ in range(2):
            ticket = Ticket(channel=Channel.WEB, started_at=NOW, open=False, status="new", level=1,
                            callback_due=NOW + timedelta(hours=48), local_day=NOW.date())  # fmt: skip
            session.add(ticket)
            session.flush()
            session.add(WebRequest(ticket_id=ticket.id, name="M", email="m@example.org", subject="s",
                                   message="m" * 10, received_at=NOW, form_token="t" * 24))  # fmt: skip
            session.flush()

    with pytest.raises(IntegrityError):
        await channel.store.run_write(two)

    def count(session: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(WebRequest)) or 0)

    assert await channel.store.run_read(count) == 0
