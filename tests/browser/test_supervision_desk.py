"""A supervisor on a live call from the wallboard, in a real browser: the operator answers in her
desk page, the supervisor clicks "Ascolta" on her row of the wallboard, her own phone at home
rings and she confirms with 1; from that moment to the end the operator's page says who is on the
call and how, as she coaches and joins in, and stops saying it when she leaves. Each session is in
the audit log and on the operator's own page. (What each leg hears is
tests/integration/test_supervision_audio.py.)"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from ivr.lab.carrier import LabCall
from tests.browser.desks import FLOW, WEBRTC, add_operator, citizen_call, login, open_desk
from tests.console_support import PASSWORD
from tests.harness.callers import Script, Watcher
from tests.harness.pbx import PbxPair
from tests.harness.queueline import queue_line
from tests.harness.voices import Voices

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]
NOTICE = "I supervisori possono ascoltare le tue conversazioni per la formazione: la scrivania te lo mostra sempre."
# The line both tests run: the desk phone's flow, browser phones, supervision on with its notice.
LINE: dict[str, Any] = {
    "flow": FLOW,
    "asterisk": {"webrtc": WEBRTC},
    "supervision": {"enabled": True, "operator_notice": NOTICE},
}


async def _click(board: Page, button: str) -> None:
    """A button of anna's row (the row is redrawn live: found again on every click)."""
    await board.locator('td.supervision[data-operator="anna"]').get_by_role("button", name=button).click()


async def test_the_operators_desk_shows_who_listens_coaches_and_joins_for_the_whole_session(
    pbx: PbxPair, tmp_path: Path, voices: Voices, phone_browser: Browser
) -> None:
    async with queue_line(pbx, tmp_path, voices, **LINE) as line:
        engine = line.engine
        await add_operator(line, "anna")
        await line.operator("sara", softphone=False, phone="3470000084", presence="paused")  # her phone, at home
        assert engine.http is not None and engine.http.console is not None
        accounts = engine.http.console.accounts
        await accounts.add("sara", "supervisor", PASSWORD, engine.clock.now(), name="Sara", operator="sara")
        desk = await open_desk(line, phone_browser)
        await expect(desk.locator("#supervision-notice")).to_contain_text("la scrivania te lo mostra sempre")
        await desk.get_by_role("button", name="Disponibile").click()
        await expect(desk.locator("#my-state")).to_have_text("Disponibile")
        done = asyncio.Event()
        calling = asyncio.ensure_future(citizen_call(line.engine, pbx, _citizen(done)))
        try:
            await desk.get_by_role("button", name="Rispondi").click(timeout=40_000)
            await expect(desk.locator("#phone-status")).to_have_text("In conversazione.")
            await expect(desk.locator("#supervised")).to_have_count(0)

            c = engine.settings.console
            context = await phone_browser.new_context(viewport={"width": 1280, "height": 800}, locale="it-IT")
            context.set_default_timeout(15_000)
            board = await login(context, f"http://{c.bind}:{c.port}", "sara")
            await board.goto(f"http://{c.bind}:{c.port}/console/wallboard")
            await _click(board, "Ascolta")
            ring = await asyncio.wait_for(pbx.carrier.phones.get(), 60)
            assert ring.number == "3470000084"
            indicator = desk.locator("#supervised")
            await expect(indicator).to_contain_text("Sara in ascolto")  # told while her phone still rings
            await ring.take_offer()
            await line.until(lambda: _state(line) == "on", "sara on the call", 30)
            await expect(indicator).to_have_attribute("data-mode", "listen")
            await expect(indicator).not_to_contain_text("sta per collegarsi")
            row = board.locator('td.supervision[data-operator="anna"]')
            await expect(row.locator(".supervised")).to_contain_text("Sara: in ascolto")

            await _click(board, "Suggerisci")
            await expect(indicator).to_have_attribute("data-mode", "coach")
            await expect(indicator).to_contain_text("ti sta suggerendo (il chiamante non lo sente)")
            await _click(board, "Intervieni")
            await expect(indicator).to_have_attribute("data-mode", "barge")
            await expect(indicator).to_contain_text("il chiamante lo sente")
            await _click(board, "Lascia")
            await expect(indicator).to_have_count(0)
            await expect(board.locator('td.supervision[data-operator="anna"] .supervised')).to_have_count(0)
            await asyncio.wait_for(ring.channel.wait_gone(), 15)  # her phone is hung up

            mine = await desk.context.new_page()
            await mine.goto(f"http://{c.bind}:{c.port}/console/desk/supervision")
            await expect(mine.locator("#my-supervision tbody tr")).to_have_count(4)
            await expect(mine.locator('tr[data-action="supervision_ended"]')).to_contain_text("chiusa dal supervisore")
        finally:
            done.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(calling, 60)

        entries = [e for e in await accounts.audit_entries(limit=50) if e.action.startswith("supervision_")]
        assert [(e.action, e.login, e.object_id) for e in reversed(entries)] == [
            ("supervision_started", "sara", "anna"),
            ("supervision_mode", "sara", "anna"),
            ("supervision_mode", "sara", "anna"),
            ("supervision_ended", "sara", "anna"),
        ]


def _state(line: object) -> str | None:
    engine = line.engine  # type: ignore[attr-defined]
    session = engine.http.console.supervision.of("anna")
    return None if session is None else str(session.state)


async def test_a_supervisor_follows_on_her_own_browser_desk(
    pbx: PbxPair, tmp_path: Path, voices: Voices, phone_browser: Browser
) -> None:
    async with queue_line(pbx, tmp_path, voices, **LINE) as line:
        engine = line.engine
        await add_operator(line, "anna")
        await engine.operators.add("sara", "Sara", now=engine.clock.now())  # her desk is her phone
        await engine.operator_sync.run_once()
        assert engine.http is not None and engine.http.console is not None
        await engine.http.console.accounts.add(
            "sara", "supervisor", PASSWORD, engine.clock.now(), name="Sara", operator="sara"
        )
        desk = await open_desk(line, phone_browser)
        await desk.get_by_role("button", name="Disponibile").click()
        sara = await open_desk(line, phone_browser, "sara", goto="/console/desk")
        await sara.get_by_role("button", name="Disponibile").click()  # taking calls: reserved while she follows
        await expect(sara.locator("#my-state")).to_have_text("Disponibile")
        done = asyncio.Event()
        calling = asyncio.ensure_future(citizen_call(line.engine, pbx, _citizen(done)))
        try:
            answer = desk.get_by_role("button", name="Rispondi")
            await answer.click(timeout=40_000)
            await expect(desk.locator("#phone-status")).to_have_text("In conversazione.")
            c = engine.settings.console
            board = await sara.context.new_page()
            await board.goto(f"http://{c.bind}:{c.port}/console/wallboard")
            await _click(board, "Ascolta")
            await expect(sara.locator("#phone-ringing .who")).to_contain_text("Supervisione · anna · pratica #")
            await sara.get_by_role("button", name="Rispondi").click()
            await expect(sara.locator("#phone-status")).to_have_text("In conversazione.")
            await line.until(lambda: _state(line) == "on", "sara on the call", 30)
            await expect(desk.locator("#supervised")).to_contain_text("Sara in ascolto")
            await expect(desk.locator("#supervised")).not_to_contain_text("sta per collegarsi")
            await expect(sara.locator("#following")).to_contain_text("Stai seguendo la conversazione di anna")
            await expect(sara.locator(".call-card")).to_have_count(0)  # the followed call is not hers to file
            await asyncio.sleep(4.0)  # anna's microphone speaks (her desk's WAV): sara's page hears the call
            peak = float(await sara.evaluate("() => window.nulPhone.peak"))
            print(f"supervisor's desk: loudest audio heard while listening (RMS of 1024 samples): {peak:.3f}")
            assert peak > 0.01, peak  # above -40 dBFS: the snoop reaches her browser
            await _click(board, "Lascia")
            await expect(desk.locator("#supervised")).to_have_count(0)
            await expect(sara.locator("#phone-status")).to_contain_text("Chiamata terminata")
            await expect(sara.locator("#my-state")).to_have_text("Disponibile")
        finally:
            done.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(calling, 60)


def _citizen(done: asyncio.Event) -> Script:
    """Chooses the citizens' topic and stays on the line until `done`."""

    async def script(call: LabCall, w: Watcher) -> None:
        await w.playing("menu_main")
        await asyncio.sleep(1.0)
        await call.press("1")
        await done.wait()
        await call.hangup()

    return script
