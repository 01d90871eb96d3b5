"""The second level's callbacks worked by people go through one desk for the console and
`ivr voicemail ...`: the repository's rules and one audit entry per action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ivr.console.accounts import Accounts
from ivr.schema.console import AuditEntry
from ivr.tickets.audit import Actor
from ivr.tickets.store import CallClosing, NewCall, SqlTicketStore
from ivr.voicemail.callback_desk import CallbackDesk
from ivr.voicemail.messages import VoicemailMessages

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


async def test_assign_attempt_and_close_are_each_audited(sqlite_store: SqlTicketStore) -> None:
    ticket = await sqlite_store.open_call(NewCall("m1", NOW, "3331234567", None, "800000039"))
    await sqlite_store.execute(
        "voicemail.new_message",
        ticket_id=ticket,
        box="citizens",
        reason="busy",
        asterisk_name="vm-m1",
        recording_id=None,
        duration_s=9.0,
        speech_s=8.0,
        empty=False,
        ended_by="hangup",
        at=NOW,
    )
    await sqlite_store.close_call(ticket, CallClosing(NOW, "voicemail", "voicemail:busy", "voicemail:vm"))
    desk = CallbackDesk(VoicemailMessages(sqlite_store), Accounts(sqlite_store).audit)
    by = Actor(login="cli:capo")
    await desk.assign(ticket, "anna", at=NOW, by=by)
    assert await desk.result(ticket, "no_answer", at=NOW + timedelta(hours=1), operator="anna", note=None, by=by) == 1
    await desk.close(ticket, at=NOW + timedelta(days=1), note="non raggiungibile", by=by)
    view = await sqlite_store.get(ticket)
    assert view is not None and (view.status, view.assigned_to) == ("closed", "anna")
    audited = await sqlite_store.run_read(
        lambda s: [(e.action, e.login) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    )
    assert audited == [("callback_assign", "cli:capo"), ("callback_result", "cli:capo"), ("ticket_close", "cli:capo")]
