"""Headless Chromium (Debian's) driven by Playwright, one browser for the whole session.

Only Debian's chromium is used (Playwright's own browser downloads are never needed); the flags
keep it from calling out to the network, which this closed lab does not have."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

from ivr.lab.soak.desk_operator import CHROMIUM, HEADLESS
from tests.browser.desks import media_flags, microphone_wav
from tests.harness.stuck import STUCK
from tests.harness.voices import Voices

FLAGS = HEADLESS
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    STUCK.loop = asyncio.get_running_loop()
    async with async_playwright() as pw:
        # launch() gives every run a fresh, throw-away profile directory.
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def new_context(browser: Browser) -> AsyncIterator[object]:
    """Factory of isolated browser profiles (one per person logged in), 1280x800, Italian."""
    contexts: list[BrowserContext] = []

    async def make() -> BrowserContext:
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="it-IT")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
async def phone_browser(voices: Voices, tmp_path: Path) -> AsyncIterator[Browser]:
    """A Chromium of its own whose microphone plays the operator's voice (tests/browser/desks.py)."""
    async with async_playwright() as pw:
        flags = FLAGS + media_flags(microphone_wav(voices, tmp_path))
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()
