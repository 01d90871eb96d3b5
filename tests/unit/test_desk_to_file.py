"""The desk's cards to file after a blind transfer: full run 6 offered ticket 5944 to both operators
(the one who passed it to another topic's queue filed it in the seconds before the next one
answered, then the next one filed it too). The call is the next operator's to file, and a filing
from the card left on the first one's page is refused; it comes back to the first only if the caller
leaves before anyone answers. On SQLite and a real PostgreSQL."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.tickets import events
from ivr.tickets.status import PASSED_ON
from ivr.tickets.store import CallClosing
from tests.console_support import ConsoleLab, console_lab


@pytest.fixture
async def lab(tmp_path: Path, db_url: str) -> AsyncIterator[ConsoleLab]:
    async with console_lab(tmp_path, {"database": {"url": db_url}}) as lab:
        yield lab


async def _cards(client: Any) -> str:
    response = await client.get("/console/desk")
    assert response.status == 200
    return str(await response.text())


async def _event(lab: ConsoleLab, ticket_id: int, event: events.Event) -> None:
    lab.clock.set(lab.clock.now() + timedelta(seconds=5))
    await lab.deps.store.record(ticket_id, event.kind, lab.clock.now(), event.detail)


async def _transferred(lab: ConsoleLab, number: str) -> int:
    """A call anna answered and passed to the employers' queue, still up."""
    ticket_id = await lab.call(number, operator="anna", topic="citizens")
    await _event(lab, ticket_id, events.operator_answered("anna"))
    await _event(lab, ticket_id, events.transferred("anna", "citizens", "employers"))
    await _event(lab, ticket_id, events.operator_call_ended("transfer", False))
    await lab.deps.store.update(ticket_id, operator_ended_at=lab.clock.now())
    return ticket_id


async def _file(lab: ConsoleLab, client: Any, ticket_id: int) -> tuple[int, str]:
    token = await lab.csrf(client, "/console/desk")
    data = {"_csrf": token, "outcome": "resolved", "note": "risolta"}
    response = await client.post(f"/console/desk/tickets/{ticket_id}/outcome", data=data, allow_redirects=False)
    return response.status, html.unescape(await response.text())


async def test_a_call_passed_to_another_queue_is_filed_by_whoever_answers_it_next(lab: ConsoleLab) -> None:
    anna, bruno = await lab.login("anna"), await lab.login("bruno")
    ticket_id = await _transferred(lab, "3331230001")
    card = f'id="ticket-{ticket_id}"'
    assert card not in await _cards(anna)  # waiting in the employers' queue: not anna's to file
    # ...nor from the card still on the page she transferred it from
    status, page = await _file(lab, anna, ticket_id)
    assert status == 400 and PASSED_ON in page

    bruno_id = (await lab.deps.operators.get("bruno")).id
    await lab.deps.store.update(ticket_id, operator_id=bruno_id, operator_answered_at=lab.clock.now())
    await _event(lab, ticket_id, events.operator_answered("bruno"))
    await _event(lab, ticket_id, events.operator_call_ended("operator", False))
    assert card not in await _cards(anna)
    assert card in await _cards(bruno)  # bruno spoke with the caller last: his to file
    assert (await _file(lab, bruno, ticket_id))[0] == 303
    ticket = await lab.deps.store.get(ticket_id)
    assert ticket is not None and [e.kind for e in ticket.events].count("outcome_filed") == 1


async def test_a_transferred_call_nobody_answered_comes_back_to_its_operator(lab: ConsoleLab) -> None:
    anna = await lab.login("anna")
    ticket_id = await _transferred(lab, "3331230002")
    card = f'id="ticket-{ticket_id}"'
    assert card not in await _cards(anna)
    await lab.deps.store.close_call(ticket_id, CallClosing(lab.clock.now(), "abandoned", "caller_hangup", "queue"))
    assert card in await _cards(anna)  # the caller left in the queue: anna spoke with them last
    assert (await _file(lab, anna, ticket_id))[0] == 303


async def test_an_ordinary_call_is_on_the_desk_to_file_while_the_survey_goes_on(lab: ConsoleLab) -> None:
    anna = await lab.login("anna")
    ticket_id = await lab.call("3331230003", operator="anna", topic="citizens")
    await _event(lab, ticket_id, events.operator_answered("anna"))
    await _event(lab, ticket_id, events.operator_call_ended("operator", False))
    assert f'id="ticket-{ticket_id}"' in await _cards(anna)  # the call is still up (the survey)
