"""The second level's list of open callbacks holds only calls that have ended: until then the
message and the number to call back are not settled (full run 3: a supervisor assigned three calls
still in the number dialogue; they closed as empty messages a moment later and the assignment was
refused)."""

from __future__ import annotations

from datetime import UTC, datetime

from ivr.console.queries import TicketFilter, TicketQueries
from ivr.tickets.store import CallClosing, NewCall, SqlTicketStore

OPEN_CALLBACKS = TicketFilter(sla="open", kind="phone_callback", channel="phone", level=2)


async def test_a_callback_is_listed_once_its_call_has_ended(sqlite_store: SqlTicketStore) -> None:
    now = datetime(2027, 3, 4, 8, 16, tzinfo=UTC)
    ticket = await sqlite_store.open_call(NewCall("c", now, "3331234567", None, "800000039"))
    await sqlite_store.execute(  # a message left: the ticket goes to the second level at once
        "voicemail.new_message",
        ticket_id=ticket,
        box="citizens",
        reason="cap",
        asterisk_name="vm-1",
        recording_id=None,
        duration_s=9.0,
        speech_s=8.0,
        empty=False,
        ended_by="hangup",
        at=now,
    )
    queries = TicketQueries(sqlite_store)
    listed, total = await queries.tickets(OPEN_CALLBACKS)
    assert (listed, total) == ([], 0)  # the caller is still giving the number
    await sqlite_store.close_call(ticket, CallClosing(now, "voicemail", "voicemail:cap", "voicemail:voicemail_busy"))
    listed, total = await queries.tickets(OPEN_CALLBACKS)
    assert [t.id for t in listed] == [ticket] and total == 1
