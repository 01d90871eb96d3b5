"""The operator's desk with a real call: a citizen calls through the lab carrier, chooses the
topic in the menu, the call pops on the desk of the operator whose real softphone (baresip)
answers, the operator files the outcome in the page; then calls the citizen back from the desk
(the engine rings the operator's phone, then the citizen's through the carrier)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, expect
from sqlalchemy import select

from ivr.acd.agents import AgentState
from ivr.lab.carrier import LabCall
from ivr.schema.tickets import CallbackAttempt
from ivr.voicemail import messages
from tests.browser.desks import citizen_call, login
from tests.console_support import PASSWORD
from tests.harness.callers import Watcher
from tests.harness.pbx import PbxPair
from tests.harness.voices import Voices
from tests.integration.test_queue import queue_line

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]
NewContext = Callable[[], Awaitable[BrowserContext]]
CITIZEN = "3471234567"
MENU_FLOW = """
name: console-desk
start: menu
nodes:
  menu:
    type: menu
    prompt: menu_main
    options:
      "1": {next: queue, topic: citizens}
      "2": {next: queue, topic: employers}
      "3": {next: queue, topic: agencies}
    default: {next: queue, topic: citizens}
  queue: {type: queue, fallback: voicemail}
  voicemail: {type: voicemail, reason: busy}
"""


async def test_real_call_pops_on_the_desk_and_is_called_back(
    pbx: PbxPair, tmp_path: Path, voices: Voices, new_context: NewContext, screenshots: Path
) -> None:
    async with queue_line(pbx, tmp_path, voices, flow=MENU_FLOW, queue={"wrap_up_s": 3}) as line:
        engine = line.engine
        assert engine.http is not None and engine.http.console is not None
        await line.operator("anna", presence="logged_out")  # softphone registered, not yet at work
        await engine.http.console.accounts.add(
            "anna", "operator", PASSWORD, engine.clock.now(), name="Anna", operator="anna"
        )
        earlier = await _earlier_ticket(line.engine)
        c = engine.settings.console
        base = f"http://{c.bind}:{c.port}"

        desk = await login(await new_context(), base, "anna")
        await expect(desk.locator("#my-state")).to_have_text("Disconnesso")
        await desk.get_by_role("button", name="Disponibile").click()
        await expect(desk.locator("#my-state")).to_have_text("Disponibile")
        assert engine.distributor.agents["anna"].state is AgentState.AVAILABLE
        assert (await engine.operators.get("anna")).presence == "available"  # kept in the store

        answered = asyncio.Event()

        async def citizen(call: LabCall, w: Watcher) -> None:
            await w.playing("menu_main")
            await asyncio.sleep(1.0)
            await call.press("1")  # cittadini e lavoratori
            await w.until_event("operator_answered", timeout=30)
            answered.set()
            await asyncio.sleep(5.0)
            await call.hangup()

        calling = asyncio.ensure_future(citizen_call(engine, pbx, citizen, CITIZEN))
        card = desk.locator(".call-card.live")
        await expect(card).to_be_visible(timeout=30_000)  # popped while ringing, over server-sent events
        await expect(card.locator(".caller")).to_have_text(CITIZEN)
        await expect(card.locator(".topic")).to_have_text("Cittadini e lavoratori")
        await expect(card.locator(".previous")).to_contain_text(f"#{earlier}")
        await asyncio.wait_for(answered.wait(), 30)
        await expect(desk.locator("#my-state")).to_have_text("In conversazione")
        await desk.screenshot(path=str(screenshots / "desk-call.png"))
        ticket, _ = await asyncio.wait_for(calling, 60)
        assert ticket.queue_result == "answered" and ticket.topic == "citizens"
        await expect(desk.locator("#my-state")).to_have_text("Chiusura scheda")

        await card.get_by_label("Note della chiamata").fill("serve la verifica dei requisiti")
        await card.get_by_label("Secondo livello: risposta entro 10 giorni").check()
        # the charter asks the citizen's name and a contact for the second level
        await card.get_by_label("Nome e cognome").fill("Mario Rossi")
        await card.get_by_label("al telefono").check()
        await card.get_by_label(f"Il cittadino conferma il numero {ticket.caller_number}").check()
        await card.get_by_role("button", name="Registra la scheda").click()
        await expect(desk.locator(f"#ticket-{ticket.id}")).to_have_count(0)
        filed = await engine.store.get(ticket.id)
        assert filed is not None
        assert (filed.level, filed.status, filed.resolution_note) == (2, "new", "serve la verifica dei requisiti")
        assert filed.operator_id == (await engine.operators.get("anna")).id
        assert filed.callback_due is not None and (filed.callback_due - filed.started_at).days == 10

        # The supervisor gives the callback to anna; she calls the citizen back from her desk.
        at = engine.clock.now()
        await engine.store.run_write(lambda s: messages.assign(s, ticket.id, "anna", at, by="sara"))
        await line.until(lambda: line.state("anna") is AgentState.AVAILABLE, "anna out of wrap-up")
        await desk.reload()
        await desk.get_by_role("button", name=f"Richiama {CITIZEN}").click()
        home = await asyncio.wait_for(pbx.carrier.phones.get(), 30)  # anna answered; now the citizen
        assert home.number == CITIZEN
        await home.answer()
        await expect(desk.locator("#callback-progress")).to_contain_text("In conversazione con il cittadino")
        await asyncio.sleep(1.5)
        await home.hangup()
        await expect(desk.locator("#callback-progress")).to_contain_text("Risposto", timeout=15_000)
        attempts = await engine.store.run_read(lambda s: list(s.scalars(select(CallbackAttempt))))
        assert [(a.ticket_id, a.operator, a.result) for a in attempts] == [(ticket.id, "anna", "answered")]
        after = await engine.store.get(ticket.id)
        assert after is not None and after.status == "called_back" and after.sla_met_at is not None
        await line.until(lambda: line.state("anna") is AgentState.AVAILABLE, "anna available again")


async def _earlier_ticket(engine: object) -> int:
    """The same citizen called last week: the desk shows it with the call."""
    from datetime import timedelta

    from ivr.tickets.store import NewCall, SqlTicketStore

    store: SqlTicketStore = engine.store  # type: ignore[attr-defined]
    at = engine.clock.now() - timedelta(days=7)  # type: ignore[attr-defined]
    ticket_id = await store.open_call(NewCall("earlier-call", at, CITIZEN, None, "800000039"))
    await store.file_outcome(ticket_id, "resolved", note="informazioni sul curriculum", operator_id=None, at=at)
    return ticket_id
