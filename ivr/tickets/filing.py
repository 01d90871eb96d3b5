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
    ) -> TicketView: ...


NO_CONTACT = (
    "Per il secondo livello servono nome e cognome del cittadino e un recapito "
    "(e-mail, o il numero confermato): senza, nessuno potrà rispondergli."
)


class OutcomeFiling:
    def __init__(self, store: OutcomeStore) -> None:
        self.store = store

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
    ) -> TicketView:
        """Raises OutcomeError (the outcome, the ticket) or ContactError (the contact)."""
        if outcome == "escalated" and contact is None:
            raise ContactError(NO_CONTACT)
        audited = Audited(by, "ticket_outcome", {"outcome": outcome})
        return await self.store.file_outcome(
            ticket_id, outcome, note=note, operator_id=operator_id, at=at, contact=contact, audited=audited
        )
