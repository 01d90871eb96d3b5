"""The knowledge base on the desk with a real call: a citizen calls through the lab carrier and
chooses the citizens' topic; the call pops on the operator's desk with that topic's articles; the
operator searches, clicks "Risolta con l'articolo N", and the ticket is a first-level resolution
naming the article (the supervisor sees it on the ticket's page)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import expect

from ivr.acd.agents import AgentState
from ivr.knowledge.files import import_dir
from ivr.lab.carrier import LabCall
from tests.browser.desks import citizen_call, login
from tests.browser.test_console_calls import CITIZEN, MENU_FLOW, NewContext
from tests.console_support import PASSWORD
from tests.harness.callers import Watcher
from tests.harness.pbx import PbxPair
from tests.harness.voices import Voices
from tests.integration.test_queue import queue_line

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]
DATA = Path(__file__).resolve().parents[1] / "data" / "kb"


async def test_operator_answers_a_real_call_with_an_article(
    pbx: PbxPair, tmp_path: Path, voices: Voices, new_context: NewContext, screenshots: Path
) -> None:
    async with queue_line(pbx, tmp_path, voices, flow=MENU_FLOW, queue={"wrap_up_s": 3}) as line:
        engine = line.engine
        assert engine.http is not None and engine.http.console is not None
        console = engine.http.console
        report = await import_dir(console.knowledge, DATA, by="redazione", at=engine.clock.now())
        assert not report.errors
        naspi = await console.knowledge.by_slug("naspi")
        assert naspi is not None
        await line.operator("anna", presence="logged_out")
        now = engine.clock.now()
        await console.accounts.add("anna", "operator", PASSWORD, now, name="Anna", operator="anna")
        await console.accounts.add("sara", "supervisor", PASSWORD, now, name="Sara")
        c = engine.settings.console
        base = f"http://{c.bind}:{c.port}"

        desk = await login(await new_context(), base, "anna")
        await desk.get_by_role("button", name="Disponibile").click()
        await expect(desk.locator("#my-state")).to_have_text("Disponibile")

        answered = asyncio.Event()

        async def citizen(call: LabCall, w: Watcher) -> None:
            await w.playing("menu_main")
            await asyncio.sleep(1.0)
            await call.press("1")  # cittadini e lavoratori
            await w.until_event("operator_answered", timeout=30)
            answered.set()
            await asyncio.sleep(4.0)
            await call.hangup()

        calling = asyncio.ensure_future(citizen_call(engine, pbx, citizen, CITIZEN))
        card = desk.locator(".call-card.live")
        await expect(card).to_be_visible(timeout=30_000)
        await expect(card.locator(".topic")).to_have_text("Cittadini e lavoratori")
        topic_list = card.locator(".kb-topic-articles")
        await expect(topic_list).to_contain_text("Come iscriversi al Centro per l'impiego")
        await expect(topic_list).not_to_contain_text("Ospitare un tirocinante")  # the employers' topic
        await expect(topic_list.locator(".review-overdue")).to_contain_text("da rivedere")
        await asyncio.wait_for(answered.wait(), 30)

        await card.get_by_label("Cerca nella base di conoscenza").fill("disoccupati")
        results = card.locator(".kb-results")
        await expect(results).to_contain_text("NASpI: l'indennità di disoccupazione")
        await desk.screenshot(path=str(screenshots / "desk-kb.png"))
        ticket, _ = await asyncio.wait_for(calling, 60)
        assert ticket.topic == "citizens" and ticket.queue_result == "answered"
        await results.get_by_role("button", name=f"Risolta con l'articolo {naspi.id}").click()
        await expect(desk.locator(f"#ticket-{ticket.id}")).to_have_count(0)

        filed = await engine.store.get(ticket.id)
        assert filed is not None
        assert (filed.level, filed.status, filed.kb_article_id) == (1, "resolved", naspi.id)
        assert filed.operator_id == (await engine.operators.get("anna")).id
        assert [e.detail["article"] for e in filed.events if e.kind == "kb_answer" and e.detail] == [naspi.id]

        supervisor = await login(await new_context(), base, "sara")
        await supervisor.goto(f"{base}/console/tickets/{ticket.id}")
        await expect(supervisor.locator("#ticket-status")).to_have_text("Risolto")
        await expect(supervisor.locator("#ticket-article")).to_contain_text(f"articolo {naspi.id}")
        await line.until(lambda: line.state("anna") is AgentState.AVAILABLE, "anna available again")
