"""The desk is the phone: an operator logs into the desk in headless Chromium, whose microphone
plays an Italian WAV; the desk's phone registers over WSS; a citizen calls through the lab
carrier and chooses the topic; the page rings with the call's card, the operator answers in the
page, both hear each other over DTLS-SRTP, the operator hangs up in the page and the citizen is
offered the survey. A desk that closes or freezes pauses its operator."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from ivr.acd.agents import AgentState
from ivr.lab.carrier import LabCall
from ivr.webphone.desks import CLOSED_REASON
from tests.browser.desks import FLOW, WEBRTC, add_operator, citizen_call, open_desk
from tests.harness.callers import Watcher
from tests.harness.listen import contains, loudness
from tests.harness.pbx import PbxPair
from tests.harness.queueline import queue_line
from tests.harness.voices import Voices

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]


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

        calling = asyncio.ensure_future(citizen_call(line.engine, pbx, citizen))
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
