"""The desk's second-level form collects what the charter asks ("generalità" and a contact):
refused without a name or an e-mail, accepted with a caller id the citizen confirmed, kept on the
ticket and purged with the caller data. The real console app, store and accounts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.privacy.kinds import KINDS
from ivr.tickets.escalation import ContactError, contact
from tests.console_support import ConsoleLab, console_lab


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


async def _file(lab: ConsoleLab, ticket_id: int, **fields: str) -> tuple[int, dict[str, Any]]:
    anna = await lab.login("anna")
    token = await lab.csrf(anna)
    data = {"outcome": "escalated", "note": "verifica dei requisiti", "_csrf": token, **fields}
    response = await anna.post(
        f"/console/desk/tickets/{ticket_id}/outcome", data=data, headers={"Accept": "application/json"}
    )
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_second_level_without_a_name_or_an_email_is_refused(lab: ConsoleLab) -> None:
    mine = await lab.call("3331112222", operator="anna")
    status, body = await _file(lab, mine, answer_by="email", contact_email="mario@example.org")
    assert status == 400 and "nome e cognome" in body["error"]
    status, body = await _file(lab, mine, contact_name="Mario Rossi", answer_by="email")
    assert status == 400 and "indirizzo e-mail" in body["error"]
    status, body = await _file(lab, mine, contact_name="Mario Rossi", answer_by="email", contact_email="mario@")
    assert status == 400 and "non è valido" in body["error"]
    # A phone answer with the caller id not confirmed: refused too.
    status, body = await _file(lab, mine, contact_name="Mario Rossi", answer_by="phone")
    assert status == 400 and "confermi" in body["error"]
    ticket = await lab.deps.store.get(mine)
    assert ticket is not None and ticket.status is None and ticket.level == 1  # nothing was filed


async def test_a_confirmed_caller_id_is_accepted_and_kept_then_purged(lab: ConsoleLab) -> None:
    mine = await lab.call("3331112222", operator="anna")
    page = await (await (await lab.login("anna")).get("/console/desk")).text()
    assert "Il cittadino conferma il numero 3331112222" in page
    status, body = await _file(lab, mine, contact_name=" Mario   Rossi ", answer_by="phone", caller_id_confirmed="yes")
    assert status == 200 and (body["level"], body["status"]) == (2, "new")
    ticket = await lab.deps.store.get(mine)
    assert ticket is not None
    assert (ticket.contact_name, ticket.contact_phone, ticket.contact_email, ticket.answer_by) == (
        "Mario Rossi",
        "3331112222",
        None,
        "phone",
    )
    assert ticket.escalated_at is not None and ticket.sla_kind == "phone_callback"
    filed = next(e for e in ticket.events if e.kind == "outcome_filed")
    assert filed.detail is not None
    assert filed.detail["contact"] == {"answer_by": "phone", "email": False, "phone": True}  # no data in the timeline
    assert await lab.deps.console.queries.callback_number(mine) == "3331112222"

    # Past the caller data's retention the contact goes with the rest of it.
    caller_data = next(k for k in KINDS if k.name == "caller_data")
    cut = ticket.started_at + timedelta(days=1)
    due = await lab.deps.store.run_read(lambda s: list(s.scalars(caller_data.due(cut))))
    assert mine in due
    await lab.deps.store.run_write(lambda s: caller_data.apply(s, [mine]))
    ticket = await lab.deps.store.get(mine)
    assert ticket is not None and (ticket.contact_name, ticket.contact_phone, ticket.contact_email) == (None,) * 3


async def test_a_typed_number_or_an_email_answer(lab: ConsoleLab) -> None:
    mine = await lab.call("anonymous", operator="anna")
    page = await (await (await lab.login("anna")).get("/console/desk")).text()
    assert "Il cittadino conferma il numero" not in page  # nothing to confirm
    status, _body = await _file(lab, mine, contact_name="Anna Neri", answer_by="phone", contact_phone="06 1234 5678")
    assert status == 200
    ticket = await lab.deps.store.get(mine)
    assert ticket is not None and ticket.contact_phone == "0612345678"


def test_contact_rules() -> None:
    base: dict[str, Any] = {"caller_id": "3471234567", "caller_id_confirmed": False, "typed_phone": None}
    got = contact(name="Ada Lovelace", answer_by="email", email="ada@example.org", **base)
    assert (got.name, got.answer_by, got.email, got.phone) == ("Ada Lovelace", "email", "ada@example.org", None)
    with pytest.raises(ContactError, match="per e-mail o al telefono"):
        contact(name="Ada Lovelace", answer_by=None, email="ada@example.org", **base)
    with pytest.raises(ContactError, match="da 6 a 15 cifre"):
        contact(name="Ada Lovelace", answer_by="phone", email=None, **{**base, "typed_phone": "12ab"})
    with pytest.raises(ContactError, match="non è disponibile"):
        contact(
            name="Ada", answer_by="phone", email=None, **{**base, "caller_id": "anonymous", "caller_id_confirmed": True}
        )
