"""Referrals from the real console app: an operator finds the office for the citizen's comune,
"Indirizza a" it, and the details reach a real SMTP server (aiosmtpd); supervisors see the
directory, import a CSV upload (a bad one changes nothing), and find the referral in statistics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData

from ivr.schema.referrals import Referral
from tests.console_support import ConsoleLab, console_lab
from tests.harness.inbox import Inbox, smtp_inbox

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "referrals" / "sample-offices.csv"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as found:
        yield found


@pytest.fixture
async def lab(tmp_path: Path, inbox: tuple[Inbox, int]) -> AsyncIterator[ConsoleLab]:
    mail = {"host": "127.0.0.1", "port": inbox[1], "tls": "none", "sender": "NUL <noreply@nul.example>",
            "max_receipts_per_recipient": 2}  # fmt: skip
    async with console_lab(tmp_path, {"mail": mail}) as lab:
        yield lab


async def _upload(lab: ConsoleLab, client: Any, data: bytes) -> Any:
    token = await lab.csrf(client, "/console/referrals")
    form = FormData()
    form.add_field("_csrf", token)
    form.add_field("file", data, filename="uffici.csv", content_type="text/csv")
    return await client.post("/console/referrals/import", data=form, allow_redirects=False)


async def _directory(lab: ConsoleLab) -> None:
    sara = await lab.login("sara")
    response = await _upload(lab, sara, SAMPLE.read_bytes())
    assert response.status == 303, await response.text()


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_an_operator_refers_a_call_and_the_citizen_gets_the_details(
    lab: ConsoleLab, inbox: tuple[Inbox, int]
) -> None:
    await _directory(lab)
    ticket_id = await lab.call("3331112222", operator="anna")
    anna = await lab.login("anna")
    desk = await (await anna.get("/console/desk")).text()
    assert f'action="/console/desk/tickets/{ticket_id}/referral"' in desk  # the panel on the call card

    page = await anna.get(f"/console/desk/tickets/{ticket_id}/referral", params={"q": "reggio emilia"})
    html = await page.text()
    assert page.status == 200
    assert "Centro per l&#39;impiego di Reggio Emilia" in html and "Via Esempio 1, 42121" in html
    assert "Trovato perché: serve il comune di Reggio nell&#39;Emilia" in html
    office = await lab.deps.console.referrals.repo.search("reggio emilia")
    reggio = office[0]
    assert reggio.code == "ES-CPI-RE"

    token = await lab.csrf(anna, "/console/desk")
    note = "Chiede come iscriversi: <b>non</b> scrivere questo nella mail"
    response = await anna.post(
        f"/console/desk/tickets/{ticket_id}/referral",
        data={"_csrf": token, "office": str(reggio.id), "email": "mario.rossi@example.org", "note": note},
        allow_redirects=False,
    )
    assert response.status == 303 and "msg=referred_mailed" in response.headers["Location"]

    ((to, mail),) = inbox[0].mails
    body = _body(mail)
    assert to == ["mario.rossi@example.org"] and mail["From"] == "NUL <noreply@nul.example>"
    assert mail["Subject"] == f"Numero per il lavoro: a chi rivolgersi (pratica n. {ticket_id})"
    for expected in ("Centro per l'impiego di Reggio Emilia", "Indirizzo: Via Esempio 1, 42121 Reggio nell'Emilia",
                     f"Telefono: {reggio.phone}", "E-mail: cpi.re@example.org", "Sito: https://cpi-re.example.org",
                     "Orari: Lun-Ven 9:00-12:30; Mar e Gio anche 14:30-16:30", f"pratica n. {ticket_id}"):  # fmt: skip
        assert expected in body, expected
    assert "iscriversi" not in body and "<b>" not in body  # the operator's note stays on the ticket

    ticket = await lab.deps.store.get(ticket_id)
    assert ticket is not None and (ticket.status, ticket.level, ticket.sla_kind) == ("referred", 1, None)
    assert ticket.resolution_note == note
    kinds = [e.kind for e in ticket.events]
    assert kinds[-4:] == ["outcome_filed", "referred", "mail_referral", "mail_referral"]
    referral = ticket.events[-3].detail["referral"]  # type: ignore[index]
    # The send's intent before it, its outcome after (an engine stopped between: "perhaps sent").
    assert [e.detail for e in ticket.events[-2:]] == [
        {"referral": referral, "sent": None, "sending": True},
        {"referral": referral, "sent": True},
    ]
    rows = await lab.deps.store.run_read(lambda s: list(s.query(Referral)))
    made = [(r.office_code, r.by_login, r.emailed_to) for r in rows]
    assert made == [("ES-CPI-RE", "anna", "mario.rossi@example.org")]
    assert rows[0].details["address"] == "Via Esempio 1, 42121 Reggio nell'Emilia"

    desk = await (await anna.get("/console/desk")).text()
    assert f'id="ticket-{ticket_id}"' not in desk  # filed: no longer on the desk

    sara = await lab.login("sara")
    ticket_page = await (await sara.get(f"/console/tickets/{ticket_id}")).text()
    assert "Indirizzato a un ufficio" in ticket_page and "Indirizzato ad altro ufficio" in ticket_page
    stats = await (await sara.get("/console/stats")).text()
    assert 'id="referrals-by-kind"' in stats
    assert '<th scope="row">Centro per l&#39;impiego</th><td>1</td><td>1</td>' in stats
    assert "<td>ES-CPI-RE</td><td>1</td>" in stats


async def test_a_bad_address_is_refused_before_anything_is_recorded(lab: ConsoleLab, inbox: tuple[Inbox, int]) -> None:
    await _directory(lab)
    ticket_id = await lab.call("3331112223", operator="anna")
    office = (await lab.deps.console.referrals.repo.search("torino"))[0]
    anna = await lab.login("anna")
    token = await lab.csrf(anna, "/console/desk")
    for bad in ("mario.rossi@example.org\r\nBcc: tutti@example.org", "non-un-indirizzo"):
        response = await anna.post(
            f"/console/desk/tickets/{ticket_id}/referral",
            data={"_csrf": token, "office": str(office.id), "email": bad},
            headers={"Accept": "application/json"},
        )
        assert response.status == 400 and "indirizzo e-mail non valido" in (await response.json())["error"]
    ticket = await lab.deps.store.get(ticket_id)
    assert ticket is not None and ticket.status is None and inbox[0].mails == []


async def test_the_per_recipient_cap_holds_e_mails_back(lab: ConsoleLab, inbox: tuple[Inbox, int]) -> None:
    await _directory(lab)
    office = (await lab.deps.console.referrals.repo.search("torino"))[0]
    anna = await lab.login("anna")
    token = await lab.csrf(anna, "/console/desk")
    results = []
    for n in range(3):
        ticket_id = await lab.call(f"33311100{n}", operator="anna")
        response = await anna.post(
            f"/console/desk/tickets/{ticket_id}/referral",
            data={"_csrf": token, "office": str(office.id), "email": "stessa@example.org"},
            headers={"Accept": "application/json"},
        )
        results.append((await response.json())["mail"])
    assert results == ["sent", "sent", "held"] and len(inbox[0].mails) == 2
    ticket = await lab.deps.store.get(ticket_id)
    assert ticket is not None and ticket.status == "referred"  # the referral is kept all the same
    assert ticket.events[-1].detail == {
        "referral": ticket.events[-2].detail["referral"],  # type: ignore[index]
        "sent": False,
        "held": "mail.max_receipts_per_recipient",
    }


async def test_only_the_operator_who_took_the_call_refers_it(lab: ConsoleLab) -> None:
    await _directory(lab)
    ticket_id = await lab.call("3331112224", operator="anna")
    office = (await lab.deps.console.referrals.repo.search("torino"))[0]
    bruno = await lab.login("bruno")
    assert (await bruno.get(f"/console/desk/tickets/{ticket_id}/referral?q=torino")).status == 403
    token = await lab.csrf(bruno, "/console/desk")
    response = await bruno.post(
        f"/console/desk/tickets/{ticket_id}/referral", data={"_csrf": token, "office": str(office.id)}
    )
    assert response.status == 403
    anna = await lab.login("anna")
    assert (await anna.get("/console/referrals")).status == 403  # the directory page is for supervisors
    token = await lab.csrf(anna, "/console/desk")
    response = await anna.post(
        f"/console/desk/tickets/{ticket_id}/outcome", data={"_csrf": token, "outcome": "referred"}
    )
    assert response.status == 400  # `referred` needs an office: only through the referral panel


async def test_supervisors_list_filter_and_import_the_directory(lab: ConsoleLab) -> None:
    sara = await lab.login("sara")
    empty = await (await sara.get("/console/referrals")).text()
    assert "Nessun ufficio" in empty
    bad = SAMPLE.read_bytes().replace(b";cpi;", b";ufficio;", 1).replace(b"0555 104", b"telefono", 1)
    response = await _upload(lab, sara, bad)
    html = await response.text()
    assert response.status == 400
    assert "riga 2, colonna «tipo»" in html and "riga 5, colonna «telefono»" in html
    assert await lab.deps.console.referrals.repo.offices() == []  # nothing half-imported

    response = await _upload(lab, sara, SAMPLE.read_bytes())
    assert response.status == 303
    page = await (await sara.get(response.headers["Location"])).text()
    assert "36 uffici importati" in page and page.count("<tr><td>ES-") == 36
    lazio = await (await sara.get("/console/referrals", params={"regione": "Lazio"})).text()
    assert lazio.count("<tr><td>ES-") == 3 and "Tivoli" in lazio
    re_only = await (await sara.get("/console/referrals", params={"provincia": "re"})).text()
    assert re_only.count("<tr><td>ES-") == 2
    audit = await lab.accounts.audit_entries(kind="referrals")
    assert [(a.action, a.detail) for a in audit] == [("referrals_import", {"added": 36, "updated": 0})]
