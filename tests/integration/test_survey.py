"""The post-call questionnaire with real calls: the operator (a home phone reached through the
carrier) hangs up first, the caller stays on and answers with real RFC 4733 keys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.lab.carrier import LabCall
from ivr.schema.tickets import SurveyAnswer
from ivr.tickets.store import TicketView
from tests.harness.callers import Script, Watcher, after, hang_up_during
from tests.harness.listen import PromptEar
from tests.harness.pbx import PbxPair
from tests.harness.queueline import QueueLine, home_operators, queue_line
from tests.harness.voices import Voices

pytestmark = pytest.mark.asterisk

SURVEY_FLOW = """
name: queue-survey
start: queue
nodes:
  queue: {type: queue, fallback: voicemail, next: survey}
  survey:
    type: survey
    timeout_s: 4
    questions:
      - {id: satisfaction, prompt: survey_satisfaction, keys: "12345"}
      - {id: solved, prompt: survey_solved, keys: "12"}
  voicemail: {type: voicemail, reason: busy}
"""
OPERATORS = {"lia": "3470000011", "max": "3470000012", "noa": "3470000013", "oto": "3470000014"}


async def answers(line: QueueLine, ticket_id: int) -> dict[str, tuple[int, int | None]]:
    """question -> (answer, operator id) as stored."""

    def read(session: Session) -> dict[str, tuple[int, int | None]]:
        rows = session.scalars(select(SurveyAnswer).where(SurveyAnswer.ticket_id == ticket_id)).all()
        return {r.question: (r.answer, r.operator_id) for r in rows}

    return await line.engine.store.run_read(read)


def scores(stored: dict[str, tuple[int, int | None]]) -> dict[str, int]:
    return {question: answer for question, (answer, _) in stored.items()}


async def hang_up_in_conversation(call: LabCall, w: Watcher) -> None:
    await w.until_event("operator_answered", timeout=60)
    await asyncio.sleep(0.5)
    await call.hangup()


async def test_survey_after_the_operator_hangs_up(
    pbx: PbxPair, tmp_path: Path, voices: Voices, prompts_cache: Path
) -> None:
    scenarios: dict[str, Script] = {
        "answers": after(("survey_satisfaction", "4"), ("survey_solved", "1")),
        "bad-key": after(("survey_satisfaction", "9"), ("survey_satisfaction", "5"), ("survey_solved", "2")),
        "hangup-mid-survey": after(("survey_satisfaction", "3"), then=hang_up_during("survey_solved", 1.0)),
        "hangup-at-intro": hang_up_during("survey_intro", 1.0),
    }
    async with queue_line(pbx, tmp_path, voices, flow=SURVEY_FLOW) as line, home_operators(line, pbx, OPERATORS):
        results: list[tuple[TicketView, LabCall]] = await asyncio.gather(*(line.call(s) for s in scenarios.values()))
        by_name = dict(zip(scenarios, results, strict=True))
        caller_left, _ = await line.call(hang_up_in_conversation)
        ear = PromptEar(prompts_cache)

        for name, (ticket, _) in by_name.items():
            # The operator hung up first and the caller went on alone: the operator's leg ended
            # the conversation, not the call.
            ended = next(e for e in ticket.events if e.kind == "operator_call_ended")
            assert ended.detail is not None and ended.detail["ended_by"] == "operator", name
            assert ticket.queue_result == "answered" and ticket.handle_s is not None, name
            assert ticket.wait_s is not None and ticket.wait_s >= 0, name
            assert not ticket.open and ticket.ended_at is not None, name

        done, call = by_name["answers"]
        assert done.survey_status == "completed"
        stored = await answers(line, done.id)
        assert scores(stored) == {"satisfaction": 4, "solved": 1}
        assert {operator for _, operator in stored.values()} == {done.operator_id}
        assert done.outcome == "completed" and done.last_state == "survey:survey"
        heard = await ear.hear(await call.heard())
        assert heard[-4:] == ["survey_intro", "survey_satisfaction", "survey_solved", "survey_thanks"], heard

        bad, call = by_name["bad-key"]
        assert bad.survey_status == "completed"
        assert scores(await answers(line, bad.id)) == {"satisfaction": 5, "solved": 2}
        invalid = [e.detail for e in bad.events if e.kind == "survey_invalid"]
        assert invalid == [{"question": "satisfaction", "entered": "9", "attempt": 1}]
        heard = await ear.hear(await call.heard())
        assert "survey_invalid" in heard and heard.count("survey_satisfaction") == 2, heard

        partial, _ = by_name["hangup-mid-survey"]
        assert partial.survey_status == "partial"
        assert scores(await answers(line, partial.id)) == {"satisfaction": 3}
        assert (partial.outcome, partial.end_reason) == ("caller_hangup", "caller_hangup_in_survey")
        assert partial.events[-1].kind == "call_ended"

        silent, _ = by_name["hangup-at-intro"]
        assert silent.survey_status == "not_answered"  # counted as not answered, never as a score
        assert await answers(line, silent.id) == {}
        assert silent.end_reason == "caller_hangup_in_survey"

        # A caller who leaves during the conversation was never offered the survey.
        assert caller_left.survey_status is None and await answers(line, caller_left.id) == {}
        assert not any(e.kind == "survey_offered" for e in caller_left.events)
