"""One path for filing an outcome: the desk's rules (an escalation needs whom to answer) and its
audit entry hold for the API too (it escalated without a contact and left no audit entry)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ivr.schema.console import AuditEntry
from ivr.tickets.audit import Actor
from ivr.tickets.config import ReasonSettings
from ivr.tickets.escalation import ContactError, contact
from ivr.tickets.filing import OutcomeFiling
from ivr.tickets.reasons import CallReasons
from ivr.tickets.store import CallClosing, NewCall, SqlTicketStore

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


async def _ended_call(store: SqlTicketStore) -> int:
    ticket = await store.open_call(NewCall("f1", NOW, "3331234567", None, "800000039"))
    await store.close_call(ticket, CallClosing(NOW, "completed", "flow_end", "hangup:bye"))
    return ticket


async def test_an_escalation_needs_its_contact_and_every_filing_is_audited(sqlite_store: SqlTicketStore) -> None:
    ticket = await _ended_call(sqlite_store)
    filing = OutcomeFiling(sqlite_store, CallReasons(ReasonSettings()))
    by = Actor(login="api:nora", address="192.0.2.7")
    with pytest.raises(ContactError, match="nome e cognome"):
        await filing.file(ticket, "escalated", note=None, operator_id=None, at=NOW, contact=None, by=by)
    given = contact(
        name="Nora Bassi",
        answer_by="phone",
        email=None,
        caller_id="3331234567",
        caller_id_confirmed=True,
        typed_phone=None,
    )
    filed = await filing.file(ticket, "escalated", note="requisiti", operator_id=None, at=NOW, contact=given, by=by)
    assert (filed.level, filed.status) == (2, "new")
    event = next(e for e in filed.events if e.kind == "outcome_filed")
    assert event.detail == {
        "outcome": "escalated",
        "operator_id": None,
        "contact": {"answer_by": "phone", "email": False, "phone": True},
    }
    audited = await sqlite_store.run_read(
        lambda s: [(e.action, e.login, e.address, e.detail) for e in s.scalars(select(AuditEntry))]
    )
    assert audited == [("ticket_outcome", "api:nora", "192.0.2.7", {"outcome": "escalated"})]
