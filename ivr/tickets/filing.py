"""Filing the operator's outcome: one path for every surface (the desk, the JSON API, and
`ivr ticket outcome` through it), with the same rules and the same record.

Before, the desk required the citizen's name and a contact for the second level and wrote an audit
entry, while the API escalated without either: the second level then had nobody to answer. Every
surface now goes through `OutcomeFiling.file`: an escalation needs its contact (the rule of
`ivr.tickets.escalation.contact`), the store writes the outcome and its event through the event
builder, and the audit log names who filed it and from where.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

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
    ) -> TicketView: ...


class AuditSink(Protocol):
    """The audit log's writer (`ivr.console.accounts.Accounts.audit`)."""

    async def __call__(
        self,
        user: Any,
        action: str,
        now: datetime,
        *,
        kind: str | None = None,
        object_id: object = None,
        address: str | None = None,
        detail: dict[str, Any] | None = None,
        login: str | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class FiledBy:
    """Who files: a console user (`user`), or a caller of the API named by `login`; from where."""

    user: Any = None
    login: str | None = None
    address: str | None = None


NO_CONTACT = (
    "Per il secondo livello servono nome e cognome del cittadino e un recapito "
    "(e-mail, o il numero confermato): senza, nessuno potrà rispondergli."
)


class OutcomeFiling:
    def __init__(self, store: OutcomeStore, audit: AuditSink) -> None:
        self.store = store
        self.audit = audit

    async def file(
        self,
        ticket_id: int,
        outcome: str,
        *,
        note: str | None,
        operator_id: int | None,
        at: datetime,
        contact: Contact | None,
        by: FiledBy,
    ) -> TicketView:
        """Raises OutcomeError (the outcome, the ticket) or ContactError (the contact)."""
        if outcome == "escalated" and contact is None:
            raise ContactError(NO_CONTACT)
        filed = await self.store.file_outcome(
            ticket_id, outcome, note=note, operator_id=operator_id, at=at, contact=contact
        )
        await self.audit(
            by.user,
            "ticket_outcome",
            at,
            kind="ticket",
            object_id=ticket_id,
            address=by.address,
            detail={"outcome": outcome},
            login=by.login,
        )
        return filed
