"""A soak caller cut while speaking its message still says it left one: the line keeps what was
said whoever ends the call (the product's rule), so the caller's journal must not say "no
message" for it.

The medium soak's second run had 8 tickets "a message with audio is stored, the caller left
none": ticket 431's caller was sent to voicemail after 75 s in the queue and spoke on until its own
180 s ran out (the engine kept 84 s of message; the journal said message_s 0, no message), and
ticket 480's caller had spoken 7.8 s when the Asterisk restart ended the call (the engine kept
them; the journal said no message because the line, not the caller, hung up)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from ivr.lab.carrier import LabCarrier
from ivr.lab.soak.callers import CallerKit, SoakCaller
from ivr.lab.soak.ear import tone
from ivr.lab.soak.journal import HungUpBy
from ivr.lab.soak.model import Goal, Journey
from tests.unit.soak_fake_line import FakeCall, FakeCarrier, build_prompts, sound, write_wav


def beep(call: FakeCall) -> None:
    samples = np.concatenate([tone(700.0, 0.5), np.zeros(4000)])
    with call.heard_path.open("ab") as f:
        f.write(samples.astype("<i2").tobytes())


@pytest.mark.parametrize("cut_by", ["line", "patience"])
async def test_a_caller_cut_while_speaking_has_left_a_message(tmp_path: Path, cut_by: str) -> None:
    async def line(call: FakeCall, caller: str | None) -> None:
        call.play("welcome", "consent_notice")
        assert await call.key() == "1"
        call.play("menu_main")
        assert await call.key() == "1"
        call.play("queue_enter")
        assert await call.key() == "9"  # the caller chooses to leave a message
        beep(call)
        if cut_by == "line":
            await asyncio.sleep(3.0)  # the caller speaks; then Asterisk goes away
            await call.channel.hangup()
        else:
            await call.channel.gone.wait()  # the line records until the caller hangs up

    carrier = FakeCarrier(tmp_path, line)
    voice = write_wav(tmp_path / "anna.wav", sound("operator:anna"))
    speech = write_wav(tmp_path / "speech.wav", sound("speech"))
    # The caller's whole call may last 8 s; its message would last 30 s.
    kit = CallerKit(cast(LabCarrier, carrier), "800000039", build_prompts(tmp_path / "prompts"),
                    {"anna": voice}, speech, max_call_s=8.0)  # fmt: skip
    journey = Journey(name="voicemail/citizens/it", goal=Goal.VOICEMAIL, at_s=0, caller="3471000011",
                      consent_key="1", menu_keys=["1"], topic="citizens", message_s=30.0)  # fmt: skip
    record = await asyncio.wait_for(SoakCaller(kit, journey).run(), 60)
    await carrier.close()
    assert record.left_message, "the caller spoke for seconds; the line keeps what was said"
    assert record.message_s >= 2.0
    if cut_by == "line":
        assert record.hung_up_by == HungUpBy.ENGINE
    else:
        assert (record.hung_up_by, record.hangup_state) == (HungUpBy.CALLER, "voicemail:gave-up")
