"""The citizen's phone as the witness of "one leg at a time": a leg is over when the line hangs it
up, not when the soak has finished reading its recording.

Full run 6 (tickets 52 and 103): the ears' reading thread ran 12 to 17 s behind, a leg's task
ended only once its recording was read, and the phone answered the next ring "busy" and dated the
leg's end that late; the checker saw two legs at once where the line's own dial-out audit had the
next leg dialled 11 s after the last one was hung up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.lab.soak import ear as ear_module
from ivr.lab.soak.checks_callbacks import _overlap
from ivr.lab.soak.citizen import CallbackPhones, LegSounds, answer_leg, wait_for_callback
from tests.unit.soak_fake_line import FakeRing, sound

NUMBER = "3896624389"
NOTICE = "callback_citizen_notice"
ANNA = "operator:anna"
BEHIND_S = 1.5  # how long the last read of a leg's recording waits for the reading thread


@pytest.fixture
def reader_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = ear_module.Ear.stop

    async def late_stop(self: ear_module.Ear) -> None:
        await stop(self)
        await asyncio.sleep(BEHIND_S)  # behind the other calls' ears, as in run 6

    monkeypatch.setattr(ear_module.Ear, "stop", late_stop)


@pytest.mark.usefixtures("reader_behind")
async def test_a_ring_after_the_line_hung_up_the_last_leg_is_answered_while_its_recording_is_read(
    tmp_path: Path,
) -> None:
    recordings = tmp_path / "recordings"
    sounds = LegSounds(
        refs={name: sound(name) for name in (NOTICE, ANNA)},
        notices=frozenset({NOTICE}),
        survey_intros=frozenset(),
        survey_questions=(),
    )
    phones = CallbackPhones(asyncio.Queue())
    citizen = asyncio.ensure_future(
        wait_for_callback(phones, NUMBER, lambda ring: answer_leg(ring, recordings, sounds, [], 30.0), 20.0)
    )
    await asyncio.sleep(0.1)

    first = FakeRing(NUMBER, recordings)
    phones.put_nowait(first)
    await asyncio.wait_for(first.channel.answered.wait(), 5)
    await first.heard_by_citizen(NOTICE)
    await asyncio.sleep(0.5)
    await first.hangup()  # the operator left during the notice: the line hangs the citizen up
    await asyncio.sleep(0.3)

    second = FakeRing(NUMBER, recordings)  # dialled again, the first leg's recording still being read
    phones.put_nowait(second)
    await asyncio.wait_for(second.channel.answered.wait(), 5)
    await second.heard_by_citizen(NOTICE, ANNA)
    await asyncio.sleep(1.0)
    await second.hangup()

    legs, _ = await asyncio.wait_for(citizen, 30)
    assert [(leg.answered, leg.busy) for leg in legs] == [(True, False), (True, False)]
    assert legs[1].heard_operator
    assert legs[0].ended_at is not None and legs[0].ended_at <= legs[1].rang_at
    assert _overlap(legs) is None


@pytest.mark.usefixtures("reader_behind")
async def test_a_ring_while_a_leg_is_up_is_still_busy(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    sounds = LegSounds(
        refs={name: sound(name) for name in (NOTICE, ANNA)},
        notices=frozenset({NOTICE}),
        survey_intros=frozenset(),
        survey_questions=(),
    )
    phones = CallbackPhones(asyncio.Queue())
    citizen = asyncio.ensure_future(
        wait_for_callback(phones, NUMBER, lambda ring: answer_leg(ring, recordings, sounds, [], 30.0), 20.0)
    )
    await asyncio.sleep(0.1)
    first = FakeRing(NUMBER, recordings)
    phones.put_nowait(first)
    await asyncio.wait_for(first.channel.answered.wait(), 5)
    second = FakeRing(NUMBER, recordings)
    phones.put_nowait(second)
    await asyncio.wait_for(second.channel.gone.wait(), 5)  # refused while the first is up
    await first.heard_by_citizen(NOTICE, ANNA)
    await asyncio.sleep(1.0)
    await first.hangup()

    legs, _ = await asyncio.wait_for(citizen, 30)
    assert [(leg.answered, leg.busy) for leg in legs] == [(True, False), (False, True)]
    assert _overlap(legs) is legs[1]
