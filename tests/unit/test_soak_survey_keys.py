"""Survey keys against the line's window for each question: the question and the survey node's
timeout, after which the line skips it and asks the next. Full run 6, ticket 100: the caller's ear
ran seconds behind, its 4 for the first question came 18 s after the survey began, after the line
had skipped that question, and the second refused it (`survey_invalid`); the checker said "the
caller answered the survey (4), nothing is stored". A key within its window must still be kept,
and one after the last question's window must not be."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from sqlalchemy import delete, select

from ivr.callflows.model import Flow
from ivr.lab.carrier import LabCarrier
from ivr.lab.soak.callers import CallerKit, SoakCaller
from ivr.lab.soak.checker import run_checks
from ivr.lab.soak.journal import KeyPress
from ivr.lab.soak.key_windows import line_key_windows
from ivr.lab.soak.kit import write_pcm16
from ivr.lab.soak.model import Goal, Journey
from ivr.lab.soak.verdict import CheckResult
from ivr.schema.tickets import SurveyAnswer
from tests.unit.soak_fake_line import FakeCall, FakeCarrier, build_prompts, sound, write_wav
from tests.unit.soak_world import SoakWorld, build_world

FIRST = "+393330000001"  # tests/unit/soak_world.py: answered the survey 5 then 4, both stored
SATISFACTION, SOLVED = "survey_satisfaction", "survey_solved"
ANNA = "operator:anna"


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> SoakWorld:
    return build_world(db_url, tmp_path)


def outcome(world: SoakWorld) -> CheckResult:
    return next(r for r in run_checks(world.evidence) if r.name == "outcome")


def details(result: CheckResult) -> list[str]:
    return [v.detail for v in result.violations]


def press(
    key: str, prompt: str, at_least: float, at_most: float, then: str | None, window: float | None = 9.0
) -> KeyPress:
    return KeyPress(key=key, prompt=prompt, at_least_s=at_least, at_most_s=at_most, window_s=window, next_prompt=then)


def keep_answers(world: SoakWorld, n: int) -> None:
    """Leave the first caller's first `n` stored answers."""
    with world.session() as s, s.begin():
        ids = s.scalars(
            select(SurveyAnswer.id).where(SurveyAnswer.ticket_id == world.ids[FIRST]).order_by(SurveyAnswer.id)
        ).all()
        s.execute(delete(SurveyAnswer).where(SurveyAnswer.id.in_(ids[n:])))


def test_each_question_takes_a_key_for_its_length_and_the_nodes_timeout(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    for folder, name, seconds in [
        (prompts, "survey_intro", 3.0),
        (prompts, SATISFACTION, 4.5),
        (prompts, SOLVED, 2.5),
        (prompts / "en", "survey_intro", 2.0),
        (prompts / "en", SATISFACTION, 4.0),
        (prompts / "en", SOLVED, 2.25),
        (prompts / "en", "language_offer", 1.0),
        (prompts / "de", "language_offer", 1.0),  # offered, but with no survey built: no window known
    ]:
        folder.mkdir(parents=True, exist_ok=True)
        write_pcm16(folder / f"{name}.wav", np.zeros(int(seconds * 8000)))
    questions = [
        {"id": "satisfaction", "prompt": SATISFACTION, "keys": "12345"},
        {"id": "solved", "prompt": SOLVED, "keys": "12"},
    ]
    flow = Flow.model_validate(
        {
            "name": "t",
            "start": "survey",
            "nodes": {"survey": {"type": "survey", "questions": questions, "timeout_s": 5.0}},
        }
    )
    assert line_key_windows(flow, prompts, "it") == pytest.approx(
        {
            "survey_intro": 3.0 + 4.5 + 5.0,  # a key during it waits for the first question
            SATISFACTION: 4.5 + 5.0,
            SOLVED: 2.5 + 5.0,
            "en:survey_intro": 2.0 + 4.0 + 5.0,
            f"en:{SATISFACTION}": 4.0 + 5.0,
            f"en:{SOLVED}": 2.25 + 5.0,
        }
    )


def test_a_key_after_its_questions_window_may_go_unstored(world: SoakWorld) -> None:
    """Ticket 100: the only key, for the first question, came after its window; the line was asking
    the second, for which 4 is no answer."""
    keep_answers(world, 0)
    world.replace_call(FIRST, survey_keys=["4"], survey_presses=[press("4", SATISFACTION, 10.5, 12.0, SOLVED)])
    assert outcome(world).passed
    keep_answers(world, 1)  # or the second question took it (a 1 or a 2 would be its answer)
    assert outcome(world).passed


def test_a_key_within_its_questions_window_must_be_stored(world: SoakWorld) -> None:
    keep_answers(world, 0)
    world.replace_call(FIRST, survey_keys=["4"], survey_presses=[press("4", SATISFACTION, 2.0, 3.5, SOLVED)])
    assert details(outcome(world)) == ["the caller answered the survey (4), nothing is stored"]
    world.replace_call(FIRST, survey_presses=[press("4", SATISFACTION, 20.0, 21.0, SOLVED, window=None)])  # not known
    assert details(outcome(world)) == ["the caller answered the survey (4), nothing is stored"]
    world.replace_call(FIRST, survey_presses=[])  # an older journal: judged as before
    assert details(outcome(world)) == ["the caller answered the survey (4), nothing is stored"]
    # Late for the first question but in time for the second: the second's answer is owed.
    late_then_in_time = [press("5", SATISFACTION, 10.5, 12.0, SOLVED), press("4", SOLVED, 1.0, 2.0, None)]
    world.replace_call(FIRST, survey_keys=["5", "4"], survey_presses=late_then_in_time)
    assert details(outcome(world)) == ["the caller answered the survey (54), nothing is stored"]


def test_a_key_after_the_last_questions_window_is_not_stored(world: SoakWorld) -> None:
    """Once the last question has passed the line asks nothing more: a key then is no answer."""
    presses = [press("5", SATISFACTION, 1.0, 2.0, SOLVED), press("4", SOLVED, 9.8, 11.0, None)]
    world.replace_call(FIRST, survey_keys=["5", "4"], survey_presses=presses)
    assert details(outcome(world)) == [
        "2 survey answers stored, the caller pressed 2 keys, 1 of them after the line stopped asking "
        "(9.8-11.0 s after survey_solved began, after the line's 9.0 s)"
    ]
    keep_answers(world, 1)
    result = outcome(world)
    assert result.passed and any("survey key(s) pressed after" in n for n in result.notes)
    keep_answers(world, 0)  # the first key was in time: it is owed
    assert details(outcome(world)) == ["the caller answered the survey (54), nothing is stored"]


def kit_for(tmp_path: Path, carrier: FakeCarrier, windows: dict[str, float]) -> CallerKit:
    prompts = build_prompts(tmp_path / "prompts")
    voice = write_wav(tmp_path / "anna.wav", sound(ANNA))
    speech = write_wav(tmp_path / "speech.wav", sound("speech"))
    return CallerKit(
        cast(LabCarrier, carrier), "800000039", prompts, {"anna": voice}, speech, max_call_s=30.0, windows=windows
    )


async def test_the_caller_times_each_survey_key_against_the_question_it_answered(tmp_path: Path) -> None:
    async def line(call: FakeCall, caller: str | None) -> None:
        call.play("consent_notice")
        assert await call.key() == "1"
        call.play("menu_main")
        assert await call.key() == "2"
        call.play("queue_enter", ANNA)
        await asyncio.sleep(0.5)
        call.play("survey_intro")
        assert await call.key() == "4"
        call.play(SOLVED)
        assert await call.key() == "1"

    carrier = FakeCarrier(tmp_path, line)
    kit = kit_for(tmp_path, carrier, {"survey_intro": 12.5, SOLVED: 7.5})
    journey = Journey(name="operator/employers/it", goal=Goal.OPERATOR, at_s=0, caller="3471000001", consent_key="1",
                      menu_keys=["2"], topic="employers", survey_keys=["4", "1"])  # fmt: skip
    record = await asyncio.wait_for(SoakCaller(kit, journey).run(), 60)
    await carrier.close()
    assert record.survey_keys == ["4", "1"]
    intro, solved = record.survey_presses
    # The introduction's key answers the first question; past its window the line asks the second.
    assert (intro.key, intro.prompt, intro.window_s, intro.next_prompt) == ("4", "survey_intro", 12.5, SOLVED)
    assert (solved.key, solved.prompt, solved.window_s, solved.next_prompt) == ("1", SOLVED, 7.5, None)
    assert 0 <= intro.at_least_s <= intro.at_most_s and 0 <= solved.at_least_s <= solved.at_most_s


async def test_the_citizen_times_the_survey_keys_of_a_callback_leg(tmp_path: Path) -> None:
    async def line(call: FakeCall, caller: str | None) -> None:
        call.play("menu_main")
        assert await call.key() == "1"
        call.play("queue_enter", "queue_callback_offer")
        assert await call.key(8) == "2"
        call.read_back(caller or "")
        assert await call.key() == "1"
        call.play("queue_callback_booked")
        await asyncio.sleep(0.5)
        await call.hangup()
        await asyncio.sleep(0.5)
        ring = carrier.ring(caller or "")
        await asyncio.wait_for(ring.channel.answered.wait(), 10)
        await ring.heard_by_citizen("callback_citizen_notice", ANNA, SATISFACTION)  # the introduction missed
        assert await ring.key() == "5"
        await ring.heard_by_citizen(SOLVED)
        assert await ring.key() == "2"
        await ring.hangup()

    carrier = FakeCarrier(tmp_path, line)
    kit = kit_for(tmp_path, carrier, {SATISFACTION: 9.5, SOLVED: 7.5})
    journey = Journey(name="callback/citizens/it", goal=Goal.CALLBACK, at_s=0, caller="3471000003",
                      menu_keys=["1"], topic="citizens", survey_keys=["5", "2"])  # fmt: skip
    record = await asyncio.wait_for(SoakCaller(kit, journey).run(), 60)
    await carrier.close()
    (leg,) = record.callback_legs
    assert leg.survey_keys == ["5", "2"]
    assert [(p.key, p.prompt, p.window_s, p.next_prompt) for p in leg.survey_presses] == [
        ("5", SATISFACTION, 9.5, SOLVED),
        ("2", SOLVED, 7.5, None),
    ]
    assert record.survey_presses == leg.survey_presses  # the call's questionnaire, answered on the callback
