"""The desk with the keyboard alone, as an operator who cannot use a mouse works (AgID guidelines,
WCAG 2.1.1): every control is reached with Tab and worked with Enter or Space — available, answer,
hold, resume, hang up, the call's notes and outcome — and what happens is announced to a screen
reader (the ringing banner is an alert, the phone's state a status, the filed card a live region)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from ivr.lab.carrier import LabCall
from tests.browser.desks import FLOW, WEBRTC, add_operator, citizen_call, open_desk
from tests.harness.callers import Watcher
from tests.harness.pbx import PbxPair
from tests.harness.queueline import queue_line
from tests.harness.voices import Voices

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]
MAX_TABS = 120


async def reach(page: Page, target: Locator) -> None:
    """Tab until `target` has the focus (never a click, never focus() from a script)."""
    for _ in range(MAX_TABS):
        if await target.evaluate("el => el === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{target} never took the focus in {MAX_TABS} presses of Tab")


async def by_keyboard(page: Page, target: Locator, key: str = "Enter") -> None:
    await reach(page, target)
    await page.keyboard.press(key)


async def test_the_desk_is_worked_with_the_keyboard_alone_and_announces_what_happens(
    pbx: PbxPair, tmp_path: Path, voices: Voices, phone_browser: Browser
) -> None:
    async with queue_line(pbx, tmp_path, voices, flow=FLOW, asterisk={"webrtc": WEBRTC}) as line:
        await add_operator(line, "anna")
        desk = await open_desk(line, phone_browser)
        await by_keyboard(desk, desk.get_by_role("button", name="Disponibile"))
        await expect(desk.locator("#my-state")).to_have_text("Disponibile")

        async def citizen(call: LabCall, w: Watcher) -> None:
            await w.playing("menu_main")
            await asyncio.sleep(1.0)
            await call.press("1")
            await w.playing("survey_satisfaction", timeout=120)  # the operator hung up
            await asyncio.sleep(1.0)
            await call.press("5")

        calling = asyncio.ensure_future(citizen_call(line.engine, pbx, citizen))
        ringing = desk.get_by_role("alert")
        await expect(ringing).to_be_visible(timeout=40_000)  # announced at once by a screen reader
        await by_keyboard(desk, desk.get_by_role("button", name="Rispondi"))
        await expect(desk.get_by_role("status").filter(has_text="In conversazione.")).to_be_visible()

        controls = desk.locator(".call-card .call-controls")
        await by_keyboard(desk, controls.get_by_role("button", name="Metti in attesa"))
        await expect(controls.locator(".call-held")).to_be_visible()  # a status: read out when it shows
        await by_keyboard(desk, controls.get_by_role("button", name="Riprendi"))
        await expect(controls.locator(".form-status")).to_have_text("Di nuovo in linea con il chiamante.")

        card = desk.locator(".call-card").first
        await reach(desk, card.get_by_label("Note della chiamata"))
        await desk.keyboard.type("chiarita la NASpI")
        await by_keyboard(desk, card.get_by_label("Risolta (primo livello)"), key="Space")
        await expect(card.get_by_label("Risolta (primo livello)")).to_be_checked()
        await by_keyboard(desk, desk.get_by_role("button", name="Riaggancia"))
        ticket, _ = await asyncio.wait_for(calling, 120)
        await by_keyboard(desk, card.get_by_role("button", name="Registra la scheda"))
        await expect(desk.locator("#call-alert")).to_have_text(f"Scheda della pratica {ticket.id} registrata.")

        filed = await line.engine.store.get(ticket.id)
        assert filed is not None and filed.survey_status == "completed"
        assert filed.resolution_note == "chiarita la NASpI"
        assert [e.detail["outcome"] for e in filed.events if e.kind == "outcome_filed"] == ["resolved"]
        kinds = [e.kind for e in filed.events]
        assert [k for k in kinds if k in ("operator_answered", "call_held", "call_unheld")] == [
            "operator_answered", "call_held", "call_unheld"
        ]  # fmt: skip
