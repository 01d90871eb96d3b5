"""The `survey` node: a few DTMF questions after the operator hung up.

The caller's channel is the engine's, not the operator's: when the operator hangs up only their
leg goes, so nobody but the caller can skip or end the questionnaire. Each answer is stored as
soon as it is given and the ticket's survey status follows along, so a hangup at any moment
leaves a consistent record: nothing answered is "not_answered" (never a score), some is
"partial".
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.callflows.keys import answer, settle
from ivr.callflows.model import SurveyNode, SurveyQuestion
from ivr.callflows.session import CallContext
from ivr.schema.tickets import SurveyAnswer
from ivr.tickets import events
from ivr.tickets.status import SurveyStatus

COMPLETED, PARTIAL, NOT_ANSWERED = SurveyStatus.COMPLETED, SurveyStatus.PARTIAL, SurveyStatus.NOT_ANSWERED


async def survey_step(ctx: CallContext, node: SurveyNode) -> str | None:
    operator_id = ctx.facts.operator_id
    if node.only_after_operator and operator_id is None:
        return node.next
    await ctx.store.update(ctx.ticket_id, survey_status=NOT_ANSWERED)
    await ctx.event(events.survey_offered([q.id for q in node.questions]))
    ctx.channel.clear_digits()  # keys pressed while talking to the operator are not answers
    if node.intro_prompt:
        await ctx.say(node.intro_prompt, interruptible=True)
    answered = 0
    for question in node.questions:
        value = await _ask(ctx, node, question)
        if value is None:
            await ctx.event(events.survey_skipped(question.id))
            continue
        await ctx.store.execute(
            "survey.answer",
            ticket_id=ctx.ticket_id,
            operator_id=operator_id,
            question=question.id,
            answer=value,
            at=ctx.clock.now(),
        )
        answered += 1
        status = COMPLETED if answered == len(node.questions) else PARTIAL
        await ctx.store.update(ctx.ticket_id, survey_status=status)
        await ctx.event(events.survey_answer(question.id, value))
    if node.thanks_prompt:
        await ctx.say(node.thanks_prompt)
    return node.next


async def _ask(ctx: CallContext, node: SurveyNode, question: SurveyQuestion) -> int | None:
    """One key among the question's; a wrong key is re-prompted, silence skips the question."""
    for attempt in range(1, node.attempts + 1):
        key = await answer(
            ctx.channel, partial(ctx.say, question.prompt, interruptible=True), node.timeout_s, ctx.clock.monotonic
        )
        if key is None:
            return None
        if key and key in question.keys:
            return int(key)
        await ctx.event(events.survey_invalid(question.id, key, attempt))
        if attempt < node.attempts and node.invalid_prompt:
            await ctx.say(node.invalid_prompt)
        await settle(ctx.channel)  # the re-prompt is answered by a new key, not by the rest of a burst
    return None


def add_answer(
    session: Session, *, ticket_id: int, operator_id: int | None, question: str, answer: int, at: datetime
) -> None:
    """One answer per question and ticket: written again (an earlier run's outbox replayed after
    another engine asked the same question) the first answer stands."""
    asked = select(SurveyAnswer.id).where(SurveyAnswer.ticket_id == ticket_id, SurveyAnswer.question == question)
    if session.scalar(asked) is not None:
        return
    session.add(SurveyAnswer(ticket_id=ticket_id, operator_id=operator_id, question=question, answer=answer, at=at))
