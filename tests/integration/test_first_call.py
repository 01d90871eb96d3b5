"""A real SIP call from the carrier reaches the engine, hears the welcome, leaves a closed ticket."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.audio import duration_s, voiced_seconds
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets.db import make_engine
from tests.harness.callers import citizen_to_voicemail, run_call
from tests.harness.listen import PromptEar
from tests.harness.pbx import PbxPair, running_engine

pytestmark = pytest.mark.asterisk


async def test_call_hears_welcome_and_leaves_closed_ticket(
    pbx: PbxPair, db_url: str, tmp_path: Path, prompts_cache: Path
) -> None:
    settings = pbx.settings(tmp_path, {"database": {"url": db_url}})
    async with running_engine(settings) as engine:
        _, call = await run_call(engine, pbx.carrier, "3331234567", citizen_to_voicemail)
        heard = await call.heard()

    # What the caller heard, in the recording made on the caller's side: prompts, not silence.
    assert duration_s(heard) > 5.0
    assert voiced_seconds(heard) > 4.0
    heard_prompts = await PromptEar(prompts_cache).hear(heard)
    assert heard_prompts == ["welcome", "menu_main", "queue_no_operators", "vm_greeting_busy", "vm_record_instructions"]

    db = make_engine(db_url)
    with db.connect() as conn:
        rows = conn.execute(select(Ticket)).all()
        assert len(rows) == 1
        ticket = rows[0]
        assert ticket.open is False
        assert ticket.caller_number == "3331234567"
        assert ticket.did == "800000039"
        assert ticket.answered_at is not None and ticket.ended_at is not None
        assert ticket.started_at <= ticket.answered_at < ticket.ended_at
        assert (ticket.ended_at - ticket.started_at).total_seconds() > 5.0
        assert ticket.topic == "citizens"
        # Nobody is logged in, so the queue sends the caller on to voicemail; the caller leaves at
        # the beep, and the ticket waits at the second level for a callback to the caller id.
        assert ticket.queue_result == "no_operators"
        assert ticket.outcome == "voicemail"
        assert ticket.end_reason == "voicemail:no_operators"
        assert (ticket.level, ticket.status) == (2, "new")
        assert ticket.last_state == "voicemail:voicemail_busy"
        kinds = [e.kind for e in conn.execute(select(TicketEvent).order_by(TicketEvent.id))]
        assert kinds == [
            "call_started",
            "line_status",
            "menu_choice",
            "queue_not_served",
            "voicemail_recording",
            "voicemail_left",
            "callback_number",
            "call_ended",
        ]
    db.dispose()
