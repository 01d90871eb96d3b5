"""Browser desks for tests: one login through the console's form, one desk opened and
registered, one operator with a console account, one line for desk calls. Every browser test
that needs an operator at a desk gets it from here (the `phone_browser` fixture, a Chromium with a
microphone, is in conftest.py)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, expect

from ivr.app import Engine
from ivr.lab.carrier import LabCall
from ivr.lab.soak.desk_operator import media_flags as operator_media_flags
from ivr.tickets.store import TicketView
from tests.console_support import PASSWORD
from tests.harness.callers import Script, Watcher
from tests.harness.pbx import PbxPair
from tests.harness.queueline import QueueLine
from tests.harness.voices import Voices

CITIZEN = "3479876543"
# A menu straight to the queue (two topics), a one-question survey: the desk's calls, no welcome.
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


async def login(context: BrowserContext, base: str, user: str, password: str = PASSWORD) -> Page:
    """A new page logged in through the console's form, as a person does."""
    page = await context.new_page()
    await page.goto(f"{base}/")
    await expect(page.get_by_role("heading", name="Accesso alla console")).to_be_visible()
    await page.get_by_label("Nome utente").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Accedi").click()
    await expect(page.get_by_role("button", name="Esci")).to_be_visible()
    return page


async def open_desk(line: QueueLine, browser: Browser, login_name: str = "anna", *, goto: str | None = None) -> Page:
    """`login_name` logged in, in a browser profile of their own, with the desk's phone
    registered and the engine knowing it. `goto`: a page to open after landing (a supervisor
    lands on the wallboard; her desk is `/console/desk`)."""
    c = line.engine.settings.console
    base = f"http://{c.bind}:{c.port}"
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="it-IT")
    context.set_default_timeout(15_000)
    page = await login(context, base, login_name)
    if goto is not None:
        await page.goto(f"{base}{goto}")
    await page.wait_for_function("() => window.nulPhone && window.nulPhone.registered === true", timeout=20_000)
    await line.until(lambda: line.engine.distributor.agents[login_name].desk, f"{login_name}'s desk registered")
    return page


async def add_operator(line: QueueLine, login_name: str) -> None:
    """An operator of the line with a browser desk (no softphone) and a console account."""
    engine = line.engine
    await engine.operators.add(login_name, login_name.title(), now=engine.clock.now())
    await engine.operator_sync.run_once()
    assert engine.http is not None and engine.http.console is not None
    await engine.http.console.accounts.add(
        login_name, "operator", PASSWORD, engine.clock.now(), name=login_name.title(), operator=login_name
    )


async def citizen_call(
    engine: Engine, pbx: PbxPair, script: Script, number: str = CITIZEN
) -> tuple[TicketView, LabCall]:
    """A real call from `number`, `script` playing the citizen's part; returns its closed ticket
    (the newest of that number: a citizen may have called before) and the call."""
    with engine.bus.watch() as queue:
        call = await pbx.carrier.call(engine.settings.service.did, caller_number=number)
        await script(call, Watcher(queue, number))
        if not call.ended:
            await call.wait_ended(timeout=60)
    for _ in range(200):
        newest = (await engine.store.by_caller(number))[0]
        if not newest.open:
            return newest, call
        await asyncio.sleep(0.05)
    raise AssertionError("the call's ticket was not closed")
