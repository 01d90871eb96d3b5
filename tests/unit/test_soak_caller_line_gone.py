"""A soak caller waiting in the queue when the line ends the call (an Asterisk restart hangs up
every caller at once) stops waiting and gives the event loop back.

The soak's finding 10: the "Asterisk restarted" fault held the line for 3 minutes in runs 8 and
9, but the engine had its ARI and AMI back within a second of the restart. The soak's own process
was stuck: a caller waiting for an operator asked its ear again and again, the ear answered at
once that the call was over, and the loop went round without ever yielding until the caller's
patience (`max_call_s`, 180 s) ran out; no other caller, fault or driver step ran meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from ivr.lab.carrier import LabCarrier
from ivr.lab.soak import ear as ear_module
from ivr.lab.soak.callers import CallerKit, SoakCaller
from ivr.lab.soak.journal import HungUpBy
from ivr.lab.soak.model import Goal, Journey
from tests.unit.soak_fake_line import FakeCall, FakeCarrier, build_prompts, sound, write_wav


async def test_a_queued_caller_whose_call_the_line_ends_stops_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended = asyncio.Event()
    asked_after_hangup: list[object] = []  # the caller's questions to its ear once the call was over
    wait = ear_module.Ear.wait

    async def counted(self: ear_module.Ear, names: Any, **kw: Any) -> ear_module.Heard | None:
        if ended.is_set():
            asked_after_hangup.append(names)
        return await wait(self, names, **kw)

    monkeypatch.setattr(ear_module.Ear, "wait", counted)

    async def line(call: FakeCall, caller: str | None) -> None:
        call.play("welcome", "consent_notice")
        assert await call.key() == "1"
        call.play("menu_main")
        assert await call.key() == "2"
        call.play("queue_enter")
        await asyncio.sleep(0.5)  # the caller hears it and waits for an operator
        await call.channel.hangup()  # the line's Asterisk goes away: every call ends
        ended.set()

    carrier = FakeCarrier(tmp_path, line)
    voice = write_wav(tmp_path / "anna.wav", sound("operator:anna"))
    speech = write_wav(tmp_path / "speech.wav", sound("speech"))
    # A caller's patience of 4 s: before the fix the caller spun on for all of it, then hung up
    # itself "in the queue" (and the whole soak stood still that long).
    kit = CallerKit(cast(LabCarrier, carrier), "800000039", build_prompts(tmp_path / "prompts"),
                    {"anna": voice}, speech, max_call_s=4.0)  # fmt: skip
    journey = Journey(name="operator/employers/it", goal=Goal.OPERATOR, at_s=0, caller="3471000009",
                      consent_key="1", menu_keys=["2"], topic="employers")  # fmt: skip
    record = await asyncio.wait_for(SoakCaller(kit, journey).run(), 60)
    await carrier.close()
    assert (record.hung_up_by, record.hangup_state) == (HungUpBy.ENGINE, None), "the line ended the call"
    assert not record.heard_operator and record.topic == "employers"
    # Asked once (or twice: the last read after the hangup), not round and round (before the
    # fix: hundreds of thousands of times in the 4 s, none of them yielding to the loop).
    assert len(asked_after_hangup) <= 2, f"the caller asked its ear {len(asked_after_hangup)} times"
