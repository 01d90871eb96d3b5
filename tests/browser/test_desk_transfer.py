"""A blind transfer from the desk in a real browser: the operator answers in the page, puts the
caller on hold and back, then sends them to the employers' queue with the card's controls; the
employers' operator (at home, confirming with 1) gets the caller, hangs up, and the survey follows."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from ivr.lab.carrier import LabCall
from tests.browser.desks import FLOW, WEBRTC, add_operator, citizen_call, open_desk
from tests.harness.callers import Watcher
from tests.harness.pbx import PbxPair
from tests.harness.queueline import queue_line
from tests.harness.voices import Voices

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]


async def test_transfer_from_the_desk(pbx: PbxPair, tmp_path: Path, voices: Voices, phone_browser: Browser) -> None:
    async with queue_line(pbx, tmp_path, voices, flow=FLOW, asterisk={"webrtc": WEBRTC}) as line:
        await add_operator(line, "anna")
        await line.engine.operators.update("anna", skills=["citizens"])  # bruno, at home, the employers
        await line.engine.operator_sync.run_once()
        await line.operator("bruno", softphone=False, phone="3470000081", skills=["employers"])
        desk = await open_desk(line, phone_browser)
        await desk.get_by_role("button", name="Disponibile").click()
        await expect(desk.locator("#my-state")).to_have_text("Disponibile")

        async def citizen(call: LabCall, w: Watcher) -> None:
            await w.playing("menu_main")
            await asyncio.sleep(1.0)
            await call.press("1")
            await w.playing("survey_satisfaction", timeout=120)  # after the second operator
            await asyncio.sleep(1.0)
            await call.press("5")

        calling = asyncio.ensure_future(citizen_call(line.engine, pbx, citizen))
        await desk.get_by_role("button", name="Rispondi").click(timeout=40_000)
        await expect(desk.locator("#phone-status")).to_have_text("In conversazione.")
        controls = desk.locator(".call-card .call-controls")
        await controls.get_by_role("button", name="Metti in attesa").click()
        await expect(controls.locator(".form-status")).to_have_text("Chiamante in attesa con musica.")
        await expect(controls.locator(".call-held")).to_be_visible()  # the controls show the hold
        await expect(controls.get_by_role("button", name="Metti in attesa")).to_be_hidden()
        await asyncio.sleep(1.0)
        await controls.get_by_role("button", name="Riprendi").click()
        await expect(controls.locator(".form-status")).to_have_text("Di nuovo in linea con il chiamante.")
        await expect(controls.locator(".call-held")).to_be_hidden()
        await expect(controls.get_by_role("button", name="Riprendi")).to_be_hidden()
        await controls.get_by_label("Trasferisci alla coda").select_option("employers")
        await controls.get_by_role("button", name="Trasferisci", exact=True).click()
        await expect(controls.locator(".form-status")).to_contain_text("Chiamata trasferita")

        bruno = await asyncio.wait_for(pbx.carrier.phones.get(), 60)
        assert bruno.number == "3470000081"
        await bruno.take_offer()
        await expect(desk.locator("#phone-status")).to_contain_text("Chiamata terminata")  # anna's leg ended
        await line.until(lambda: line.engine.distributor.agents["bruno"].ticket_id is not None, "bruno talking", 30)
        await asyncio.sleep(3.0)
        with contextlib.suppress(Exception):
            await bruno.hangup()
        ticket, _ = await asyncio.wait_for(calling, 90)

        kinds = [e.kind for e in ticket.events]
        order = ["operator_answered", "call_held", "call_unheld", "transferred", "operator_answered", "survey_offered"]
        assert [k for k in kinds if k in order] == order
        offers = [(e.detail or {}).get("via") for e in ticket.events if e.kind == "offer"]
        assert offers == ["browser", "phone"]
        assert ticket.topic == "employers" and ticket.destination == "operator:bruno"
        assert ticket.survey_status == "completed"
