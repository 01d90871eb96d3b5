"""A second language and the missed-calls work list, with real calls from the lab carrier."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.lab.carrier import LabCall
from tests.harness.callers import Watcher, run_call
from tests.harness.listen import PromptEar
from tests.harness.pbx import PbxPair
from tests.harness.queueline import queue_line
from tests.harness.voices import Voices

pytestmark = pytest.mark.asterisk
WELCOME_FLOW = """
name: welcome-queue
start: welcome
nodes:
  welcome: {type: play, prompt: welcome, languages: true, next: queue}
  queue: {type: queue, fallback: voicemail}
  voicemail: {type: voicemail, reason: busy}
"""


async def test_english_call_hears_english_and_lands_with_an_english_speaking_operator(
    pbx: PbxPair, tmp_path: Path, voices: Voices, prompts_cache: Path
) -> None:
    async with queue_line(pbx, tmp_path, voices, flow=WELCOME_FLOW) as line:
        await line.operator("italo")  # idle the longest, Italian only
        await asyncio.sleep(0.2)
        await line.operator("eve", skills=["lang:en"])

        async def english(call: LabCall, w: Watcher) -> None:
            await w.playing("language_offer")  # the offer has no wait of its own: 9 during it
            await asyncio.sleep(0.3)
            await call.press("9")
            await w.until_event("operator_answered", timeout=60)
            await asyncio.sleep(2)
            await call.hangup()

        ticket, call = await run_call(line.engine, pbx.carrier, "3472220001", english)
        assert ticket.language == "en"
        assert ticket.operator_id == line.engine.distributor.agents["eve"].info.id
        assert any(e.kind == "language" and e.detail == {"language": "en"} for e in ticket.events)
        english_ear = PromptEar(prompts_cache / "en")
        heard = await english_ear.hear(await call.heard())
        assert heard[:2] == ["language_offer", "welcome"], heard  # the offer, then the welcome in English
        italian = await PromptEar(prompts_cache).hear(call.heard_path)
        assert italian[:1] == ["welcome"]  # before the choice, the line's own welcome

        async def stays_italian(call: LabCall, w: Watcher) -> None:
            await w.until_event("operator_answered", timeout=60)
            await asyncio.sleep(1)
            await call.hangup()

        await line.until(lambda: line.state("italo").value == "available", "italo free")
        plain, _ = await run_call(line.engine, pbx.carrier, "3472220002", stays_italian)
        assert plain.language is None
        assert plain.operator_id == line.engine.distributor.agents["italo"].info.id


async def test_abandoned_and_cap_refused_calls_join_the_work_list(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with queue_line(pbx, tmp_path, voices, queue={"daily_cap": 1}) as line:
        await line.operator("gaia", presence="paused")  # logged in, not taking calls: callers wait

        async def wait_then_leave(call: LabCall, w: Watcher) -> None:
            await w.until_event("queue_admitted", timeout=30)
            await asyncio.sleep(2)
            await call.hangup()

        async def refused_then_leave(call: LabCall, w: Watcher) -> None:
            await w.played("queue_cap", timeout=30)
            await call.hangup()  # no message

        abandoned, _ = await run_call(line.engine, pbx.carrier, "3473330001", wait_then_leave)
        refused, _ = await run_call(line.engine, pbx.carrier, "3473330002", refused_then_leave)
        assert (abandoned.queue_result, refused.queue_result) == ("abandoned", "cap")
        missed = line.engine.missed
        for _ in range(50):
            found = await missed.listing()
            if len(found) == 2:
                break
            await asyncio.sleep(0.1)
        by_ticket = {m.ticket_id: m for m in found}
        assert by_ticket[abandoned.id].reason == "abandoned" and by_ticket[refused.id].reason == "cap"
        assert by_ticket[refused.id].number == "3473330002"
        assert by_ticket[refused.id].masked.endswith("002") and "3473330" not in by_ticket[refused.id].masked
        assert [m.ticket_id for m in await missed.listing(reason="cap")] == [refused.id]
