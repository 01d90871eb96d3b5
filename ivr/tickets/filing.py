"""Filing the operator's outcome: one path for every surface (the desk, the JSON API, and
`ivr ticket outcome` through it), with the same rules and the same record.

Before, the desk required the citizen's name and a contact for the second level and wrote an audit
entry, while the API escalated without either: the second level then had nobody to answer. Every
surface now goes through `OutcomeFiling.file`: an escalation needs its contact (the rule of
`ivr.tickets.escalation.contact`), the store writes the outcome and its event through the event
builder, and the audit log names who filed it and from where, in the outcome's own transaction
(`ivr.tickets.audit.Audited`: an engine killed between two writes left an outcome unaudited).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ivr.tickets.audit import Actor, Audited
from ivr.tickets.escalation import Contact, ContactError
from ivr.tickets.reasons import CallReasons
from ivr.tickets.store import TicketView


class OutcomeStore(Protocol):
    async def file_outcome(
        self,
        ticket_id: int,
        outcome: str,
        *,
        note: str | None,
        operator_id: int | None,
        at: datetime,
        contact: Contact | None = None,
        audited: Audited | None = None,
        reason: str | None = None,
    ) -> TicketView: ...

    async def get(self, ticket_id: int) -> TicketView | None: ...

    async def set_reason(self, ticket_id: int, reason: str, *, operator_id: int | None, at: datetime) -> None: ...


NO_CONTACT = (
    "Per il secondo livello servono nome e cognome del cittadino e un recapito "
    "(e-mail, o il numero confermato): senza, nessuno potrà rispondergli."
)


class OutcomeFiling:
    def __init__(self, store: OutcomeStore, reasons: CallReasons) -> None:
        self.store = store
        self.reasons = reasons

    async def file(
        self,
        ticket_id: int,
        outcome: str,
        *,
        note: str | None,
        operator_id: int | None,
        at: datetime,
        contact: Contact | None,
        by: Actor,
        reason: str | None = None,
    ) -> TicketView:
        """Raises OutcomeError (the outcome, the ticket), ContactError (the contact) or
        ReasonError (the reason for the call: unknown, or required and never chosen)."""
        if outcome == "escalated" and contact is None:
            raise ContactError(NO_CONTACT)
        ticket = await self.store.get(ticket_id)
        chosen = self.reasons.for_filing(ticket.call_reason if ticket is not None else None, reason)
        audited = Audited(by, "ticket_outcome", {"outcome": outcome})
        return await self.store.file_outcome(
            ticket_id, outcome, note=note, operator_id=operator_id, at=at, contact=contact, audited=audited,
            reason=chosen,
        )  # fmt: skip

    async def choose_reason(self, ticket_id: int, reason: str, *, operator_id: int | None, at: datetime) -> str:
        """The reason chosen on the call card, before the call is filed; its key, checked."""
        key = self.reasons.valid(reason)
        await self.store.set_reason(ticket_id, key, operator_id=operator_id, at=at)
        return key
