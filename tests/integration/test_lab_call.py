"""The README's way to call the line, and how soon a caller hears the menu (issue 26, items 1
and 3), on the shipped call flow with the shipped prompts (150 words a minute, not the suite's
faster ones).

`ivr lab call --digits 1` once waited 30 s and printed `ivr: `: the engine's Asterisk sends no
audio while it waits for a key, so talk detection never saw a prompt end; and a key pressed
during the language offer's second of waiting was taken by the offer and dropped. The menu's
first word came about 12 s after answering; the offer now has no wait of its own.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.schema.tickets import TicketEvent
from ivr.tickets.db import make_engine
from tests.harness.engine_process import EngineProcess
from tests.harness.pbx import REPO, PbxPair, connected, start_pair

pytestmark = pytest.mark.asterisk

MENU_WITHIN_S = 8.0


@pytest.fixture(scope="session")
def shipped_prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per worker: the shipped speed, apart from the suite's fast prompts."""
    return tmp_path_factory.mktemp("shipped-prompts")


def _ivr(engine: EngineProcess, *words: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IVR_CONFIG": str(engine.path)}
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli", *words], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def _events(url: str) -> list[tuple[str, dict[str, object]]]:
    db = make_engine(url)
    try:
        with Session(db) as session:
            rows = session.scalars(select(TicketEvent).order_by(TicketEvent.id))
            return [(e.kind, dict(e.detail or {})) for e in rows]
    finally:
        db.dispose()


@pytest.fixture
async def own_pair(prompts_cache: Path) -> AsyncIterator[PbxPair]:
    """A pair of its own, its carrier stopped: `ivr lab up` starts the lab carrier in its place."""
    async with connected(start_pair(prompts_cache, name=f"t{os.getpid()}-labcli")) as pair:
        await pair.carrier.close()
        pair.carrier.stop()
        yield pair


async def test_the_readmes_lab_call_with_a_key_reaches_the_menus_choice(
    own_pair: PbxPair, tmp_path: Path, shipped_prompts: Path
) -> None:
    (tmp_path / "asterisk").symlink_to(REPO / "config" / "asterisk")  # beside the config, as in config/
    engine = EngineProcess(own_pair, tmp_path, {"prompts": {"build_dir": str(shipped_prompts), "speed_wpm": 150}})
    await engine.start(timeout=180)
    try:
        up = _ivr(engine, "lab", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        called = await asyncio.to_thread(_ivr, engine, "lab", "call", "--digits", "1")  # as the README says
        assert called.returncode == 0, called.stdout + called.stderr
        assert "pressed 1" in called.stdout
        assert "what the caller heard:" in called.stdout
        routed = [d for k, d in _events(engine.database_url) if k == "menu_choice"]
        assert routed and routed[0]["key"] == "1", _events(engine.database_url)
    finally:
        _ivr(engine, "lab", "down")
        engine.stop()


async def test_the_menus_first_word_comes_within_eight_seconds_of_answering(
    pbx: PbxPair, tmp_path: Path, shipped_prompts: Path
) -> None:
    """What the caller hears before the menu is the welcome and the offer, nothing else and no
    wait, and that audio fits in 8 s with a second to spare for answering and setting up. The
    wall-clock figure is printed (bench/README.md has it from a quiet machine): a timed assertion
    would judge the machine's load, not the line."""
    engine = EngineProcess(pbx, tmp_path, {"prompts": {"build_dir": str(shipped_prompts), "speed_wpm": 150}})
    await engine.start(timeout=180)
    try:
        call = await pbx.carrier.call("800000039", caller_number="3330000026")
        answered = datetime.now().astimezone()
        states: dict[str, datetime] = {}
        for _ in range(300):
            states = {
                m.group(2): datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone()
                for m in re.finditer(r"^(\S+ \S+) INFO .*\] state (\S+)$", engine.log(), re.MULTILINE)
            }
            if "menu:menu" in states:
                break
            await asyncio.sleep(0.1)
        await call.hangup()
        assert "menu:menu" in states, engine.log()[-3000:]
    finally:
        engine.stop()
    before_menu = [shipped_prompts / "welcome.wav", shipped_prompts / "en" / "language_offer.wav"]
    audio = sum(_duration_s(p) for p in before_menu) + _leading_silence_s(shipped_prompts / "menu_main.wav")
    assert audio <= MENU_WITHIN_S - 1.0, f"{audio:.2f} s of prompts before the menu"
    spoken = (states["menu:menu"] - states["play:welcome"]).total_seconds()
    assert spoken < audio + 1.0, f"the welcome took {spoken:.2f} s for {audio:.2f} s of audio: a wait of its own"
    assert list(states)[-3:] == ["play:welcome", "consent:consent", "menu:menu"]
    first_word = (states["menu:menu"] - answered).total_seconds()
    print(f"menu's first word {first_word:.2f} s after answering ({audio:.2f} s of prompts before it)")


def _duration_s(path: Path) -> float:
    from ivr.audio import pcm16

    samples, rate = pcm16(path)
    return len(samples) / rate


def _leading_silence_s(path: Path) -> float:
    from ivr.audio import pcm16

    samples, rate = pcm16(path)
    for i, s in enumerate(samples):
        if abs(s) > 500:
            return i / rate
    return len(samples) / rate
