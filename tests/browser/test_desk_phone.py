"""The desk is the phone: an operator logs into the desk in headless Chromium, whose microphone
plays an Italian WAV; the desk's phone registers over WSS; a citizen calls through the lab
carrier and chooses the topic; the page rings with the call's card, the operator answers in the
page, both hear each other over DTLS-SRTP, the operator hangs up in the page and the citizen is
offered the survey. A desk that closes or freezes pauses its operator."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from ivr.acd.agents import AgentState
from ivr.lab.carrier import LabCall
from ivr.lab.soak.desk_operator import media_flags as operator_media_flags
from ivr.webphone.desks import CLOSED_REASON
from tests.browser.conftest import CHROMIUM, FLAGS
from tests.browser.test_console_roles import login
from tests.console_support import PASSWORD
from tests.harness.callers import Watcher
from tests.harness.listen import contains, loudness
from tests.harness.pbx import PbxPair
from tests.harness.queueline import QueueLine, queue_line
from tests.harness.voices import Voices

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]
CITIZEN = "3479876543"
FLOW = """
name: desk-phone
start: menu
nodes:
  menu:
    type: menu
    prompt: menu_main
    options:
      "1": {next: queue, topic: citizens}
      "2": {next: queue, topic: employers}
    default: {next: queue, topic: citizens}
  queue: {type: queue, fallback: voicemail, next: survey}
  survey:
    type: survey
    timeout_s: 6
    questions: [{id: satisfaction, prompt: survey_satisfaction, keys: "12345"}]
  voicemail: {type: voicemail, reason: busy}
"""
# The operator's synthetic voice is what browsers' noise suppression removes: off here.
WEBRTC = {"heartbeat_s": 1, "desk_timeout_s": 4, "audio_processing": False}


def media_flags(microphone: Path) -> list[str]:
    """Chromium as an operator (ivr.lab.soak.desk_operator.media_flags), reporting its memory."""
    return [*operator_media_flags(microphone), "--enable-precise-memory-info"]


def microphone_wav(voices: Voices, folder: Path) -> Path:
    """The operator's voice at 48 kHz, Chromium's own rate (16-bit PCM, as it wants)."""
    target = folder / "operator-48k.wav"
    if not target.exists():
        subprocess.run(["sox", str(voices.operator), "-r", "48000", "-b", "16", str(target)], check=True)
    return target


@pytest.fixture
async def phone_browser(voices: Voices, tmp_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        flags = FLAGS + media_flags(microphone_wav(voices, tmp_path))
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_desk(line: QueueLine, browser: Browser, login_name: str = "anna") -> Page:
    c = line.engine.settings.console
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="it-IT")
    context.set_default_timeout(15_000)
    page = await login(context, f"http://{c.bind}:{c.port}", login_name)
    await page.wait_for_function("() => window.nulPhone && window.nulPhone.registered === true", timeout=20_000)
    await line.until(lambda: line.engine.distributor.agents[login_name].desk, f"{login_name}'s desk registered")
    return page


async def add_operator(line: QueueLine, login_name: str) -> None:
    engine = line.engine
    await engine.operators.add(login_name, login_name.title(), now=engine.clock.now())
    await engine.operator_sync.run_once()
    assert engine.http is not None and engine.http.console is not None
    await engine.http.console.accounts.add(
        login_name, "operator", PASSWORD, engine.clock.now(), name=login_name.title(), operator=login_name
    )


async def test_the_desk_rings_answers_and_hangs_up_with_real_media(
    pbx: PbxPair, tmp_path: Path, voices: Voices, phone_browser: Browser
) -> None:
    webrtc = {"asterisk": {"webrtc": WEBRTC}}
    async with queue_line(pbx, tmp_path, voices, flow=FLOW, queue={"wrap_up_s": 2}, **webrtc) as line:
        engine = line.engine
        await add_operator(line, "anna")
        desk = await open_desk(line, phone_browser)
        await expect(desk.locator("#phone-status")).to_contain_text("Telefono pronto")
        await desk.get_by_role("button", name="Disponibile").click()
        await expect(desk.locator("#my-state")).to_have_text("Disponibile")
        assert engine.distributor.agents["anna"].endpoint() == "PJSIP/web-anna"  # the desk, not a softphone

        caller_voice = pbx.carrier.add_voice("caller", voices.caller)
        pressed: list[float] = []
        talking = asyncio.Event()

        async def citizen(call: LabCall, w: Watcher) -> None:
            await w.playing("menu_main")
            await asyncio.sleep(1.0)
            pressed.append(time.time())
            await call.press("1")  # cittadini e lavoratori
            await w.until_event("operator_answered", timeout=40)
            await asyncio.sleep(1.0)
            await call.say(caller_voice)
            talking.set()
            await w.playing("survey_satisfaction", timeout=60)  # the operator hung up: the survey
            await asyncio.sleep(1.0)
            await call.press("4")

        calling = asyncio.ensure_future(_call(line, pbx, citizen))
        answer = desk.get_by_role("button", name="Rispondi")
        await expect(answer).to_be_visible(timeout=40_000)
        card = desk.locator(".call-card.ringing")
        await expect(card).to_be_visible()  # the card is there as it rings
        await expect(card.locator(".topic")).to_have_text("Cittadini e lavoratori")
        await expect(desk.locator("#phone-ringing")).to_contain_text("Cittadini e lavoratori")
        ring_at = await desk.evaluate("() => window.nulPhone.ringAt")
        print(f"\ndesk phone: caller's menu key to the desk ringing: {ring_at / 1000 - pressed[0]:.3f} s")

        await answer.click()
        await expect(desk.locator("#phone-status")).to_have_text("In conversazione.")
        await asyncio.wait_for(talking.wait(), 30)
        await asyncio.sleep(6.0)  # the citizen speaks; the operator's microphone plays the WAV
        phone: dict[str, Any] = await desk.evaluate("() => window.nulPhone")
        print(f"desk phone: loudest caller audio in the page (RMS of 1024 samples): {phone['peak']:.3f}")
        assert phone["peak"] > 0.01, phone["peak"]  # the page receives the caller's voice (above -40 dBFS)
        for sdp in (phone["lastOffer"], phone["lastAnswer"]):
            assert "UDP/TLS/RTP/SAVPF" in sdp and "a=fingerprint:sha-256" in sdp.lower(), sdp  # DTLS-SRTP
            assert "RTP/AVP " not in sdp
        await desk.get_by_role("button", name="Spegni il microfono").click()
        await expect(desk.get_by_role("button", name="Riattiva il microfono")).to_have_attribute("aria-pressed", "true")
        await desk.get_by_role("button", name="Riaggancia").click()
        await expect(desk.locator("#phone-status")).to_contain_text("Chiamata terminata")

        ticket, call = await asyncio.wait_for(calling, 90)
        assert ticket.queue_result == "answered" and ticket.topic == "citizens"
        ended = next(e for e in ticket.events if e.kind == "operator_call_ended")
        assert ended.detail is not None and ended.detail["ended_by"] == "operator"
        offer = next(e for e in ticket.events if e.kind == "offer")
        assert offer.detail is not None and offer.detail["via"] == "browser"
        assert ticket.survey_status == "completed"
        heard = await call.heard()
        assert contains(heard, voices.operator), loudness(heard)  # the caller heard the operator's WAV

        # Closing the tab pauses the operator at once: no call rings into nothing.
        await line.until(lambda: line.state("anna") is AgentState.AVAILABLE, "anna out of wrap-up")
        await desk.close(run_before_unload=True)
        await line.until(lambda: line.state("anna") is AgentState.PAUSED, "anna paused by the closed desk")
        assert engine.distributor.agents["anna"].pause_reason == CLOSED_REASON
        assert (await engine.operators.get("anna")).presence == "paused"


async def test_a_frozen_desk_pauses_its_operator_until_they_choose(
    pbx: PbxPair, tmp_path: Path, voices: Voices, phone_browser: Browser
) -> None:
    async with queue_line(pbx, tmp_path, voices, flow=FLOW, asterisk={"webrtc": WEBRTC}) as line:
        await add_operator(line, "bea")
        desk = await open_desk(line, phone_browser, "bea")
        await desk.get_by_role("button", name="Disponibile").click()
        await expect(desk.locator("#my-state")).to_have_text("Disponibile")
        cdp = await desk.context.new_cdp_session(desk)
        await cdp.send("Debugger.enable")
        await cdp.send("Debugger.pause")  # the page's script stops, as in a frozen tab: no heartbeat
        await line.until(lambda: line.state("bea") is AgentState.PAUSED, "bea paused by the silent desk")
        assert line.engine.distributor.agents["bea"].pause_reason == CLOSED_REASON
        await cdp.send("Debugger.resume")
        await cdp.detach()
        await desk.reload()
        await desk.wait_for_function("() => window.nulPhone && window.nulPhone.registered === true")
        await asyncio.sleep(2.0)  # heartbeats come again; the operator stays paused
        assert line.state("bea") is AgentState.PAUSED
        await expect(desk.locator("#desk-state")).to_contain_text("Scrivania chiusa")
        await desk.get_by_role("button", name="Disponibile").click()
        await expect(desk.locator("#my-state")).to_have_text("Disponibile")


async def _call(line: QueueLine, pbx: PbxPair, script: Any) -> tuple[Any, LabCall]:
    engine = line.engine
    with engine.bus.watch() as queue:
        call = await pbx.carrier.call(engine.settings.service.did, caller_number=CITIZEN)
        await script(call, Watcher(queue, CITIZEN))
        if not call.ended:
            await call.wait_ended(timeout=60)
    for _ in range(200):
        newest = (await engine.store.by_caller(CITIZEN))[0]
        if not newest.open:
            return newest, call
        await asyncio.sleep(0.05)
    raise AssertionError("the call's ticket was not closed")


async def test_two_desks_of_one_operator_the_newer_has_the_phone_and_the_older_says_so(
    pbx: PbxPair, tmp_path: Path, voices: Voices, phone_browser: Browser
) -> None:
    """Two browsers logged in as one operator took the phone from each other every second (each
    refused registration asked for a new password, which refused the other's): the newer keeps
    it, the older says so and stops, and takes it back only when the operator asks it to."""
    webrtc = {"asterisk": {"webrtc": WEBRTC}}
    async with queue_line(pbx, tmp_path, voices, flow=FLOW, **webrtc) as line:
        await add_operator(line, "anna")
        older = await open_desk(line, phone_browser)
        newer = await open_desk(line, phone_browser)
        await expect(older.locator("#phone-status")).to_contain_text("passato a un'altra scrivania", timeout=20_000)
        await expect(older.get_by_role("button", name="Usa il telefono qui")).to_be_visible()
        await asyncio.sleep(3.0)  # a few of the older desk's would-be retries: none takes the phone
        assert await newer.evaluate("() => window.nulPhone.registered") is True
        assert await older.evaluate("() => window.nulPhone.state") == "displaced"

        await older.get_by_role("button", name="Usa il telefono qui").click()
        await older.wait_for_function("() => window.nulPhone.registered === true", timeout=20_000)
        await expect(newer.locator("#phone-status")).to_contain_text("passato a un'altra scrivania", timeout=20_000)
