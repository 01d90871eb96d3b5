"""The survey's questions: one key each; a wrong key re-prompted, silence skips the question, and a
silence the engine may not have heard (its event link was down) is asked again."""

from __future__ import annotations

from datetime import UTC, datetime

from ivr.callflows.model import SurveyNode
from ivr.callflows.session import CallContext
from ivr.clock import SystemClock
from ivr.survey.step import survey_step
from ivr.tickets.store import NewCall, SqlTicketStore
from tests.fakes import FakeChannel, Script, named_prompts

PROMPTS = named_prompts("survey_q1", "survey_q2", "survey_invalid")

NODE = SurveyNode.model_validate(
    {
        "type": "survey",
        "only_after_operator": False,
        "intro_prompt": None,
        "thanks_prompt": None,
        "timeout_s": 0.05,
        "questions": [
            {"id": "satisfaction", "prompt": "survey_q1", "keys": "12345"},
            {"id": "solved", "prompt": "survey_q2", "keys": "12"},
        ],
    }
)


async def _answers(store: SqlTicketStore, script: Script) -> tuple[list[tuple[str, object]], FakeChannel]:
    channel = FakeChannel(script=script)
    ctx = CallContext(channel=channel, store=store, clock=SystemClock(), prompts=PROMPTS)
    ctx.ticket_id = await store.open_call(NewCall("s", datetime.now(UTC), "3331234567", None, "800000039"))
    await survey_step(ctx, NODE)
    ticket = await store.get(ctx.ticket_id)
    assert ticket is not None
    wanted = ("survey_answer", "survey_skipped")
    return [(e.kind, (e.detail or {}).get("answer")) for e in ticket.events if e.kind in wanted], channel


async def test_an_answer_lost_with_the_event_link_is_asked_for_again(sqlite_store: SqlTicketStore) -> None:
    answers, channel = await _answers(
        sqlite_store, Script(keys_lost_on_play={0: "4"}, keys_after_play={1: "4", 2: "1"})
    )
    assert [m[0].rsplit("/", 1)[-1] for m in channel.played] == ["survey_q1", "survey_q1", "survey_q2"]
    assert answers == [("survey_answer", 4), ("survey_answer", 1)]


async def test_a_silence_skips_the_question(sqlite_store: SqlTicketStore) -> None:
    answers, channel = await _answers(sqlite_store, Script(keys_after_play={1: "2"}))
    assert [m[0].rsplit("/", 1)[-1] for m in channel.played] == ["survey_q1", "survey_q2"]
    assert answers == [("survey_skipped", None), ("survey_answer", 2)]


async def test_a_callback_reaches_the_flows_questionnaire_through_the_wiring(sqlite_store: SqlTicketStore) -> None:
    """The queued callback's conversation does not come through the flow: the wiring hands the
    callback queue the flow's questionnaire node, run by its handler (the queue imports no survey)."""
    from ivr.callflows.model import Flow
    from ivr.factories import after_call

    bare = Flow.model_validate({"name": "t", "start": "bye", "nodes": {"bye": {"type": "hangup"}}})
    assert after_call(bare) is None
    flow = Flow.model_validate(
        {"name": "t", "start": "survey", "nodes": {"survey": NODE.model_dump() | {"next": None}}}
    )
    questionnaire = after_call(flow)
    assert questionnaire is not None
    channel = FakeChannel(script=Script(keys_after_play={0: "5", 1: "2"}))
    ctx = CallContext(channel=channel, store=sqlite_store, clock=SystemClock(), prompts=PROMPTS)
    ctx.ticket_id = await sqlite_store.open_call(NewCall("cb", datetime.now(UTC), "3331234567", None, "800000039"))
    await questionnaire(ctx)
    ticket = await sqlite_store.get(ctx.ticket_id)
    assert ticket is not None
    assert [(e.detail or {}).get("answer") for e in ticket.events if e.kind == "survey_answer"] == [5, 2]
