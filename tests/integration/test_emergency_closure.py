"""An emergency closure on a real line: a caller waits in the queue (nobody free) when a supervisor
closes the line "now" and sends those waiting to leave a message; the caller hears why within a
second or two, then the voicemail's instructions, and leaves a message; the ticket says they were
sent away. What the console's switch does (ivr.console.admin.add_closure), on the engine's own
closure desk and queue."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.lab.carrier import LabCall
from ivr.tickets.audit import Actor
from ivr.tickets.status import QueueResult
from tests.harness.callers import Watcher
from tests.harness.listen import closed_wav, contains
from tests.harness.pbx import PbxPair
from tests.harness.queueline import queue_line
from tests.harness.voices import Voices

pytestmark = pytest.mark.asterisk


async def test_a_caller_waiting_when_the_line_closes_now_is_sent_to_leave_a_message(
    pbx: PbxPair, tmp_path: Path, voices: Voices
) -> None:
    async with queue_line(pbx, tmp_path, voices) as line:
        await line.operator("ada", softphone=False, phone="3470000091", presence="paused")  # nobody free
        engine = line.engine
        assert engine.http is not None and engine.http.console is not None
        console = engine.http.console
        waiting = asyncio.Event()
        message = pbx.carrier.add_voice(f"closure-caller-{tmp_path.name}", voices.caller)

        async def caller(call: LabCall, w: Watcher) -> None:
            await w.until_event("queue_admitted", timeout=60)
            waiting.set()
            await w.played("vm_record_instructions", timeout=60)
            await asyncio.sleep(1.0)  # the beep
            await call.say(message)
            await call.hangup()

        calling = asyncio.ensure_future(line.call(caller))
        await asyncio.wait_for(waiting.wait(), 60)
        await asyncio.sleep(2.0)  # waiting, with the queue's music
        at = engine.clock.now()
        await console.closing.close_now("Allagamento della sede", None, at=at, by=Actor(login="sara"))
        assert console.queue.distributor.send_away(QueueResult.CLOSED) == 1
        ticket, call = await asyncio.wait_for(calling, 90)

        sent = [e for e in ticket.events if e.kind == "queue_sent_away"]
        assert [e.detail for e in sent] == [{"to": "closed"}]
        assert (sent[0].at - at).total_seconds() < 2.0  # told within a moment of the switch
        assert ticket.queue_result == "closed" and ticket.outcome == "voicemail"
        kinds = [e.kind for e in ticket.events]
        assert kinds.index("queue_sent_away") < kinds.index("voicemail_left")
        heard = await call.heard()
        await closed_wav(heard)
        assert contains(heard, engine.prompts.build_dir / "queue_closed_now.wav")  # told why, by ear
